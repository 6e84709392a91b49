"""Helpers for the simulator's end-to-end tests (real sockets, raw JSON); the ``simulator`` and
``http`` fixtures are in tests/conftest.py."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from ibstream.sim import Simulator


def cookie(session: str, spaces: bool = False) -> dict[str, str]:
    sep = '{"session": "%s"}' if spaces else '{"session":"%s"}'
    return {"Cookie": "api=" + sep % session}


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> Any:
    msg = await ws.receive(timeout=timeout)
    assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
    return orjson.loads(msg.data)


async def recv_until(
    ws: aiohttp.ClientWebSocketResponse,
    pred: Callable[[Any], bool],
    timeout: float = 3.0,
) -> tuple[Any, list[Any]]:
    """Read frames until ``pred(frame)``; returns (that frame, all frames seen before it)."""
    seen: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"no matching frame; saw {seen[-10:]}")
        frame = await recv_json(ws, left)
        if pred(frame):
            return frame, seen
        seen.append(frame)


async def collect(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[Any]:
    """Every JSON frame received within ``seconds``."""
    out: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            break
        out.append(orjson.loads(msg.data))
    return out


async def open_ws(
    http: aiohttp.ClientSession, sim: Simulator, **kw: Any
) -> aiohttp.ClientWebSocketResponse:
    """Connect with the session cookie and consume the system/act/sts burst."""
    ws = await http.ws_connect(sim.ws_url, headers=cookie(sim.session_id), **kw)
    topics = [(await recv_json(ws))["topic"] for _ in range(3)]
    assert topics == ["system", "act", "sts"]
    return ws


async def sync(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """Send ``tic`` as a marker and read up to its first reply: every frame the gateway sent
    before it handled the marker (returned) has arrived, so "nothing was sent" checks can fail."""
    await ws.send_str("tic")
    _, before = await recv_until(ws, topic_is("tic"))
    return before


def topic_is(t: str) -> Callable[[Any], bool]:
    return lambda f: isinstance(f, dict) and f.get("topic") == t


async def raw_ws(port: int, session: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A minimal hand-written WebSocket client that exposes raw frames (opcode + bytes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/api/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f'Cookie: api={{"session":"{session}"}}\r\n\r\n'
        ).encode()
    )
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def raw_frame(reader: asyncio.StreamReader, timeout: float = 3.0) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readexactly(2), timeout)
    opcode, n = head[0] & 0x0F, head[1] & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return opcode, await reader.readexactly(n)


def raw_send(writer: asyncio.StreamWriter, text: str) -> None:
    """Send one masked client text frame (payload < 126 bytes)."""
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(bytes((0x81, 0x80 | len(payload))) + mask + masked)
