"""Helpers for the service tests: real HTTP clients of the service.

``make_service(**config)`` starts a :class:`~ibstream.service.Service` against the ``sim``
fixture with fast client timings; ``PlainWS`` reads the ``/stream`` protocol (several events
per message, one per line); ``GraphQLWS`` speaks graphql-transport-ws by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from ibstream.service import Service
from ibstream.sim.testing import wait_for
from toolkit import AAPL, ACCOUNT, MSFT, fast_client_config

__all__ = [
    "AAPL",
    "ACCOUNT",
    "MSFT",
    "TOKEN",
    "GraphQLWS",
    "PlainWS",
    "fast_client_config",
    "plain_ws",
    "sse_events",
    "wait_for",
]

TOKEN = "test-token-0123456789"


class StreamClosed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class PlainWS:
    """A ``/stream`` consumer: ``send(op)``, ``next()``, ``until(predicate)``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pending: deque[dict[str, Any]] = deque()
        self.received = 0
        self.messages = 0
        self._ids = itertools.count(1)

    async def send(self, op: str, **fields: Any) -> int:
        rid = next(self._ids)
        await self.ws.send_str(orjson.dumps({"op": op, "id": rid, **fields}).decode())
        return rid

    async def subscribe(self, *specs: dict[str, Any]) -> list[dict[str, Any]]:
        rid = await self.send("subscribe", specs=list(specs))
        return [await self.until(lambda m: m.get("id") == rid) for _ in specs]

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        while not self.pending:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.messages += 1
                for line in msg.data.split("\n"):
                    if line:
                        self.pending.append(orjson.loads(line))
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                raise StreamClosed(self.ws.close_code, str(msg.extra or ""))
            elif msg.type is aiohttp.WSMsgType.ERROR:
                raise StreamClosed(None, f"error {msg.data}")
        self.received += 1
        return self.pending.popleft()

    async def until(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching message in time")
            m = await self.next(timeout=left)
            if pred(m):
                return m

    async def close(self) -> None:
        await self.ws.close()


async def plain_ws(
    http: aiohttp.ClientSession, service: Service, query: str = "", **kwargs: Any
) -> PlainWS:
    ws = await http.ws_connect(f"{service.url}/stream{query}", **kwargs)
    client = PlainWS(ws)
    status = await client.next()
    assert status["type"] == "Status"
    return client


class GraphQLWS:
    """graphql-transport-ws by hand: connection_init/ack, subscribe/next/error/complete."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.pending: dict[str, deque[dict[str, Any]]] = {}

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, **kwargs: Any) -> GraphQLWS:
        ws = await http.ws_connect(url, protocols=("graphql-transport-ws",), **kwargs)
        assert ws.protocol == "graphql-transport-ws"
        await ws.send_json({"type": "connection_init", "payload": {}})
        ack = await ws.receive_json(timeout=5)
        assert ack["type"] == "connection_ack", ack
        return cls(ws)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        sid = str(next(self._ids))
        self.pending[sid] = deque()
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        await self.ws.send_json({"id": sid, "type": "subscribe", "payload": payload})
        return sid

    async def next(self, sid: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next ``next``/``error``/``complete`` message of subscription ``sid``."""
        deadline = time.monotonic() + timeout
        while not self.pending[sid]:
            msg = await self.ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
            if msg["type"] == "ping":
                await self.ws.send_json({"type": "pong"})
                continue
            if msg["type"] == "pong":
                continue
            self.pending.setdefault(msg["id"], deque()).append(msg)
        return self.pending[sid].popleft()

    async def data_until(
        self, sid: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.next(sid, timeout=max(0.01, deadline - time.monotonic()))
            assert msg["type"] == "next", msg
            data = msg["payload"]["data"]
            if pred(data):
                return dict(data)

    async def complete(self, sid: str) -> None:
        await self.ws.send_json({"id": sid, "type": "complete"})

    async def close(self) -> None:
        await self.ws.close()


async def sse_events(
    resp: aiohttp.ClientResponse, count: int, timeout: float = 5.0, exact: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    """Read ``count`` SSE events as ``(event name, data)`` (fewer on timeout if not exact)."""
    out: list[tuple[str, dict[str, Any]]] = []
    try:
        async with asyncio.timeout(timeout):
            await _read_sse(resp, count, out)
    except TimeoutError:
        if exact:
            raise
    return out


async def _read_sse(
    resp: aiohttp.ClientResponse, count: int, out: list[tuple[str, dict[str, Any]]]
) -> None:
    name = "message"
    while len(out) < count:
        raw = await resp.content.readline()
        if not raw:
            break
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, orjson.loads(line[6:])))
            name = "message"
