"""The asyncio client: a driver that owns the I/O around the sans-I/O ``StreamProtocol``.

Three parts (docs/architecture.md draws them): the **core**
(:class:`~ibstream.protocol.connection.StreamProtocol`) decides everything; the **router**
(:class:`~ibstream.aio.router.Router`), synchronous and I/O-free, applies events to live state,
fans them out and holds the reference count of upstream streams; this **driver**
(:class:`StreamClient`) only does I/O over a typed :class:`~ibstream.aio.transport.Transport`
and an injected :class:`~ibstream.aio.transport.Clock`: the **run task** (reconnect loop:
``/tickle``, handshake, read loop feed -> drain -> route -> flush, backoff with jitter), the
**timer task** (the only timer: sleeps until ``protocol.next_deadline()``; whatever moves a
deadline earlier wakes it) and short **REST tasks** (keepalive, auth polls, re-authentication).

The client's lifecycle is :class:`ClientState`: ``NEW -> STARTING -> RUNNING -> STOPPING ->
STOPPED`` (or ``FAILED``). A client runs once: ``start()`` after ``stop()`` raises
``InvalidState`` at once (create a new client instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Sized
from typing import Any

import aiohttp

from ibstream.aio.actions import SessionActions
from ibstream.aio.batchread import BatchReader
from ibstream.aio.config import ClientConfig, ClientState
from ibstream.aio.consumers import ConsumerAPI, FrameListener
from ibstream.aio.contracts import Contracts
from ibstream.aio.marketdata import MarketDataRest
from ibstream.aio.portfolio import LivePositions, Portfolio
from ibstream.aio.rest import GatewayRest, latency_of
from ibstream.aio.router import Router
from ibstream.aio.transport import Clock, SystemClock, TickleInfo, Transport, WebSocketLike
from ibstream.aio.wsbackend import BatchSocket
from ibstream.auth.strategy import Auth
from ibstream.exceptions import (
    ClientClosed,
    IBStreamError,
    InvalidState,
    StreamTimeout,
)
from ibstream.masking import mask
from ibstream.orders.exercise import ExerciseDesk
from ibstream.orders.trading import Trading
from ibstream.protocol.connection import StreamProtocol
from ibstream.protocol.events import Event
from ibstream.protocol.lifecycle import (
    SessionState,
    SessionStateChanged,
)
from ibstream.protocol.specs import (
    StreamKey,
    Topic,
)
from ibstream.settings import gateway_settings
from ibstream.state.live import LiveState

__all__ = ["ClientConfig", "ClientState", "StreamClient", "connect"]

#: Most frames decoded before their events are routed (one ``_pump``), when more are buffered.
_BATCH = 256


def _backlog(ws: WebSocketLike) -> Sized | None:
    """The buffer of frames the socket received but ``receive()`` has not returned yet, if the
    socket shows it: aiohttp's reader queue, the in-memory socket's queue. ``None`` otherwise
    (each frame is then routed on its own). Only its truth value is read."""
    reader = getattr(ws, "_reader", None)  # aiohttp: WebSocketDataQueue._buffer
    buf = getattr(reader, "_buffer", None)
    if isinstance(buf, deque):
        return buf
    queue = getattr(ws, "_incoming", None)  # ibstream.aio.memory: asyncio.Queue._queue
    buf = getattr(queue, "_queue", None)
    if isinstance(buf, deque):
        return buf
    return None


log = logging.getLogger("ibstream.client")

_RECOVERING = (SessionState.AUTH_LOST, SessionState.COMPETING)


def connect(
    url: str | None = None,
    *,
    verify: bool | None = None,
    cacert: str | None = None,
    config: ClientConfig | None = None,
    auth: Auth | None = None,
) -> StreamClient:
    """A client for the gateway at ``url``; use as ``async with connect(url) as client:``.

    TLS verification is on by default. For the gateway's self-signed certificate pass
    ``cacert="gateway.pem"`` (verify against that certificate) or ``verify=False``. Arguments
    left out come from ``IBSTREAM_URL`` / ``IBSTREAM_CACERT`` / ``IBSTREAM_VERIFY`` (environment
    or ``.env``; :mod:`ibstream.settings`), else ``https://localhost:5000/v1/api``.
    ``auth`` is the authentication strategy (ibstream.auth): the gateway's browser session by
    default, or ``OAuth1a(...)`` with ``url="https://api.ibkr.com/v1/api"``.
    """
    return StreamClient(url, verify=verify, cacert=cacert, config=config, auth=auth)


class StreamClient(ConsumerAPI, SessionActions, BatchReader):
    """Owns one gateway session: keepalive, heartbeats, reconnects, resubscription, delivery.

    Events (delivered to ``events()`` streams, to subscription handles of the matching stream and
    to callbacks registered with ``on``): every decoded gateway event (``MarketData``,
    ``OrderUpdate``, ``Trade`` (one per execution), ``TradeUpdated``, ``Pnl``, ``AuthStatus``,
    ``Bulletin``, ``Notification``, ``ErrorMessage``, ``Malformed`` ...) and the lifecycle events
    ``SessionStateChanged``, ``SubscriptionStateChanged``, ``Gap`` and ``ApplyFailed``.

    ``rest`` replaces the gateway transport (``ibstream.aio.memory.MemoryGateway`` in tests) and
    ``clock`` the clock (``ibstream.aio.memory.ManualClock``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        verify: bool | None = None,
        cacert: str | None = None,
        config: ClientConfig | None = None,
        rest: Transport | None = None,
        clock: Clock | None = None,
        auth: Auth | None = None,
    ) -> None:
        self.config = config or ClientConfig()
        if rest is None:  # arguments first, then IBSTREAM_* settings (ibstream.settings)
            where = gateway_settings(url, cacert=cacert, verify=verify)
            rest = GatewayRest(
                where.url,
                verify=where.tls_verify,
                timeout=self.config.request_timeout,
                auth=auth,
                ws_backend=self.config.ws_backend,
            )
        #: the REST side and WebSocket handshake (``client.rest.request(...)`` for any call)
        self.rest: Transport = rest
        self._clock: Clock = clock or SystemClock()
        self._proto = StreamProtocol(self.config.protocol)
        self._policy = self.config.reconnect()
        self._rng = random.Random()
        self._router = Router(
            self._proto,
            self,
            clock=self._clock.time,
            buffer_size=self.config.buffer_size,
            live=LiveState(
                max_terminal_orders=self.config.max_terminal_orders,
                max_trades=self.config.max_trades,
            ),
        )
        self._dispatch = self._router.dispatch
        self._frame_listeners: list[FrameListener] = []

        # Live state, kept by the router (pure objects from ibstream.state)
        self.tickers = self._router.tickers
        self.orders = self._router.orders
        self.trades = self._router.trades
        self.account = self._router.account
        #: order entry through this session (ibstream.orders; off unless enabled in config)
        self.trading = Trading(self, self.config.trading)
        #: option exercise (ibstream.orders.exercise; a trading action, gated like orders)
        self.exercise = ExerciseDesk(self, self.trading)
        # REST features through the same session: contracts, market data, portfolio, positions
        self.contracts, self.marketdata = Contracts(self.rest), MarketDataRest(self.rest)
        self.portfolio = Portfolio(self.rest)
        self.positions = LivePositions(self, self.portfolio)

        # Lifecycle, tasks and connection
        self._lifecycle = ClientState.NEW
        self._run_task: asyncio.Task[None] | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._rest_tasks: dict[str, asyncio.Task[Any]] = {}
        self._wake: asyncio.Event | None = None
        self._armed = math.inf  # the deadline the timer sleeps until
        self._ws: WebSocketLike | None = None
        self._session_id: str | None = None
        self._session_checked = False  # a positive auth poll checked the session id just now
        self._fresh_tickle: tuple[TickleInfo, float] | None = None  # announced a new session
        self._outbox: list[str] = []
        self._started: asyncio.Future[None] | None = None
        self._fatal: BaseException | None = None
        self._last_error: BaseException | None = None
        # frames read when the current connection authenticated (None: not yet)
        self._frames_at_auth: int | None = None

        # Metrics of the I/O
        self._counts: Counter[str] = Counter()
        self._frames = 0
        self._bytes = 0

    def __repr__(self) -> str:
        return (
            f"<StreamClient {self.rest.base_url} {self._lifecycle.name} {self.state.name} "
            f"streams={len(self._proto.subscriptions)} frames={self._frames}>"
        )

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def lifecycle(self) -> ClientState:
        """Where the client itself stands (see :class:`ClientState`)."""
        return self._lifecycle

    @property
    def state(self) -> SessionState:
        """The session machine's state."""
        return self._proto.state

    @property
    def protocol(self) -> StreamProtocol:
        """The sans-I/O core (read-only use: state, subscriptions)."""
        return self._proto

    @property
    def router(self) -> Router:
        """The router (live state, consumers, reference counts)."""
        return self._router

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def error(self) -> BaseException | None:
        """The fatal error that stopped the client, if one did (else ``None``)."""
        return self._fatal

    async def start(self, timeout: float | None = None) -> None:
        """Start the session and wait until the gateway authenticated the WebSocket.

        Raises the fatal error if one happens first (bad URL, TLS failure, never authenticated,
        a programming error, with its original traceback) or ``StreamTimeout`` naming the last
        error; either way the client is stopped again, so nothing keeps running in the
        background. A client starts once: ``InvalidState`` if it was started before.
        """
        if self._lifecycle is not ClientState.NEW:
            if self._lifecycle in (ClientState.STARTING, ClientState.RUNNING):
                raise InvalidState("client already started")
            raise InvalidState(
                f"client is {self._lifecycle.name}: a client runs once, create a new one "
                "to connect again"
            )
        self._lifecycle = ClientState.STARTING
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._started = loop.create_future()
        self._run_task = asyncio.create_task(self._run(), name="ibstream-run")
        self._timer_task = asyncio.create_task(self._timer(), name="ibstream-timer")
        wait = self.config.start_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                await asyncio.shield(self._started)
        except TimeoutError as exc:
            error = StreamTimeout(
                f"gateway {self.rest.base_url} not authenticated within {wait} s "
                f"(state {self.state.name}{self._last_error_text()})"
            )
            await self.stop()
            raise error from exc
        except BaseException:
            await self.stop()
            raise

    def _last_error_text(self) -> str:
        err = self._last_error
        return f", last error: {type(err).__name__}: {err}" if err else ""

    async def stop(self) -> None:
        """Unsubscribe nothing upstream (the socket closes), end every consumer, close sockets."""
        if self._lifecycle in (ClientState.STOPPING, ClientState.STOPPED, ClientState.NEW):
            return
        failed = self._lifecycle is ClientState.FAILED
        if failed and self._run_task is None:
            return
        self._lifecycle = ClientState.STOPPING
        self._router.closing = True
        with contextlib.suppress(IBStreamError):
            self._proto.close(self._clock.time())
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        tasks = [t for t in (self._run_task, self._timer_task) if t is not None]
        tasks += list(self._rest_tasks.values())
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._run_task = self._timer_task = None
        self._rest_tasks.clear()
        if self._proto.state is SessionState.CLOSING:
            # the socket is gone: let the session reach CLOSED and tell consumers so
            with contextlib.suppress(IBStreamError):
                self._proto.connection_lost(self._clock.time(), None, "client stopped")
            self._pump()
        self._router.close(self._fatal)
        await self.rest.close()
        if self._started is not None and not self._started.done():
            self._started.set_exception(ClientClosed("client stopped before it was ready"))
            self._started.exception()
        self._lifecycle = ClientState.FAILED if failed else ClientState.STOPPED

    async def __aenter__(self) -> StreamClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def check_running(self) -> None:
        """Raise ``ClientClosed`` (failed) or ``InvalidState`` (not running)."""
        if self._fatal is not None:
            raise ClientClosed(f"client failed: {self._fatal}") from self._fatal
        if self._lifecycle not in (ClientState.STARTING, ClientState.RUNNING):
            raise InvalidState(
                f"client is {self._lifecycle.name}, not running: use 'async with connect(...)' "
                "or start()"
            )

    def snapshot(self, key: StreamKey) -> list[Event]:
        """The current state of stream ``key`` as events of that stream, for a consumer that
        joins it late (see :meth:`ibstream.state.live.LiveState.snapshot`)."""
        return self._router.live.snapshot(key)

    # -- metrics ----------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """A snapshot of counters and gauges (safe to serialise)."""
        counts = self._counts
        out: dict[str, Any] = {
            "state": self.state.name,
            "lifecycle": self._lifecycle.name,
            "frames": self._frames,
            "bytes": self._bytes,
            "reconnects": counts.get("reconnects", 0),
            "connections": counts.get("connections", 0),
            "auth_losses": counts.get("auth_losses", 0),
            "frame_errors": counts.get("frame_errors", 0),
            "timer_errors": counts.get("timer_errors", 0),
            "subscriptions": {str(k): st.name for k, (_, st) in self._proto.subscriptions.items()},
            # REST pacing; the in-memory gateway has no limiter
            "pacing": pacing.metrics() if (pacing := getattr(self.rest, "pacing", None)) else {},
            "suppressed": self._proto.suppressed,
        }
        out.update(self._router.metrics())
        out["rest_latency_seconds"] = latency_of(self.rest)
        return out

    # -- router hooks (RouterHooks) -----------------------------------------------------------

    def wake(self) -> None:
        """Wake the timer task (the core has something to send, or a deadline moved)."""
        if self._wake is not None:
            self._wake.set()

    def session_changed(self, event: SessionStateChanged) -> None:
        current = event.current
        log.info("session %s -> %s (%s)", event.previous.name, current.name, event.reason)
        if current is SessionState.AUTHENTICATED:
            self._frames_at_auth = self._frames
            if self._started is not None and not self._started.done():
                self._lifecycle = ClientState.RUNNING
                self._started.set_result(None)
            if event.previous in _RECOVERING and not self._session_checked:
                # A logout and a fresh login give a new session id: check it now, not at the
                # next keepalive, or we would stay on a socket of the old session (a positive
                # auth poll checks before it resumes; this covers an ``sts`` pushed on the socket).
                self._spawn("tickle", self._tickle())
        elif current is SessionState.AUTH_LOST:
            self._counts["auth_losses"] += 1

    def stream_active(self, key: StreamKey) -> None:
        if key.topic is Topic.ORDERS and self.config.load_orders:
            self._spawn("orders", self._load_orders())

    # -- the run task: reconnect loop -----------------------------------------------------

    async def _run(self) -> None:
        clock = self._clock
        while not self._stopping:
            started = clock.time()
            self._frames_at_auth = None
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = exc
                if self._policy.is_fatal(exc):
                    self._fail(exc)
                    return
                log.warning("connection attempt failed: %s", exc)
            if self._stopping:
                return
            at_auth = self._frames_at_auth
            if at_auth is not None and self._frames > at_auth:
                # authenticated and delivered data: healthy enough, start the backoff again
                self._policy.connection_succeeded()
            else:
                self._policy.connection_healthy_for(clock.time() - started)
            delay = self._policy.next_delay(self._rng)
            self._counts["reconnects"] += 1
            log.info("reconnecting in %.2f s", delay)
            await self._clock.sleep(delay)

    @property
    def _stopping(self) -> bool:
        return self._lifecycle not in (ClientState.STARTING, ClientState.RUNNING)

    def _fail(self, exc: BaseException) -> None:
        log.error("fatal: %r", exc)
        self._fatal = exc
        self._lifecycle = ClientState.FAILED
        self._router.closing = True
        if self._started is not None and not self._started.done():
            self._started.set_exception(exc)
            self._started.exception()
        self._router.close(exc)

    async def _connect_once(self) -> None:
        proto = self._proto
        clock = self._clock
        proto.connecting(clock.time())
        self._pump()
        try:
            info = await self._tickle_for_connect()
            self._session_id = info.session_id
            ws = await self.rest.ws_connect(info.session_id, heartbeat=self.config.ws_ping_interval)
        except BaseException:
            proto.connection_lost(clock.time(), None, "connect failed")
            self._pump()
            raise
        self._ws = ws
        self._counts["connections"] += 1
        log.info("connected to %s (session %s)", self.rest.ws_url, mask(info.session_id))
        code: int | None = None
        reason = ""
        try:
            proto.connection_made(clock.time(), info.session_id)
            self._pump()
            await self._flush()
            if isinstance(ws, BatchSocket):  # picows: every received frame in one call
                code, reason = await self._read_batches(ws, _BATCH)
            else:
                code, reason = await self._read_loop(ws)
        finally:
            self._ws = None
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
            if code is None:
                code = ws.close_code
            if not self._stopping:
                proto.connection_lost(clock.time(), code, reason)
                self._pump()
            log.info("disconnected (code=%s, reason=%r)", code, reason)

    async def _read_loop(self, ws: WebSocketLike) -> tuple[int | None, str]:
        """Feed frames to the protocol and route (``_pump``) once per batch: while more frames
        are already received (``_backlog``), they are collected first, then fed together
        (``StreamProtocol.receive_frames``) and their events dispatched together (at most
        ``_BATCH`` frames; then the loop yields once: ``receive()`` returns buffered frames
        without suspending, so a whole socket read would otherwise be routed before the timer,
        writers or consumers run)."""
        receive_frames = self._proto.receive_frames
        pump = self._pump
        clock = self._clock.time
        text_t = aiohttp.WSMsgType.TEXT
        binary_t = aiohttp.WSMsgType.BINARY
        backlog = _backlog(ws)
        batch: list[str | bytes] = []

        def route() -> None:
            try:
                for _, exc in receive_frames(batch, clock()):
                    self._frame_failed(exc)  # a core bug costs neither connection nor batch
            finally:  # never leave decoded events unrouted, nor a frame to be fed twice
                batch.clear()
                pump()

        try:
            while True:
                msg = await ws.receive()
                mtype = msg.type
                if mtype is text_t or mtype is binary_t:
                    data = msg.data
                    self._frames += 1
                    self._bytes += len(data)
                    if self._frame_listeners:
                        self._tap("in", data, clock(), mtype is binary_t)
                    batch.append(data)
                    if backlog and len(batch) < _BATCH:
                        continue  # more frames are here already: route them together
                    route()
                    if self._outbox:
                        await self._flush()
                    elif backlog:  # a full batch and still more: let the other tasks run
                        await asyncio.sleep(0)
                    continue
                if batch:
                    route()
                if mtype is aiohttp.WSMsgType.ERROR:
                    return ws.close_code, f"error: {ws.exception()}"
                # CLOSE, CLOSING, CLOSED
                return ws.close_code, str(msg.extra or "")
        finally:
            if batch:  # never leave received frames unprocessed (cancellation, errors)
                route()

    def _frame_failed(self, exc: Exception) -> None:
        self._counts["frame_errors"] += 1
        log.error("processing a frame failed (isolated; the session goes on): %r", exc)
        self._router.report_failure(None, "frame", exc)

    # -- the timer task: the only timer -----------------------------------------------------

    async def _timer(self) -> None:
        assert self._wake is not None
        wake = self._wake
        proto = self._proto
        clock = self._clock
        while True:
            wake.clear()
            try:
                proto.tick(clock.time())
            except Exception as exc:  # a core bug must not stop the only timer
                self._counts["timer_errors"] += 1
                log.error("protocol tick failed (isolated; retried in 1 s): %r", exc)
                self._router.report_failure(None, "tick", exc)
                self._pump()
                await clock.wait(wake, 1.0)
                continue
            self._pump()
            await self._flush()
            deadline = proto.next_deadline()
            if deadline is None:
                self._armed = math.inf
                await clock.wait(wake, None)
            else:
                self._armed = deadline
                await clock.wait(wake, max(0.0, deadline - clock.time()) + 0.001)

    def _rearm(self) -> None:
        """Wake the timer if a deadline moved before the one it sleeps until."""
        deadline = self._proto.next_deadline()
        if deadline is not None and deadline < self._armed:
            self._armed = deadline
            self.wake()

    # -- output of the protocol: events, writes (actions: ibstream.aio.actions) -------------

    async def _flush(self) -> None:
        if not self._outbox:
            return
        out, self._outbox = self._outbox, []
        ws = self._ws
        if ws is None or ws.closed:
            return
        for text in out:
            if self._frame_listeners:
                self._tap("out", text, self._clock.time(), False)
            try:
                await ws.send_str(text)
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                log.info("send failed (%s); the read loop will notice the close", exc)
                return

    def _pump(self) -> None:
        proto = self._proto
        events = proto.events_received()
        if events and self._dispatch(events):
            self._rearm()  # a state change may have moved a deadline earlier
        if proto.has_output:  # most frames are data only: skip two drains
            out = proto.data_to_send()
            if out:
                self._outbox.extend(out)
                self.wake()
            actions = proto.actions_requested()
            if actions:
                self._act(actions)
