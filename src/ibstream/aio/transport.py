"""The typed seams of the asyncio driver: the gateway transport and the clock.

:class:`Transport` is everything the driver asks of a gateway: the REST calls of a streaming
session and the WebSocket handshake. Two classes implement it, checked by ``mypy --strict``
with no ``type: ignore``: :class:`~ibstream.aio.rest.GatewayRest` (aiohttp, the real thing) and
:class:`~ibstream.aio.memory.MemoryGateway` (scripted, in memory, for tests).

:class:`Clock` is the driver's only source of time: wall time for the protocol core, sleeping for
backoff and waiting on the single timer. :class:`SystemClock` is the real one;
:class:`~ibstream.aio.memory.ManualClock` lets tests move time by hand, so no test waits for a
real heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from ibstream.exceptions import HTTPStatusError
from ibstream.masking import mask

__all__ = [
    "AuthInfo",
    "Clock",
    "SystemClock",
    "TickleInfo",
    "Transport",
    "WSMessageLike",
    "WebSocketLike",
]


class WSMessageLike(Protocol):
    """One received WebSocket message (aiohttp's ``WSMessage`` and its no-decode variant)."""

    @property
    def type(self) -> aiohttp.WSMsgType: ...

    @property
    def data(self) -> Any: ...

    @property
    def extra(self) -> Any: ...


class WebSocketLike(Protocol):
    """The part of aiohttp's ``ClientWebSocketResponse`` the driver uses (also implemented by
    the in-memory socket in :mod:`ibstream.aio.memory`)."""

    @property
    def closed(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...

    def exception(self) -> BaseException | None: ...

    async def receive(self, timeout: float | None = None) -> WSMessageLike: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthInfo:
    """The brokerage session status (``iserver.authStatus`` / ``/iserver/auth/status``)."""

    authenticated: bool
    competing: bool
    connected: bool
    established: bool | None = None
    message: str = ""

    @property
    def usable(self) -> bool:
        """Market data and trading work: authenticated, connected and not competing."""
        return self.authenticated and self.connected and not self.competing

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AuthInfo:
        return cls(
            authenticated=body.get("authenticated") is True,
            competing=body.get("competing") is True,
            connected=body.get("connected") is True,
            established=body.get("established")
            if isinstance(body.get("established"), bool)
            else None,
            message=str(body.get("message") or ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TickleInfo:
    """What ``/tickle`` returned: the session id for the WebSocket and the auth status."""

    session_id: str
    auth: AuthInfo
    sso_expires_ms: int | None

    def __repr__(self) -> str:
        return (
            f"TickleInfo(session_id={mask(self.session_id)}, auth={self.auth!r}, "
            f"sso_expires_ms={self.sso_expires_ms})"
        )

    @classmethod
    def from_json(cls, body: Any) -> TickleInfo:
        """Parse a ``POST /tickle`` body (raises ``HTTPStatusError`` when it is not one)."""
        if not isinstance(body, dict) or not isinstance(body.get("session"), str):
            raise HTTPStatusError("POST", "/tickle", 200, f"unexpected body: {str(body)[:120]}")
        iserver = body.get("iserver")
        status = iserver.get("authStatus") if isinstance(iserver, dict) else None
        expires = body.get("ssoExpires")
        return cls(
            session_id=body["session"],
            auth=AuthInfo.from_json(status if isinstance(status, dict) else {}),
            sso_expires_ms=expires if isinstance(expires, int) else None,
        )


class Transport(Protocol):
    """A gateway as the driver sees it: REST calls and the WebSocket handshake.

    ``request`` is the one generic REST entry point (features build on it); the named calls are
    the ones the session itself needs. Errors are the ibstream exception tree
    (``GatewayUnreachable``, ``NotAuthenticated``, ``HTTPStatusError``, ``TLSError``...).
    """

    @property
    def base_url(self) -> str: ...

    @property
    def ws_url(self) -> str: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]: ...

    async def tickle(self) -> TickleInfo: ...

    async def auth_status(self) -> AuthInfo: ...

    async def reauthenticate(self) -> None: ...

    async def accounts(self) -> dict[str, Any]: ...

    async def orders(self, *, force: bool = False) -> list[dict[str, Any]]: ...

    async def search(self, symbol: str) -> list[dict[str, Any]]: ...

    async def ws_connect(
        self, session_id: str, *, heartbeat: float | None = 10.0
    ) -> WebSocketLike: ...

    async def close(self) -> None: ...


class Clock(Protocol):
    """Time as the driver uses it (wall seconds, like the protocol core)."""

    def time(self) -> float:
        """Now, in epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        """Wait until ``event`` is set (True) or ``timeout`` seconds passed (False)."""
        ...


class SystemClock:
    """The real clock: ``time.time`` and asyncio's timers."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<SystemClock>"

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        if timeout is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True
