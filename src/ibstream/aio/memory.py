"""An in-memory gateway for testing code that uses the asyncio client, with no sockets.

``MemoryGateway`` stands in for :class:`~ibstream.aio.rest.GatewayRest` (pass it as
``StreamClient(rest=...)``); each ``ws_connect`` gives a :class:`MemoryWebSocket` whose far end
the test drives: push frames with ``feed``, read what the client sent from ``sent``, cut the
link with ``drop`` (abrupt) or ``close_from_server`` (clean). It is a scriptable fake, not a model
of IBKR: the simulator (``ibstream.sim``) is the faithful gateway, over real sockets.

Shipped in the package (like httpcore's mock backend) so users can test their own code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson

from ibstream.aio.pacing import RateLimiter
from ibstream.aio.rest import AuthInfo, TickleInfo
from ibstream.exceptions import GatewayUnreachable, HTTPStatusError, NotAuthenticated, NotFound

__all__ = ["MemoryGateway", "MemoryWebSocket", "opening_burst"]

_TEXT = aiohttp.WSMsgType.TEXT
_CLOSE = aiohttp.WSMsgType.CLOSE
_CLOSED = aiohttp.WSMsgType.CLOSED
_ERROR = aiohttp.WSMsgType.ERROR


def opening_burst(username: str = "memuser", account: str = "DU0000001") -> list[bytes]:
    """The ``system``/``act``/``sts`` frames a gateway sends when a socket authenticates."""
    return [
        orjson.dumps({"topic": "system", "success": username, "isFT": False, "isPaper": True}),
        orjson.dumps({"topic": "act", "args": {"accounts": [account], "selectedAccount": account}}),
        orjson.dumps(
            {
                "topic": "sts",
                "args": {"connected": True, "authenticated": True, "competing": False},
            }
        ),
    ]


class MemoryWebSocket:
    """The client's end of an in-memory WebSocket (the subset of aiohttp's API it uses)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.sent: list[str] = []
        self._incoming: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self._closed = False
        self._close_code: int | None = None
        self._exception: BaseException | None = None
        self._sent_event = asyncio.Event()

    def __repr__(self) -> str:
        return f"<MemoryWebSocket closed={self._closed} sent={len(self.sent)}>"

    # -- the client's side (aiohttp ClientWebSocketResponse subset) --------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def close_code(self) -> int | None:
        return self._close_code

    def exception(self) -> BaseException | None:
        return self._exception

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:
        if self._closed and self._incoming.empty():
            return aiohttp.WSMessage(_CLOSED, None, None)
        return await self._incoming.get()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self._closed:
            raise ConnectionResetError("memory socket closed")
        self.sent.append(data)
        self._sent_event.set()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self._closed:
            return False
        self._closed = True
        self._close_code = code
        self._incoming.put_nowait(aiohttp.WSMessage(_CLOSED, None, None))
        return True

    # -- the far end (the test) ------------------------------------------------------------

    def feed(self, *frames: bytes | str | dict[str, Any]) -> None:
        """Deliver frames to the client (dicts are JSON-encoded)."""
        for frame in frames:
            if isinstance(frame, dict):
                data: bytes | str = orjson.dumps(frame)
            else:
                data = frame
            self._incoming.put_nowait(aiohttp.WSMessage(_TEXT, data, None))

    def close_from_server(self, code: int = 1000, reason: str = "") -> None:
        """A clean close initiated by the gateway."""
        self._closed = True
        self._close_code = code
        self._incoming.put_nowait(aiohttp.WSMessage(_CLOSE, code, reason))

    def drop(self) -> None:
        """An abrupt reset: the client sees an error, no close handshake."""
        self._closed = True
        self._close_code = 1006
        self._exception = ConnectionResetError("connection reset by peer")
        self._incoming.put_nowait(aiohttp.WSMessage(_ERROR, self._exception, None))

    async def wait_sent(self, predicate: Callable[[str], bool], timeout: float = 2.0) -> str:
        """Wait until the client sent a message matching ``predicate``; return it."""
        async with asyncio.timeout(timeout):
            while True:
                for text in self.sent:
                    if predicate(text):
                        return text
                self._sent_event.clear()
                await self._sent_event.wait()


