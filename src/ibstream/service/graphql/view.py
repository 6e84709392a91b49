"""The ``/graphql`` aiohttp view: the hub in the context, WebSockets tracked for shutdown."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView

from ibstream.service.config import ServiceConfig
from ibstream.service.graphql.schema import build_schema
from ibstream.service.hub import Hub

__all__ = ["ServiceGraphQLView", "build_view"]


class ServiceGraphQLView(GraphQLView[dict[str, Any], None]):
    """strawberry's aiohttp view with the hub in the context; tracks its WebSockets so that a
    shutdown can close them with a reason."""

    def __init__(self, hub: Hub, schema: strawberry.Schema, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.hub = hub
        self.sockets: set[web.WebSocketResponse] = set()

    def decode_json(self, data: str | bytes) -> object:
        """JSON nested beyond Python's recursion limit is JSON that cannot be parsed (400, close
        4400), not an internal error."""
        try:
            return json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", "", 0) from None

    async def get_context(
        self, request: web.Request, response: web.Response | web.WebSocketResponse
    ) -> dict[str, Any]:
        return {"hub": self.hub, "request": request, "response": response, "t0": time.time()}

    async def create_websocket_response(
        self, request: web.Request, subprotocol: str | None
    ) -> web.WebSocketResponse:
        ws = await super().create_websocket_response(request, subprotocol)
        self.sockets.add(ws)
        ws_ref = ws

        def forget(_: Any = None) -> None:
            self.sockets.discard(ws_ref)

        request.task.add_done_callback(forget)
        return ws

    async def close_all(self, reason: str) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=reason.encode()[:120])
        self.sockets.clear()


def build_view(hub: Hub, config: ServiceConfig) -> ServiceGraphQLView:
    """The ``/graphql`` handler (GraphiQL on GET from a browser)."""
    return ServiceGraphQLView(
        hub,
        build_schema(config),
        keep_alive=True,
        keep_alive_interval=15,
        max_subscriptions_per_connection=100,
    )
