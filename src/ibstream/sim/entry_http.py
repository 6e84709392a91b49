"""aiohttp routes serving :class:`~ibstream.sim.entry.OrderEntry` under ``/v1/api``."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from ibstream.sim.entry import OrderEntry

__all__ = ["add_entry_routes"]

_PATHS = (
    ("POST", "/iserver/account/{acct}/orders"),
    ("POST", "/iserver/account/{acct}/orders/whatif"),
    ("POST", "/iserver/account/{acct}/order/{order_id}"),
    ("DELETE", "/iserver/account/{acct}/order/{order_id}"),
    ("POST", "/iserver/reply/{reply_id}"),
    ("POST", "/iserver/questions/suppress"),
    ("POST", "/iserver/questions/suppress/reset"),
    ("GET", "/iserver/account/orders"),
    ("GET", "/iserver/account/order/status/{order_id}"),
    ("GET", "/iserver/account/trades"),
)


def add_entry_routes(app: web.Application, entry: OrderEntry, prefix: str = "/v1/api") -> None:
    """Register the order-entry endpoints."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = None
        if request.can_read_body:
            try:
                body = await request.json(loads=orjson.loads)
            except ValueError:
                return web.json_response({"error": "Bad Request: invalid JSON"}, status=400)
        reply = entry.handle(request.method, request.path[len(prefix) :], dict(request.query), body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            # A lost response: the request may have been carried out, the client never hears.
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError
        return web.Response(
            body=orjson.dumps(reply.body),
            status=reply.status,
            content_type="application/json",
            charset="utf-8",
        )

    for method, path in _PATHS:
        app.router.add_route(method, prefix + path, handler)