class MemoryGateway:
    """A scripted stand-in for the gateway's REST side and WebSocket handshake."""

    def __init__(self, *, auto_burst: bool = True) -> None:
        self.base_url = "http://memory.invalid/v1/api"
        self.ws_url = "ws://memory.invalid/v1/api/ws"
        self.tls = False
        self.session_id = "0123456789abcdef0123456789abcdef"
        self.logged_in = True
        self.authenticated = True
        self.competing = False
        self.reachable = True
        self.auto_burst = auto_burst
        self.sockets: list[MemoryWebSocket] = []
        self.calls: list[str] = []
        self.orders_payload: list[dict[str, Any]] = []
        #: scripted REST answers for ``request``: ``("GET", "/portfolio/accounts")`` ->
        #: ``(status, body)`` or a function ``(params, json) -> (status, body)``; unknown: 404
        self.routes: dict[tuple[str, str], Any] = {}
        self.pacing = RateLimiter.unlimited()
        self._connected = asyncio.Event()

    def __repr__(self) -> str:
        return f"<MemoryGateway sockets={len(self.sockets)} calls={len(self.calls)}>"

    @property
    def socket(self) -> MemoryWebSocket:
        """The newest socket."""
        return self.sockets[-1]

    async def wait_socket(self, count: int, timeout: float = 2.0) -> MemoryWebSocket:
        """Wait until ``count`` sockets were opened; return the newest."""
        async with asyncio.timeout(timeout):
            while len(self.sockets) < count:
                self._connected.clear()
                await self._connected.wait()
        return self.sockets[-1]

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if not self.reachable:
            raise GatewayUnreachable("memory gateway unreachable")
        if not self.logged_in:
            raise NotAuthenticated(f"{call}: 401")

    def _auth(self) -> AuthInfo:
        return AuthInfo(authenticated=self.authenticated, competing=self.competing, connected=True)

    async def tickle(self) -> TickleInfo:
        self._check("tickle")
        return TickleInfo(session_id=self.session_id, auth=self._auth(), sso_expires_ms=600_000)

    async def auth_status(self) -> AuthInfo:
        self._check("auth_status")
        return self._auth()

    async def reauthenticate(self) -> None:
        self._check("reauthenticate")
        self.authenticated = True
        self.competing = False

    async def orders(self, *, force: bool = False) -> list[dict[str, Any]]:
        self._check("orders")
        return list(self.orders_payload)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """``GatewayRest.request`` answered from ``routes`` (same errors)."""
        method = method.upper()
        self._check(f"{method} {path}")
        answer = self.routes.get((method, path))
        if callable(answer):
            answer = answer(params, json)
        if answer is None:
            raise NotFound(
                method, path, 404, "<html><body><h1>Resource not found</h1></body></html>"
            )
        status, body = answer
        if status == 401 and 401 not in allow:
            raise NotAuthenticated(f"{method} {path}: 401", endpoint=f"{method} {path}")
        if status not in allow:
            raise HTTPStatusError(method, path, status, orjson.dumps(body).decode())
        return status, body

    async def accounts(self) -> dict[str, Any]:
        _, body = await self.request("GET", "/iserver/accounts")
        return body if isinstance(body, dict) else {}

    async def ws_connect(self, session_id: str, *, heartbeat: float | None = None) -> Any:
        self._check("ws_connect")
        ws = MemoryWebSocket(session_id)
        self.sockets.append(ws)
        if self.auto_burst and self.authenticated:
            ws.feed(*opening_burst())
        self._connected.set()
        return ws

    async def close(self) -> None:
        self.calls.append("close")
