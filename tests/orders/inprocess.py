"""An in-process transport to the simulator's order entry model (no sockets, same model).

``InProcessRest`` implements the client's REST entry point (it is a ``GatewayRest``) by calling
:meth:`ibstream.sim.entry.OrderEntry.handle` directly, translating a dropped connection into
``GatewayUnreachable`` and a delayed answer into ``StreamTimeout`` - what ``GatewayRest`` raises
for the same failures over real sockets. Used to run thousands of faulty placements quickly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from ibstream.aio.rest import GatewayRest
from ibstream.exceptions import GatewayUnreachable, HTTPStatusError, NotAuthenticated, StreamTimeout
from ibstream.sim.entry import OrderEntry


class InProcessRest(GatewayRest):
    def __init__(self, entry: OrderEntry) -> None:
        super().__init__("http://in-process.invalid/v1/api")
        self.entry = entry
        self.calls: list[tuple[str, str]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        await asyncio.sleep(0)
        self.calls.append((method, path))
        # round-trip through JSON like the wire does
        body = orjson.loads(orjson.dumps(json)) if json is not None else None
        if path == "/iserver/accounts":  # the pre-flight; the order entry model has no accounts
            accounts = list(self.entry.gw.cfg.accounts)
            return 200, {"accounts": accounts, "selectedAccount": accounts[0]}
        reply = self.entry.handle(method, path, dict(params or {}), body)
        if reply.drop:
            raise GatewayUnreachable(f"{method} {path}: server disconnected")
        if reply.delay:
            raise StreamTimeout(f"{method} {path} timed out")
        if reply.status == 401 and 401 not in allow:
            raise NotAuthenticated(f"{method} {path}: not authenticated")
        if reply.status not in allow:
            raise HTTPStatusError(method, path, reply.status, orjson.dumps(reply.body).decode())
        return reply.status, orjson.loads(orjson.dumps(reply.body))

    async def close(self) -> None:
        return None
