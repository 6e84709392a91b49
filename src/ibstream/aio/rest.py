"""The REST side of a Client Portal Gateway session (protocol.md §2), on aiohttp.

Only what the streaming session needs: ``/tickle`` (keepalive and the session id for the
WebSocket cookie), auth status, re-authentication, accounts, the day's orders (``sor`` sends no
initial snapshot), contract search for symbols, and the WebSocket handshake itself (same
``ClientSession``, same TLS settings, same cookie jar). aiohttp and TLS errors are translated into
the ibstream exception tree here, at the boundary.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import orjson

from ibstream.aio.pacing import RateLimiter
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    InvalidArgument,
    NotAuthenticated,
    NotFound,
    RateLimited,
    StreamTimeout,
    TLSError,
)
from ibstream.masking import mask

__all__ = [
    "AuthInfo",
    "GatewayRest",
    "TickleInfo",
    "WSMessageLike",
    "WebSocketLike",
    "make_ssl_context",
    "normalize_base_url",
]

log = logging.getLogger("ibstream.rest")


class WSMessageLike(Protocol):
    """One received WebSocket message (aiohttp's ``WSMessage`` and its no-decode variant)."""

    @property
    def type(self) -> aiohttp.WSMsgType: ...

    @property
    def data(self) -> Any: ...

    @property
    def extra(self) -> Any: ...


class WebSocketLike(Protocol):
    """The part of aiohttp's ``ClientWebSocketResponse`` the client uses (also implemented by
    the in-memory fake in :mod:`ibstream.aio.memory`)."""

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


def normalize_base_url(url: str) -> str:
    """Return the REST base ending in ``/v1/api`` (no trailing slash); validate the scheme.

    Accepts ``https://localhost:5000``, ``https://localhost:5000/v1/api/`` and the like.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument("url", "a gateway base URL such as https://localhost:5000/v1/api")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            "url", f"{url!r} is not an http(s) URL; expected e.g. https://localhost:5000/v1/api"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/api"):
        path = path + "/v1/api" if path in ("", "/") else path
    return f"{parts.scheme}://{parts.netloc}{path}"


def ws_url_from_base(base_url: str) -> str:
    """``https://host:5000/v1/api`` -> ``wss://host:5000/v1/api/ws`` (protocol.md §1.1)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :] + "/ws"
    return "ws://" + base_url[len("http://") :] + "/ws"


def make_ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """TLS settings: ``True`` verifies with the system store, a path verifies against that CA
    file (the gateway's self-signed certificate), ``False`` turns verification off."""
    if verify is True:
        return ssl.create_default_context()
    if verify is False:
        return False
    if isinstance(verify, str) and verify:
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidArgument("cacert", f"cannot load CA file {verify!r}: {exc}") from exc
    raise InvalidArgument("verify", "True, False, or the path of a CA certificate file")


class GatewayRest:
    """A small async REST client for one gateway; owns the aiohttp ``ClientSession``."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | str = True,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        pacing: RateLimiter | None = None,
    ) -> None:
        #: paces every request within IBKR's limits (see ibstream.aio.pacing)
        self.pacing = pacing if pacing is not None else RateLimiter()
        self.base_url = normalize_base_url(base_url)
        self.ws_url = ws_url_from_base(self.base_url)
        self.tls = self.base_url.startswith("https://")
        self._ssl = make_ssl_context(verify) if self.tls else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    def __repr__(self) -> str:
        return f"<GatewayRest {self.base_url}>"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                headers={"User-Agent": "ibstream/0.1"},
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    # -- requests -------------------------------------------------------------------------

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """Call ``{base}{path}``; return ``(status, parsed JSON or text)``.

        Raises ``GatewayUnreachable``, ``TLSError``, ``StreamTimeout``, ``NotAuthenticated`` (401)
        or ``HTTPStatusError`` (any other status not in ``allow``).
        """
        url = self.base_url + path
        try:
            async with self.session.request(
                method, url, params=params, json=json, ssl=self._ssl
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorCertificateError as exc:
            raise TLSError(
                f"TLS certificate verification failed for {self.base_url}: pass cacert=<gateway "
                "certificate file> or verify=False for the gateway's self-signed certificate"
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise TLSError(f"TLS handshake with {self.base_url} failed: {exc}") from exc
        except aiohttp.InvalidURL as exc:
            raise InvalidArgument("url", f"invalid gateway URL {url!r}") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise GatewayUnreachable(f"gateway {self.base_url} unreachable: {exc}") from exc
        except TimeoutError as exc:
            raise StreamTimeout(f"{method} {path} timed out") from exc
        text = raw.decode("utf-8", "replace")
        if status == 401 and 401 not in allow:
            raise NotAuthenticated(
                f"{method} {path}: gateway session is not authenticated (401)",
                endpoint=f"{method} {path}",
            )
        if status == 404 and 404 not in allow:
            raise NotFound(method, path, status, text)
        if status not in allow:
            raise HTTPStatusError(method, path, status, text)
        try:
            return status, orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return status, text

    # --- pacing (issue 12): the one REST entry point waits for its slot in the limiter ---

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """Call ``{base}{path}`` paced within IBKR's limits; return ``(status, parsed body)``.

        Every call first waits for its slot in ``self.pacing``; a 429 is retried after backoff.
        Raises ``GatewayUnreachable``, ``TLSError``, ``StreamTimeout``, ``NotAuthenticated``
        (401), ``NotFound`` (404), ``RateLimited`` (429 after every retry) or ``HTTPStatusError``
        (any other status not in ``allow``); each names the endpoint. No aiohttp error escapes.
        """
        attempt = 0
        while True:
            try:
                async with self.pacing.slot(method, path):
                    status, body = await self._request_once(
                        method, path, params=params, json=json, allow=(*allow, 429)
                    )
            except aiohttp.ClientError as exc:  # e.g. a payload cut mid-response
                raise GatewayUnreachable(
                    f"{method} {path}: gateway {self.base_url} failed: {exc}"
                ) from exc
            except GatewayUnreachable as exc:  # name the endpoint
                raise GatewayUnreachable(f"{method} {path}: {exc}") from exc
            if status != 429 or 429 in allow:
                self.pacing.succeeded(method, path)
                return status, body
            text = body if isinstance(body, str) else orjson.dumps(body).decode()
            if attempt >= self.pacing.max_retries:
                raise RateLimited(method, path, text)
            delay = self.pacing.throttled(method, path, None)
            limit = self.pacing.pacer.limit_for(method, path) or "global"
            log.warning("429 too many requests (limit %s), retrying in %.1fs", limit, delay)
            attempt += 1

    # --- end pacing ---

    async def tickle(self) -> TickleInfo:
        """``POST /tickle``: keepalive, session id for the WebSocket cookie, auth status."""
        _, body = await self.request("POST", "/tickle")
        if not isinstance(body, dict) or not isinstance(body.get("session"), str):
            raise HTTPStatusError("POST", "/tickle", 200, f"unexpected body: {str(body)[:120]}")
        iserver = body.get("iserver")
        status = iserver.get("authStatus") if isinstance(iserver, dict) else None
        auth = AuthInfo.from_json(status if isinstance(status, dict) else {})
        expires = body.get("ssoExpires")
        return TickleInfo(
            session_id=body["session"],
            auth=auth,
            sso_expires_ms=expires if isinstance(expires, int) else None,
        )

    async def auth_status(self) -> AuthInfo:
        """``POST /iserver/auth/status``."""
        _, body = await self.request("POST", "/iserver/auth/status")
        return AuthInfo.from_json(body if isinstance(body, dict) else {})

    async def reauthenticate(self) -> None:
        """``POST /iserver/auth/ssodh/init`` with ``compete`` (protocol.md §2.4): start a new
        brokerage session, disconnecting a competing one."""
        await self.request(
            "POST", "/iserver/auth/ssodh/init", json={"publish": True, "compete": True}
        )

    async def accounts(self) -> dict[str, Any]:
        """``GET /iserver/accounts`` (also a pre-flight for orders and snapshots)."""
        _, body = await self.request("GET", "/iserver/accounts")
        return body if isinstance(body, dict) else {}

    async def orders(self, *, force: bool = False) -> list[dict[str, Any]]:
        """``GET /iserver/account/orders`` without filters (filters mute ``sor``, §4.4)."""
        params = {"force": "true"} if force else None
        _, body = await self.request("GET", "/iserver/account/orders", params=params)
        orders = body.get("orders") if isinstance(body, dict) else None
        return [o for o in orders if isinstance(o, dict)] if isinstance(orders, list) else []

    async def search(self, symbol: str) -> list[dict[str, Any]]:
        """``GET /iserver/secdef/search?symbol=...``."""
        _, body = await self.request(
            "GET", "/iserver/secdef/search", params={"symbol": symbol}, allow=(200, 400, 404)
        )
        return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []

    async def ws_connect(self, session_id: str, *, heartbeat: float | None = 10.0) -> WebSocketLike:
        """Open the WebSocket with ``Cookie: api={"session":"..."}`` (protocol.md §1.3).

        Text frames are delivered as bytes (``decode_text=False``): IBKR sometimes puts non-UTF-8
        bytes in text frames (§1.5); the decoder handles them instead of the socket dying.
        """
        cookie = 'api={"session":"' + session_id + '"}'
        log.debug("opening %s with session %s", self.ws_url, mask(session_id))
        try:
            return await self.session.ws_connect(
                self.ws_url,
                headers={"Cookie": cookie},
                ssl=self._ssl,
                heartbeat=heartbeat,
                autoping=True,
                max_msg_size=0,
                decode_text=False,
            )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise TLSError(
                f"TLS certificate verification failed for {self.ws_url}: pass cacert= or "
                "verify=False"
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise TLSError(f"TLS handshake with {self.ws_url} failed: {exc}") from exc
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise NotAuthenticated("WebSocket handshake refused: not authenticated") from exc
            raise HTTPStatusError("GET", "/ws", exc.status, str(exc.message)) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise GatewayUnreachable(f"WebSocket {self.ws_url} unreachable: {exc}") from exc
        except TimeoutError as exc:
            raise StreamTimeout(f"WebSocket handshake with {self.ws_url} timed out") from exc
