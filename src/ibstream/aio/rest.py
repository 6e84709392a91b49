"""The REST side of a Client Portal Gateway session (protocol.md §2), on aiohttp.

Only what the streaming session needs: ``/tickle`` (keepalive and the session id for the
WebSocket cookie), auth status, re-authentication, accounts, the day's orders (``sor`` sends no
initial snapshot), contract search for symbols, and the WebSocket handshake itself (same
``ClientSession``, same TLS settings, same cookie jar). aiohttp and TLS errors are translated into
the ibstream exception tree here, at the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson
from yarl import URL

from ibstream.aio.pacing import RateLimiter
from ibstream.aio.transport import AuthInfo, TickleInfo, WebSocketLike, WSMessageLike
from ibstream.aio.wsbackend import WSBackend, resolve_ws_backend
from ibstream.auth.strategy import Auth, GatewaySession, Response
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    IBStreamError,
    InvalidArgument,
    NotAuthenticated,
    NotFound,
    RateLimited,
    StreamTimeout,
    TLSError,
)
from ibstream.histogram import LATENCY_BUCKETS, Histogram, HistogramSnapshot
from ibstream.masking import mask, mask_text
from ibstream.tlsdiag import diagnose

__all__ = [
    "AuthInfo",
    "GatewayRest",
    "TickleInfo",
    "WSMessageLike",
    "WebSocketLike",
    "latency_of",
    "make_ssl_context",
    "normalize_base_url",
]

log = logging.getLogger("ibstream.rest")


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


DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
"""Largest gateway WebSocket frame accepted by default (4 MiB: a large ``sor`` or ``smh``
frame is some hundred KB)."""


def latency_of(transport: object) -> HistogramSnapshot:
    """The REST latency histogram of a transport (an empty one for a transport that keeps none,
    e.g. the in-memory gateway), so ``metrics()`` has the same keys whatever the transport."""
    latency = getattr(transport, "latency", None)
    if not isinstance(latency, Histogram):
        latency = Histogram(LATENCY_BUCKETS)
    return latency.snapshot()


class GatewayRest:
    """A small async REST client for one gateway; owns the aiohttp ``ClientSession``.

    Implements :class:`~ibstream.aio.transport.Transport` (the driver's view of a gateway)."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | str = True,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        auth: Auth | None = None,
        pacing: RateLimiter | None = None,
        ws_backend: WSBackend = "auto",
    ) -> None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout < float("inf")
        ):  # aiohttp takes 0, a negative or NaN total as "no timeout": a hung gateway hangs
            raise InvalidArgument("timeout", f"seconds > 0 per request, got {timeout!r}")
        if type(max_frame_size) is not int or max_frame_size < 1024:
            raise InvalidArgument(
                "max_frame_size", f"must be an int >= 1024, got {max_frame_size!r}"
            )
        #: Largest WebSocket frame accepted (bytes); a bigger one closes the socket (1009).
        self.max_frame_size = max_frame_size
        #: paces every request within IBKR's limits (see ibstream.aio.pacing)
        self.pacing = pacing if pacing is not None else RateLimiter()
        self.base_url = normalize_base_url(base_url)
        self.ws_url = ws_url_from_base(self.base_url)
        self.tls = self.base_url.startswith("https://")
        self._ssl = make_ssl_context(verify) if self.tls else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None
        #: How requests and the WebSocket authenticate (ibstream.auth); gateway session default.
        self.auth: Auth = auth if auth is not None else GatewaySession()
        #: the library under the WebSocket: "aiohttp" or "picows" (ibstream.aio.wsbackend)
        self.ws_backend = resolve_ws_backend(ws_backend)
        self._auth_lock: asyncio.Lock | None = None
        self._auth_epoch = 0  # credentials obtained so far (a 401 on older ones: no invalidate)
        self._refresh_task: asyncio.Task[None] | None = None
        #: REST round trips that got an answer, in seconds (``metrics()["rest_latency_seconds"]``)
        self.latency = Histogram(LATENCY_BUCKETS)

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
        task, self._refresh_task = self._refresh_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def _tls_error(self, exc: BaseException, url: str) -> TLSError:
        """The real cause (untrusted certificate, a plain-HTTP server, ...), no reprs."""
        verified = self._ssl is not False
        message = diagnose(exc).message(
            url,
            verified=verified,
            advice_verify="pass cacert=<the gateway's certificate file>, or verify=False",
        )
        return TLSError(message, verified=verified)

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
        # -- authentication strategy (ibstream.auth): credentials, signature, one retry on 401
        await self._ensure_auth()
        epoch = self._auth_epoch
        status, raw = await self._signed(method, path, params, json)
        if status == 401 and self.auth.recoverable:
            log.info(  # account ids in paths never in clear
                "%s %s: 401, obtaining new credentials and retrying once", method, mask_text(path)
            )
            if self._auth_epoch == epoch:  # not already replaced by a concurrent request
                self.auth.invalidate()
            await self._ensure_auth()
            status, raw = await self._signed(method, path, params, json)
        # -- end of authentication
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

    async def _signed(
        self, method: str, path: str, params: Mapping[str, str] | None, json: Any
    ) -> tuple[int, bytes]:
        """One request signed by the auth strategy: ``(status, body)``."""
        url = self.base_url + path
        headers: dict[str, str] = {}
        self.auth.prepare_request(method, url, params, headers, time.time())
        resp = await self._send(method, url, params=params, json=json, headers=headers)
        return resp.status, resp.body

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """One HTTP request, aiohttp and TLS errors translated into the ibstream tree."""
        path = url[len(self.base_url) :] if url.startswith(self.base_url) else url
        if params:
            url = f"{url}?{urlencode(dict(params))}"  # the exact query the signature covers
        started = time.perf_counter()
        try:
            async with self.session.request(
                method, url, json=json, headers=headers, ssl=self._ssl
            ) as resp:
                raw = await resp.read()
                status = resp.status
            self.latency.observe(time.perf_counter() - started)
        except aiohttp.ClientSSLError as exc:  # certificate errors included
            raise self._tls_error(exc, self.base_url) from exc
        except aiohttp.InvalidURL as exc:
            raise InvalidArgument("url", f"invalid gateway URL {url!r}") from exc
        except TimeoutError as exc:  # before OSError: TimeoutError is one (a hung gateway)
            raise StreamTimeout(mask_text(f"{method} {path} timed out")) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise GatewayUnreachable(f"gateway {self.base_url} unreachable: {exc}") from exc
        return Response(status, raw, dict(resp.headers))

    async def _auth_send(self, method: str, url: str, headers: Mapping[str, str]) -> Response:
        return await self._send(method, url, headers=headers)

    async def _ensure_auth(self) -> None:
        """Obtain or refresh the strategy's credentials when it asks; after a fresh token
        (not a refresh ahead of expiry) initialise the brokerage session (``ssodh/init``)."""
        if not self.auth.needs_start(time.time()):
            return
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            if not self.auth.needs_start(time.time()):
                return  # another request obtained it meanwhile
            fresh = self.auth.refresh_at() is None
            await self.auth.start(self._auth_send, self.base_url, time.time())
            self._auth_epoch += 1
            log.info(
                "%s credentials %s", self.auth.kind, "obtained" if fresh else "refreshed ahead"
            )
            if fresh:
                status, raw = await self._signed(
                    "POST", "/iserver/auth/ssodh/init", None, {"publish": True, "compete": True}
                )
                if status != 200:
                    self.auth.invalidate()  # the next request starts over: token, then init
                    text = raw.decode("utf-8", "replace")
                    raise HTTPStatusError("POST", "/iserver/auth/ssodh/init", status, text)
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        at = self.auth.refresh_at()
        if at is None or (self._refresh_task is not None and not self._refresh_task.done()):
            return
        self._refresh_task = asyncio.get_running_loop().create_task(
            self._refresh_later(), name="ibstream-auth-refresh"
        )

    async def _refresh_later(self) -> None:
        while (at := self.auth.refresh_at()) is not None:
            delay = at - time.time()
            if delay > 0:  # the loop's clock may wake us a hair early: check again
                await asyncio.sleep(delay + 0.001)
                continue
            try:
                await self._ensure_auth()
            except IBStreamError as exc:  # the next request retries and raises to its caller
                log.warning("refreshing %s credentials failed: %s", self.auth.kind, exc)
                return
            if self.auth.refresh_at() == at:
                return  # nothing changed (the strategy declined): do not spin

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
                    mask_text(f"{method} {path}: gateway {self.base_url} failed: {exc}")
                ) from exc
            except GatewayUnreachable as exc:  # name the endpoint (account ids masked)
                raise GatewayUnreachable(mask_text(f"{method} {path}: {exc}")) from exc
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
        return TickleInfo.from_json(body)

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
        """Open the WebSocket with the auth strategy's cookie and query (protocol.md §1.3):
        ``Cookie: api={"session":"..."}`` for the gateway, ``?oauth_token=`` and ``api=<session>``
        for OAuth.

        Text frames are delivered as bytes (``decode_text=False``): IBKR sometimes puts non-UTF-8
        bytes in text frames (§1.5); the decoder handles them instead of the socket dying.
        """
        await self._ensure_auth()  # auth strategy: a valid token before the handshake
        query = self.auth.ws_params()
        try:
            return await self._ws_handshake(session_id, heartbeat, query)
        except (NotAuthenticated, HTTPStatusError) as exc:
            if not query:
                raise
            # aiohttp's handshake error shows the URL, oauth_token included: do not chain it
            exc.__cause__ = exc.__context__ = None
            raise exc from None

    async def _ws_handshake(
        self, session_id: str, heartbeat: float | None, query: Mapping[str, str]
    ) -> WebSocketLike:
        url = f"{self.ws_url}?{urlencode(query)}" if query else self.ws_url
        headers = self.auth.ws_headers(session_id)
        log.debug("opening %s with session %s (%s)", self.ws_url, mask(session_id), self.ws_backend)
        if self.ws_backend == "picows":
            return await self._picows_handshake(url, headers, heartbeat)
        try:
            return await self.session.ws_connect(
                url,
                headers=headers,
                ssl=self._ssl,
                heartbeat=heartbeat,
                autoping=True,
                max_msg_size=self.max_frame_size,
                decode_text=False,
            )
        except aiohttp.ClientSSLError as exc:  # certificate errors included
            raise self._tls_error(exc, self.ws_url) from exc
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise NotAuthenticated("WebSocket handshake refused: not authenticated") from exc
            raise HTTPStatusError("GET", "/ws", exc.status, str(exc.message)) from exc
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise StreamTimeout(f"WebSocket handshake with {self.ws_url} timed out") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise GatewayUnreachable(f"WebSocket {self.ws_url} unreachable: {exc}") from exc

    async def _picows_handshake(
        self, url: str, headers: dict[str, str], heartbeat: float | None
    ) -> WebSocketLike:
        """The handshake on picows (ibstream.aio.ws_picows): the same headers, with the cookie
        jar's cookies for the URL merged in as aiohttp does, the same TLS and timeout."""
        from ibstream.aio.ws_picows import open_picows

        jar = self.session.cookie_jar.filter_cookies(URL(url))
        if jar:
            cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())
            given = headers.get("Cookie")
            headers = {**headers, "Cookie": f"{given}; {cookies}" if given else cookies}
        headers.setdefault("User-Agent", "ibstream/0.1")
        return await open_picows(
            url,
            headers=headers,
            ssl_setting=self._ssl,
            heartbeat=heartbeat,
            max_message_size=self.max_frame_size,
            timeout=self._timeout.total or 10.0,
            tls_error=lambda exc: self._tls_error(exc, self.ws_url),
            display_url=self.ws_url,
        )
