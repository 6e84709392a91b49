"""An in-memory gateway for testing code that uses the asyncio client, with no sockets.

``MemoryGateway`` implements :class:`~ibstream.aio.transport.Transport` like
:class:`~ibstream.aio.rest.GatewayRest` (pass it as ``StreamClient(rest=...)``); each
``ws_connect`` gives a :class:`MemoryWebSocket` whose far end the test drives: push frames with
``feed``, read what the client sent from ``sent``, cut the link with ``drop`` (abrupt) or
``close_from_server`` (clean). REST answers come from the scripted session state (``/tickle``,
auth status, accounts, orders) or from ``routes`` (any other ``request``). It is a scriptable
fake, not a model of IBKR: the simulator (``ibstream.sim``) is the faithful gateway, over real
sockets.

:class:`ManualClock` is a :class:`~ibstream.aio.transport.Clock` that only moves when the test
calls :meth:`ManualClock.advance` (``StreamClient(clock=...)``): heartbeat timeouts, auth polls
and backoff happen at once, in order, without waiting for real time.

Shipped in the package (like httpcore's mock backend) so users can test their own code.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson

from ibstream.aio.pacing import RateLimiter
from ibstream.aio.transport import AuthInfo, TickleInfo
from ibstream.exceptions import GatewayUnreachable, HTTPStatusError, NotAuthenticated, NotFound

__all__ = ["ManualClock", "MemoryGateway", "MemoryWebSocket", "opening_burst"]

#: A scripted REST answer: ``(status, body)`` or a function of ``(params, json)`` returning one.
Route = tuple[int, Any] | Callable[[Mapping[str, str] | None, Any], tuple[int, Any]]

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
    """A scripted gateway: REST side and WebSocket handshake (a ``Transport``)."""

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
        #: every call, in order (named calls by name, other requests as ``"METHOD /path"``)
        self.calls: list[str] = []
        self.orders_payload: list[dict[str, Any]] = []
        self.accounts_payload: dict[str, Any] = {"accounts": ["DU0000001"]}
        #: ``(METHOD, path) -> Route`` for any other REST call (unknown paths answer 404)
        self.routes: dict[tuple[str, str], Route] = {}
        #: raised by the next named call (then cleared): script a programming error or a fault
        self.raise_next: BaseException | None = None
        #: no pacing in memory (``GatewayRest.pacing`` limits real gateways)
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
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc
        if not self.reachable:
            raise GatewayUnreachable("memory gateway unreachable")
        if not self.logged_in:
            raise NotAuthenticated(f"{call}: 401")

    def _auth(self) -> AuthInfo:
        return AuthInfo(authenticated=self.authenticated, competing=self.competing, connected=True)

    def _auth_json(self) -> dict[str, Any]:
        return {"authenticated": self.authenticated, "competing": self.competing, "connected": True}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """Answer from ``routes`` (same errors as ``GatewayRest.request``)."""
        self._check(f"{method} {path}")
        route = self.routes.get((method.upper(), path))
        if route is None:
            status, body = 404, {"error": f"no route {method} {path}"}
        elif callable(route):
            status, body = route(params, json)
        else:
            status, body = route
        if status not in allow:
            if status == 401:
                raise NotAuthenticated(f"{method} {path}: 401", endpoint=f"{method} {path}")
            if status == 404:
                raise NotFound(method, path, status, str(body))
            raise HTTPStatusError(method, path, status, str(body))
        return status, body

    async def tickle(self) -> TickleInfo:
        self._check("tickle")
        body = {
            "session": self.session_id,
            "ssoExpires": 600_000,
            "iserver": {"authStatus": self._auth_json()},
        }
        return TickleInfo.from_json(body)

    async def auth_status(self) -> AuthInfo:
        self._check("auth_status")
        return AuthInfo.from_json(self._auth_json())

    async def reauthenticate(self) -> None:
        self._check("reauthenticate")
        self.authenticated = True
        self.competing = False

    async def accounts(self) -> dict[str, Any]:
        self._check("accounts")
        return dict(self.accounts_payload)

    async def orders(self, *, force: bool = False) -> list[dict[str, Any]]:
        self._check("orders")
        return list(self.orders_payload)

    async def search(self, symbol: str) -> list[dict[str, Any]]:
        _, body = await self.request(
            "GET", "/iserver/secdef/search", params={"symbol": symbol}, allow=(200, 400, 404)
        )
        return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []

    async def ws_connect(
        self, session_id: str, *, heartbeat: float | None = 10.0
    ) -> MemoryWebSocket:
        self._check("ws_connect")
        ws = MemoryWebSocket(session_id)
        self.sockets.append(ws)
        if self.auto_burst and self.authenticated:
            ws.feed(*opening_burst())
        self._connected.set()
        return ws

    async def close(self) -> None:
        self.calls.append("close")


class ManualClock:
    """A :class:`~ibstream.aio.transport.Clock` that moves only in :meth:`advance`."""

    def __init__(self, start: float = 1_777_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"<ManualClock {self._now:.3f} sleepers={len(self._sleepers)}>"

    def time(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), fut))
        self._wake_due()
        await fut

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        if event.is_set():
            return True
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.sleep(timeout)) if timeout is not None else None
        pending = {waiter} if sleeper is None else {waiter, sleeper}
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pending:
                task.cancel()
        return event.is_set()

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper that became due, in order,
        and letting each run before the next (so deadlines fire as they would in real time)."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            at, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, at)
            if not fut.done():
                fut.set_result(None)
            for _ in range(5):  # let the woken task (and what it starts) run
                await asyncio.sleep(0)
        self._now = target
        for _ in range(5):
            await asyncio.sleep(0)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
