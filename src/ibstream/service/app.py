"""The service process: the aiohttp app, the bearer-token check and the start/stop sequence.

:class:`Service` owns, on one event loop: the embedded simulator (``sim=True``), the
``StreamClient``, the :class:`~ibstream.service.hub.Hub` and the HTTP listener. ``start()``
listens and starts the client; ``stop()`` tells every consumer (a ``Closing`` message and close
code 1001 on WebSockets, a final ``close`` event on SSE), then stops the listener, the client and
the simulator. :func:`serve` runs it until SIGTERM/SIGINT.

Routes: ``/`` dashboard, ``/graphql`` (queries, mutations, graphql-transport-ws subscriptions),
``/stream`` (plain WebSocket), ``/events`` (SSE), ``/livez``, ``/readyz``, ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TextIO
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Middleware

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.rest import GatewayRest
from ibstream.exceptions import IBStreamError
from ibstream.orders import TradingConfig
from ibstream.protocol.decoding import set_cache_limits
from ibstream.protocol.lifecycle import SessionState, SessionStateChanged
from ibstream.service import limits
from ibstream.service.config import ServiceConfig, host_allowed
from ibstream.service.dashboard import dashboard
from ibstream.service.graphql import ServiceGraphQLView, build_view
from ibstream.service.hub import Hub
from ibstream.service.keys import CONFIG, HUB
from ibstream.service.ops import livez, metrics, readyz
from ibstream.service.stream import events_handler, stream_handler
from ibstream.service.symbols import install_increments, symbols_handler
from ibstream.service.trading import READ, SCOPES, token_scopes
from ibstream.service.upstream_auth import upstream_auth
from ibstream.sim import SimConfig, Simulator

__all__ = ["Service", "auth_middleware", "build_app", "serve"]

log = logging.getLogger("ibstream.service")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(
    token: str | None,
    allowed_origins: tuple[str, ...] = (),
    *,
    bind_host: str = "127.0.0.1",
    allowed_hosts: tuple[str, ...] = (),
    trading_token: str | None = None,
) -> Middleware:
    """Check every request (HTTP, WebSocket upgrade, SSE).

    * ``Host`` must be a loopback name, an IP address, the bind address (and this machine's
      name when bound to every interface) or in ``allowed_hosts``: a page that rebinds its own
      DNS name to 127.0.0.1 sends its name, so it cannot read a tokenless loopback service.
    * Browsers: an ``Origin`` header must be the service's own origin or listed in
      ``allowed_origins`` (a page on another site must not read the stream through the user's
      browser; WebSockets are not covered by CORS).
    * With a token: ``Authorization: Bearer <token>`` or ``?token=<token>`` (browsers cannot set
      headers on WebSocket/EventSource), compared in constant time. The token is never logged.
    * Scopes (ibstream.service.trading): the read token reads; the trading token (when the service
      trades) also trades, presented in the ``Authorization`` header only (``?token=`` with it
      reads). The caller's scopes are stored on the request.
    """
    expected = token.encode() if token else None
    allowed = frozenset(o.rstrip("/") for o in allowed_origins)
    hosts = tuple(allowed_hosts)
    if bind_host in ("0.0.0.0", "::", ""):
        hosts += (socket.gethostname(),)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not host_allowed(host, bind_host, hosts):
            return web.json_response(
                {"error": f"host {str(host)[:100]!r} not allowed (see allowed_hosts)"}, status=403
            )
        origin = request.headers.get("Origin")
        if (
            origin is not None
            and origin.rstrip("/") not in allowed
            and urlsplit(origin).netloc != request.host
        ):
            return web.json_response(
                {"error": f"origin {origin} not allowed (see allowed_origins)"}, status=403
            )
        given = _presented_token(request)
        if expected is not None and given is None:
            return _unauthorized("missing bearer token (Authorization: Bearer or ?token=)")
        scopes = token_scopes(given, token, trading_token)
        if scopes is None:
            return _unauthorized("invalid bearer token")
        if "trade" in scopes and "Authorization" not in request.headers:
            scopes = READ  # a URL leaks (histories, proxy logs, Referer): it never trades
        request[SCOPES] = scopes
        return await handler(request)

    return middleware


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""
    return request.query.get("token")


def _unauthorized(message: str) -> web.Response:
    return web.json_response(
        {"error": message}, status=401, headers={"WWW-Authenticate": 'Bearer realm="ibstream"'}
    )


class _AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string: it may hold the token), status, duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            request.remote,
            request.method,
            request.path,
            response.status,
            time,
        )


def build_app(
    hub: Hub, config: ServiceConfig, token: str | None, view: ServiceGraphQLView | None = None
) -> web.Application:
    """The aiohttp application (routes above) around ``hub``."""
    trading_token = config.resolved_trading_token()
    middleware = auth_middleware(
        token,
        config.allowed_origins,
        bind_host=config.host,
        allowed_hosts=config.allowed_hosts,
        trading_token=trading_token,
    )
    app = web.Application(middlewares=[middleware])
    app[HUB] = hub
    limits.install(hub, limits.Limits.from_config(config))
    app[CONFIG] = config
    gql = view or build_view(hub, config)
    app.router.add_get("/", dashboard)
    app.router.add_route("*", "/graphql", gql)
    app.router.add_get("/stream", stream_handler)
    app.router.add_get("/events", events_handler)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/symbols", symbols_handler)  # the dashboard's symbol box
    install_increments(app, hub)  # /api/increments: the dashboard's price decimals
    return app


class Service:
    """The whole service in one object (see the module docstring)."""

    def __init__(
        self,
        config: ServiceConfig,
        *,
        client_config: ClientConfig | None = None,
        sim_config: SimConfig | None = None,
    ) -> None:
        self.config = config
        self.sim: Simulator | None = None
        self._client_config = client_config
        self._sim_config = sim_config
        self.client: StreamClient | None = None
        self._hub: Hub | None = None
        self.view: ServiceGraphQLView | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._start_task: asyncio.Task[None] | None = None
        self.failed: asyncio.Event = asyncio.Event()
        self._authenticated = asyncio.Event()
        self.failure: str = ""
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Service {self.url if self._site else 'not started'} {self._hub!r}>"

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise IBStreamError("service not started")
        return self._hub

    @property
    def url(self) -> str:
        """``http://host:port`` of the listener (the real port when 0 was asked)."""
        site = self._site
        server = getattr(site, "_server", None)
        if server is None or not server.sockets:
            raise IBStreamError("service not listening")
        host, port = server.sockets[0].getsockname()[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    async def start(self) -> None:
        """Listen, start the upstream client, and wait (up to ``ready_wait``) until upstream is
        authenticated. Raises ``InvalidArgument`` for a bad configuration."""
        config = self.config
        token = config.check()
        if config.sim:
            self.sim = Simulator(
                self._sim_config
                or SimConfig(
                    port=0,
                    tls=False,
                    rate_limit=None,
                    update_interval=config.sim_update_interval,
                    admin=config.sim_admin,
                    admin_token=token if config.sim_admin else None,
                    oauth=config.uses_oauth,
                )
            )
            await self.sim.start()
            url, verify, cacert = self.sim.base_url, False, None
        else:
            url, verify, cacert = config.url, not config.insecure, config.cacert
        auth, url = upstream_auth(config, self.sim, url)  # gateway session or OAuth 1.0a
        client_config = replace(  # the service decides whether its client may trade
            self._client_config or ClientConfig(start_timeout=1e9),
            trading=TradingConfig(enabled=config.trading, read_only=not config.trading),
        )
        rest = GatewayRest(
            url,
            verify=cacert if cacert else verify,
            timeout=client_config.request_timeout,
            max_frame_size=config.max_frame_bytes,
            auth=auth,
        )
        self.client = StreamClient(url, config=client_config, rest=rest)
        hub = self._hub = Hub(
            self.client,
            grace=config.grace,
            buffer_size=config.buffer_size,
            slow_consumer_timeout=config.slow_consumer_timeout,
            flush_interval=config.flush_interval,
            max_flush_interval=config.max_flush_interval,
            flush_budget=config.flush_budget,
        )
        limits.install(hub, limits.Limits.from_config(config))
        set_cache_limits(config.max_cache_entries, config.max_cache_value_chars)
        hub.start()
        self.client.on(SessionStateChanged, self._on_session)
        self._start_task = asyncio.create_task(self._start_client(), name="ibstream-service-start")
        await asyncio.sleep(0)  # the client's tasks exist from here: consumers may subscribe
        self.view = build_view(hub, config)
        app = build_app(hub, config, token, self.view)
        self._runner = web.AppRunner(
            app, access_log_class=_AccessLogger, handle_signals=False, shutdown_timeout=3.0
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, config.host, config.port)
        await self._site.start()
        log.info("service listening on %s (upstream %s)", self.url, self.client.rest.base_url)
        if not hub.authenticated:
            waits = [asyncio.create_task(e.wait()) for e in (self._authenticated, self.failed)]
            await asyncio.wait(waits, timeout=config.ready_wait, return_when="FIRST_COMPLETED")
            for task in waits:
                task.cancel()

    async def _start_client(self) -> None:
        assert self.client is not None
        try:
            await self.client.start()
        except Exception as exc:
            self._failed(f"upstream client failed: {type(exc).__name__}: {exc}")

    def _on_session(self, ev: SessionStateChanged) -> None:
        if ev.current is SessionState.AUTHENTICATED:
            self._authenticated.set()
        if ev.current is SessionState.CLOSED and not self._stopped:
            self._failed(f"upstream session closed: {ev.reason}")

    def _failed(self, reason: str) -> None:
        if not self._stopped and not self.failed.is_set():
            log.error("%s", reason)
            self.failure = reason
            self.failed.set()

    async def stop(self, reason: str = "service shutting down") -> None:
        """Tell consumers, close sockets, stop the listener, the client and the simulator."""
        if self._stopped:
            return
        self._stopped = True
        if self._hub is not None:
            self._hub.shutdown(reason)
        if self.view is not None:
            await self.view.close_all(reason)
        # Let the writers send their final notices before the listener goes away.
        for _ in range(50):
            if not any(t.get_name().startswith("ibstream-ws-") for t in asyncio.all_tasks()):
                break
            await asyncio.sleep(0.02)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._start_task
        if self.client is not None:
            await self.client.stop()
        if self.sim is not None:
            await self.sim.stop()

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(config: ServiceConfig, out: TextIO = sys.stdout) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a fatal upstream failure (exit 1)."""
    service = Service(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except BaseException:
        await service.stop("start failed")
        raise
    print(f"service: {service.url}", file=out, flush=True)
    if not service.hub.authenticated:
        print(
            f"warning: upstream {service.client.rest.base_url if service.client else ''} not "
            "authenticated yet; /readyz says why",
            file=sys.stderr,
            flush=True,
        )
    stopper = asyncio.create_task(stop.wait())
    failer = asyncio.create_task(service.failed.wait())
    await asyncio.wait({stopper, failer}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stopper, failer):
        task.cancel()
    code = 0
    if service.failed.is_set() and not stop.is_set():
        print(f"ibstream serve: {service.failure}", file=sys.stderr, flush=True)
        code = 1
    await service.stop("service shutting down" if code == 0 else service.failure)
    return code
