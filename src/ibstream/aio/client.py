"""The asyncio client: a thin driver around the sans-I/O ``StreamProtocol``.

One event loop, three kinds of task and no threads:

* the **run task** is the reconnect loop: ``/tickle`` for the session id, WebSocket handshake with
  the session cookie, then the read loop (feed frame -> drain events -> flush writes -> dispatch),
  then backoff with jitter and again, until stopped or a fatal error;
* the **control task** is the only timer: it sleeps until ``protocol.next_deadline()`` (or until
  woken by a subscribe/unsubscribe), calls ``protocol.tick(now)`` and flushes;
* short **REST tasks** carry out the protocol's actions (keepalive ``/tickle``, auth-status polls,
  re-authentication), at most one of each kind at a time.

Everything the protocol decides (when to send ``tic``, when a heartbeat is overdue, when to renew
market data, what to re-send after a reconnect, when a stream had a gap) lives in the core; this
module only does I/O and delivery. See docs/architecture.md for the data flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ibstream.aio.buffer import EventBuffer
from ibstream.aio.contracts import Contracts
from ibstream.aio.marketdata import MarketDataRest
from ibstream.aio.portfolio import LivePositions, Portfolio
from ibstream.aio.rest import GatewayRest, WebSocketLike
from ibstream.aio.subscription import EventStream, Subscription
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import (
    ClientClosed,
    IBStreamError,
    InvalidState,
    NotAuthenticated,
    StreamTimeout,
    SubscriptionConflict,
)
from ibstream.masking import mask
from ibstream.protocol.connection import ProtocolConfig, StreamProtocol
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    MarketData,
    OrderUpdate,
    Pnl,
    Trade,
)
from ibstream.protocol.lifecycle import (
    Fatal,
    PollAuthStatus,
    Reauthenticate,
    Reconnect,
    SessionStateChanged,
    SubscriptionStateChanged,
    Tickle,
)
from ibstream.protocol.session import SessionState
from ibstream.protocol.specs import MarketDataSpec, Spec, StreamKey, Topic
from ibstream.protocol.subscriptions import SubscriptionState
from ibstream.state import AccountState, OrderBook, Ticker, Tickers, TradeBook

__all__ = ["ClientConfig", "StreamClient", "connect"]

log = logging.getLogger("ibstream.client")

Callback = Callable[[Any], object]
#: ``listener(direction, data, now, binary)``: direction ``"in"`` (gateway -> us) or ``"out"``.
FrameListener = Callable[[str, bytes | str, float, bool], object]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Settings of the asyncio client (timing of the session itself is in ``protocol``)."""

    #: Session timing and subscription rules of the sans-I/O core.
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    #: Builds the reconnect policy (backoff with jitter, fatal-error classifier).
    reconnect: Callable[[], ReconnectPolicy] = ReconnectPolicy
    #: Per-consumer buffer size (events); see ``EventBuffer`` for the overflow policies.
    buffer_size: int = 10_000
    #: Timeout of one REST request and of the WebSocket handshake.
    request_timeout: float = 10.0
    #: ``start()`` waits this long for the first authenticated session.
    start_timeout: float = 30.0
    #: Seed the order book from ``GET /iserver/account/orders`` when orders are subscribed.
    load_orders: bool = True
    #: WebSocket ping interval (aiohttp answers pongs; a missing pong closes the socket).
    ws_ping_interval: float | None = 10.0


def connect(
    url: str = "https://localhost:5000/v1/api",
    *,
    verify: bool = True,
    cacert: str | None = None,
    config: ClientConfig | None = None,
) -> StreamClient:
    """A client for the gateway at ``url``; use as ``async with connect(url) as client:``.

    TLS verification is on by default. For the gateway's self-signed certificate pass
    ``cacert="gateway.pem"`` (verify against that certificate) or ``verify=False``.
    """
    return StreamClient(url, verify=verify, cacert=cacert, config=config)


class StreamClient:
    """Owns one gateway session: keepalive, heartbeats, reconnects, resubscription, delivery.

    Events (delivered to ``events()`` streams, to subscription handles of the matching stream and
    to callbacks registered with ``on``): every decoded gateway event (``MarketData``,
    ``OrderUpdate``, ``Trade``, ``Pnl``, ``AuthStatus``, ``Bulletin``, ``Notification``,
    ``ErrorMessage``, ``Malformed`` ...) and the lifecycle events ``SessionStateChanged``,
    ``SubscriptionStateChanged`` and ``Gap``.
    """

    def __init__(
        self,
        url: str = "https://localhost:5000/v1/api",
        *,
        verify: bool = True,
        cacert: str | None = None,
        config: ClientConfig | None = None,
        rest: GatewayRest | None = None,
    ) -> None:
        self.config = config or ClientConfig()
        tls_verify: bool | str = cacert if cacert else verify
        #: the REST side and WebSocket handshake; tests pass ``ibstream.aio.memory.MemoryGateway``
        self.rest: GatewayRest = rest or GatewayRest(
            url, verify=tls_verify, timeout=self.config.request_timeout
        )
        self._proto = StreamProtocol(self.config.protocol)
        self._policy = self.config.reconnect()
        self._rng = random.Random()

        # Consumers
        self._handles: dict[StreamKey, list[Subscription]] = {}
        # the buffers data events go to, per stream (handles subscribed with buffer=False
        # hold the stream in _handles but are not fed)
        self._feeds: dict[StreamKey, list[EventBuffer]] = {}
        self._streams: list[EventBuffer] = []
        self._callbacks: dict[type | None, list[Callback]] = {}
        self._frame_listeners: list[FrameListener] = []

        # Live state (pure objects from ibstream.state)
        self.tickers = Tickers()
        self.orders = OrderBook()
        self.trades = TradeBook()
        self.account = AccountState()
        # --- REST features (issue 12): contracts, market data, portfolio, live positions ---
        self.contracts = Contracts(self.rest)
        self.marketdata = MarketDataRest(self.rest)
        self.portfolio = Portfolio(self.rest)
        self.positions = LivePositions(self, self.portfolio)
        # --- end issue 12 ---

        # Tasks and connection
        self._run_task: asyncio.Task[None] | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._rest_tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._ws: WebSocketLike | None = None
        self._session_id: str | None = None
        self._outbox: list[str] = []
        self._started: asyncio.Future[None] | None = None
        self._stopping = False
        self._fatal: BaseException | None = None
        self._last_error: BaseException | None = None

        # Metrics
        self._counts: Counter[str] = Counter()
        self._frames = 0
        self._bytes = 0
        self._lag_last_ms = 0.0
        self._lag_max_ms = 0.0
        self._lag_ewma_ms = 0.0
        self._md_seen = 0
        # events by class; names are made in metrics() (cheaper than a str key per event)
        self._type_counts: dict[type, int] = {}
        # the registry's own dict: one C-level lookup per frame on the hot path
        self._ticker_map: dict[int, Ticker] = self.tickers._tickers

    def __repr__(self) -> str:
        return (
            f"<StreamClient {self.rest.base_url} {self.state.name} "
            f"streams={len(self._handles)} frames={self._frames}>"
        )

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._proto.state

    @property
    def protocol(self) -> StreamProtocol:
        """The sans-I/O core (read-only use: state, subscriptions)."""
        return self._proto

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def error(self) -> BaseException | None:
        """The fatal error that stopped the client, if one did (else ``None``)."""
        return self._fatal

    async def start(self, timeout: float | None = None) -> None:
        """Start the session and wait until the gateway authenticated the WebSocket.

        Raises the fatal error if one happens first (bad URL, TLS failure, never authenticated)
        or ``StreamTimeout`` naming the last error; either way the client is stopped again, so
        nothing keeps running in the background.
        """
        if self._run_task is not None:
            raise InvalidState("client already started")
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._started = loop.create_future()
        self._stopping = False
        self._run_task = asyncio.create_task(self._run(), name="ibstream-run")
        self._control_task = asyncio.create_task(self._control(), name="ibstream-control")
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
        if self._stopping and self._run_task is None:
            return
        self._stopping = True
        now = time.time()
        with contextlib.suppress(IBStreamError):
            self._proto.close(now)
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        tasks = [t for t in (self._run_task, self._control_task) if t is not None]
        tasks += list(self._rest_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._run_task = self._control_task = None
        self._rest_tasks.clear()
        if self._proto.state is SessionState.CLOSING:
            # the socket is gone: let the session reach CLOSED and tell consumers so
            with contextlib.suppress(IBStreamError):
                self._proto.connection_lost(time.time(), None, "client stopped")
            self._pump()
        self._close_consumers(self._fatal)
        await self.rest.close()
        if self._started is not None and not self._started.done():
            self._started.set_exception(ClientClosed("client stopped before it was ready"))
            self._started.exception()

    async def __aenter__(self) -> StreamClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _close_consumers(self, error: BaseException | None) -> None:
        for handles in self._handles.values():
            for handle in handles:
                handle._closed_by_client(error)
        self._handles.clear()
        self._feeds.clear()
        for buf in self._streams:
            buf.close(error)
        self._streams.clear()

    # -- consumer API ---------------------------------------------------------------------

    def subscribe(
        self,
        spec: Spec,
        *,
        replace: bool = False,
        maxsize: int | None = None,
        buffer: bool = True,
    ) -> Subscription:
        """Subscribe to a stream; returns a handle (async iterator + async context manager).

        With ``buffer=False`` the handle only holds the stream (``ready()``, ``state``,
        ``unsubscribe()``) and keeps no events: for consumers that read through ``on(...)``
        callbacks or ``events()``, so nothing fills a buffer nobody reads.

        Idempotent and shared: consumers of the same stream (same ``StreamKey``) share one
        upstream subscription. Market-data specs for a live conid with other fields are merged
        (the union of fields is requested); other parameter changes raise
        ``SubscriptionConflict`` unless ``replace=True``.
        """
        self._check_running()
        key = spec.key
        live = self._proto.subscriptions.get(key)
        now = time.time()
        if live is None:
            self._proto.subscribe(spec, now)
        elif live[0] != spec:
            if isinstance(spec, MarketDataSpec) and isinstance(live[0], MarketDataSpec):
                merged = MarketDataSpec(
                    spec.conid,
                    fields=tuple(dict.fromkeys(live[0].fields + spec.fields)),
                    exchange=spec.exchange or live[0].exchange,
                )
                if merged != live[0]:
                    self._proto.subscribe(merged, now, replace=True)
                spec = merged
            elif replace:
                self._proto.subscribe(spec, now, replace=True)
            else:
                raise SubscriptionConflict(
                    f"{key} is live with {live[0]!r}; pass replace=True to replace it with {spec!r}"
                )
        buf = EventBuffer(maxsize or self.config.buffer_size, name=str(key))
        handle = Subscription(self, spec, buf)
        handle.state = self._proto.subscriptions[key][1]
        self._handles.setdefault(key, []).append(handle)
        if buffer:
            self._feeds.setdefault(key, []).append(buf)
        else:
            buf.close()  # iterating it ends at once
        if handle.state is SubscriptionState.ACTIVE:
            handle._set_state(handle.state, "already active")
        self._kick()
        return handle

    def _release(self, handle: Subscription) -> None:
        handles = self._handles.get(handle.key)
        if not handles or handle not in handles:
            return
        handles.remove(handle)
        feeds = self._feeds.get(handle.key)
        if feeds is not None and handle.buffer in feeds:
            feeds.remove(handle.buffer)
            if not feeds:
                del self._feeds[handle.key]
        if not handles:
            del self._handles[handle.key]
            if not self._stopping:
                with contextlib.suppress(IBStreamError):
                    self._proto.unsubscribe(handle.key, time.time())
                self._kick()

    async def _flush_soon(self) -> None:
        self._kick()
        await asyncio.sleep(0)

    def events(self, *, maxsize: int | None = None) -> EventStream:
        """Every event: data, lifecycle, auth, bulletins, notifications, errors."""
        self._check_running()
        buf = EventBuffer(maxsize or self.config.buffer_size, name="events")
        self._streams.append(buf)
        return EventStream(buf, on_close=lambda s: self._drop_stream(s.buffer))

    def _drop_stream(self, buf: EventBuffer) -> None:
        with contextlib.suppress(ValueError):
            self._streams.remove(buf)

    def on(self, event_type: type | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``event_type`` (``None``: every event).

        Callbacks run on the event loop, synchronously: keep them short. A callback that raises
        is logged and counted (``metrics()["callback_errors"]``); delivery goes on.
        Returns a function that removes the callback.
        """
        self._callbacks.setdefault(event_type, []).append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks[event_type].remove(callback)

        return remove

    def on_frame(self, listener: FrameListener) -> Callable[[], None]:
        """Call ``listener(direction, data, now, binary)`` for every raw frame, both directions,
        before decoding (recorders use this; see ``ibstream.aio.recorder``). A listener that
        raises is logged and counted like a callback. Returns a function that removes it."""
        self._frame_listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._frame_listeners.remove(listener)

        return remove

    def _tap(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        for fn in self._frame_listeners:
            try:
                fn(direction, data, now, binary)
            except Exception:
                self._counts["callback_errors"] += 1
                log.exception("frame listener %r failed", fn)

    def ticker(self, conid: int) -> Ticker:
        """The live ``Ticker`` of ``conid`` (updated in place as market data arrives)."""
        return self.tickers.get_or_create(conid)

    def _check_running(self) -> None:
        if self._fatal is not None:
            raise ClientClosed(f"client failed: {self._fatal}") from self._fatal
        if self._run_task is None or self._stopping:
            raise InvalidState("client is not running: use 'async with connect(...)' or start()")

    # -- metrics ----------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """A snapshot of counters and gauges (safe to serialise)."""
        counts = dict(self._counts)
        events = {cls.__name__: n for cls, n in self._type_counts.items()}
        buffers = [b for hs in self._handles.values() for b in (h.buffer for h in hs)]
        buffers += self._streams
        return {
            "state": self.state.name,
            "frames": self._frames,
            "bytes": self._bytes,
            "events": events,
            "decode_errors": events.get("Malformed", 0),
            "reconnects": counts.get("reconnects", 0),
            "connections": counts.get("connections", 0),
            "auth_losses": counts.get("auth_losses", 0),
            "gaps": events.get("Gap", 0),
            "callback_errors": counts.get("callback_errors", 0),
            "conflated": sum(b.conflated for b in buffers),
            "overflows": sum(1 for b in buffers if b.overflowed),
            "queue_depth_max": max((len(b) for b in buffers), default=0),
            "queue_depth_total": sum(len(b) for b in buffers),
            "subscriptions": {str(k): st.name for k, (_, st) in self._proto.subscriptions.items()},
            "consumers": sum(len(h) for h in self._handles.values()) + len(self._streams),
            "lag_ms": {
                "last": round(self._lag_last_ms, 3),
                "max": round(self._lag_max_ms, 3),
                "ewma": round(self._lag_ewma_ms, 3),
            },
            # REST pacing (issue 12); the in-memory gateway has no limiter
            "pacing": pacing.metrics() if (pacing := getattr(self.rest, "pacing", None)) else {},
        }

    # -- the run task: reconnect loop -----------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
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
            self._policy.connection_healthy_for(loop.time() - started)
            delay = self._policy.next_delay(self._rng)
            self._counts["reconnects"] += 1
            log.info("reconnecting in %.2f s", delay)
            await asyncio.sleep(delay)

    def _fail(self, exc: BaseException) -> None:
        log.error("fatal: %s", exc)
        self._fatal = exc
        self._stopping = True
        if self._started is not None and not self._started.done():
            self._started.set_exception(exc)
            self._started.exception()
        self._close_consumers(exc)

    async def _connect_once(self) -> None:
        proto = self._proto
        proto.connecting(time.time())
        self._pump()
        try:
            info = await self.rest.tickle()
            self._session_id = info.session_id
            ws = await self.rest.ws_connect(info.session_id, heartbeat=self.config.ws_ping_interval)
        except BaseException:
            proto.connection_lost(time.time(), None, "connect failed")
            self._pump()
            raise
        self._ws = ws
        self._counts["connections"] += 1
        log.info("connected to %s (session %s)", self.rest.ws_url, mask(info.session_id))
        code: int | None = None
        reason = ""
        try:
            proto.connection_made(time.time(), info.session_id)
            self._pump()
            await self._flush()
            code, reason = await self._read_loop(ws)
        finally:
            self._ws = None
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
            if code is None:
                code = ws.close_code
            if not self._stopping:
                proto.connection_lost(time.time(), code, reason)
                self._pump()
            log.info("disconnected (code=%s, reason=%r)", code, reason)

    async def _read_loop(self, ws: WebSocketLike) -> tuple[int | None, str]:
        proto = self._proto
        receive_frame = proto.receive_frame
        pump = self._pump
        clock = time.time
        text_t = aiohttp.WSMsgType.TEXT
        binary_t = aiohttp.WSMsgType.BINARY
        while True:
            msg = await ws.receive()
            mtype = msg.type
            if mtype is text_t or mtype is binary_t:
                data = msg.data
                self._frames += 1
                self._bytes += len(data)
                now = clock()
                if self._frame_listeners:
                    self._tap("in", data, now, mtype is binary_t)
                receive_frame(data, now)
                pump()
                if self._outbox:
                    await self._flush()
                continue
            if mtype is aiohttp.WSMsgType.ERROR:
                return ws.close_code, f"error: {ws.exception()}"
            # CLOSE, CLOSING, CLOSED
            return ws.close_code, str(msg.extra or "")

    # -- the control task: the only timer ---------------------------------------------------

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _control(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while True:
            now = time.time()
            self._proto.tick(now)
            self._pump()
            await self._flush()
            deadline = self._proto.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout if timeout is None else timeout + 0.001):
                    await wake.wait()

    # -- output of the protocol: events, writes, actions -------------------------------------

    async def _flush(self) -> None:
        if not self._outbox:
            return
        out, self._outbox = self._outbox, []
        ws = self._ws
        if ws is None or ws.closed:
            return
        for text in out:
            if self._frame_listeners:
                self._tap("out", text, time.time(), False)
            try:
                await ws.send_str(text)
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                log.info("send failed (%s); the read loop will notice the close", exc)
                return

    def _pump(self) -> None:
        proto = self._proto
        events = proto.events_received()
        if events:
            self._dispatch(events)
        if proto.has_output:  # most frames are data only: skip two drains
            out = proto.data_to_send()
            if out:
                self._outbox.extend(out)
                self._kick()
            actions = proto.actions_requested()
            if actions:
                self._act(actions)

    def _act(self, actions: Iterable[object]) -> None:
        for action in actions:
            log.debug("action %r", action)
            if isinstance(action, Reconnect):
                log.info("reconnect requested: %s", action.reason)
                ws = self._ws
                if ws is not None and not ws.closed:
                    self._spawn("close", ws.close(code=4000, message=action.reason.encode()[:100]))
            elif isinstance(action, PollAuthStatus):
                self._spawn("auth", self._poll_auth())
            elif isinstance(action, Tickle):
                self._spawn("tickle", self._tickle())
            elif isinstance(action, Reauthenticate):
                self._spawn("reauth", self._reauthenticate())
            elif isinstance(action, Fatal):
                self._fail(action.error)
                self._spawn("stop", self._stop_after_fatal())

    async def _stop_after_fatal(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    def _spawn(self, kind: str, coro: Any) -> None:
        if kind in self._rest_tasks and not self._rest_tasks[kind].done():
            coro.close()
            return
        task = asyncio.create_task(coro, name=f"ibstream-{kind}")
        self._rest_tasks[kind] = task
        task.add_done_callback(self._rest_done)

    def _rest_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("%s failed: %s", task.get_name(), exc)

    async def _poll_auth(self) -> None:
        try:
            auth = await self.rest.auth_status()
        except NotAuthenticated:
            self._proto.auth_status_polled(time.time(), False, False, False)
        else:
            self._proto.auth_status_polled(
                time.time(), auth.authenticated, auth.competing, auth.connected
            )
        self._pump()
        await self._flush()

    async def _tickle(self) -> None:
        try:
            info = await self.rest.tickle()
        except NotAuthenticated:
            self._proto.auth_status_polled(time.time(), False, False, False)
            self._pump()
            return
        if self._session_id is not None and info.session_id != self._session_id:
            log.warning(
                "gateway session changed (%s -> %s): reconnecting with the new cookie",
                mask(self._session_id),
                mask(info.session_id),
            )
            self._act([Reconnect(reason="session id changed")])

    async def _reauthenticate(self) -> None:
        await self.rest.reauthenticate()

    def _dispatch(self, events: list[Any]) -> None:
        counts = self._type_counts
        handles = self._handles
        feeds = self._feeds
        streams = self._streams
        callbacks = self._callbacks
        tickers = self._ticker_map
        for ev in events:
            cls = ev.__class__
            counts[cls] = counts.get(cls, 0) + 1
            if cls is MarketData:  # the hot path
                ticker = tickers.get(ev.conid)
                if ticker is None:
                    ticker = self.tickers.get_or_create(ev.conid)
                ticker.merge(ev)
                self._md_seen += 1
                if (
                    self._md_seen & 63 == 1
                ):  # lag sampled (1st, 65th, ...): a clock read is not free
                    self._sample_lag(ev.updated_ms)
                bufs = feeds.get(ev.key)
                if bufs is not None:
                    for buf in bufs:
                        buf.put(ev)
                for buf in streams:
                    buf.put(ev)
                if callbacks:
                    self._run_callbacks(cls, ev)
                continue
            if cls is OrderUpdate:
                self.orders.apply(ev)
            elif cls is Trade:
                self.trades.apply(ev)
            elif cls is Pnl or cls is AccountSummary or cls is AccountLedger:
                self.account.apply(ev)
            elif cls is SubscriptionStateChanged:
                for h in handles.get(ev.key, ()):
                    h._set_state(ev.current, ev.reason)
                if ev.current is SubscriptionState.ACTIVE and ev.key.topic is Topic.ORDERS:
                    self._maybe_load_orders()
            elif cls is SessionStateChanged:
                self._on_session_state(ev)
            key = getattr(ev, "key", None)
            if key is not None:
                for buf in feeds.get(key, ()):
                    buf.put(ev)
            for buf in streams:
                buf.put(ev)
            if callbacks:
                self._run_callbacks(cls, ev)

    def _sample_lag(self, updated_ms: int | None) -> None:
        if not updated_ms:
            return
        lag = time.time() * 1000.0 - updated_ms
        self._lag_last_ms = lag
        if lag > self._lag_max_ms:
            self._lag_max_ms = lag
        self._lag_ewma_ms += (lag - self._lag_ewma_ms) * 0.1

    def _run_callbacks(self, cls: type, ev: Any) -> None:
        for fn in (*self._callbacks.get(cls, ()), *self._callbacks.get(None, ())):
            try:
                fn(ev)
            except Exception:
                self._counts["callback_errors"] += 1
                log.exception("callback %r failed on %s", fn, cls.__name__)

    def _on_session_state(self, ev: SessionStateChanged) -> None:
        current = ev.current
        log.info("session %s -> %s (%s)", ev.previous.name, current.name, ev.reason)
        if current is SessionState.AUTHENTICATED:
            if self._started is not None and not self._started.done():
                self._started.set_result(None)
        elif current is SessionState.AUTH_LOST:
            self._counts["auth_losses"] += 1

    def _maybe_load_orders(self) -> None:
        if self.config.load_orders:
            self._spawn("orders", self._load_orders())

    async def _load_orders(self) -> None:
        orders = await self.rest.orders(force=True)
        self.orders.load_rest(orders)
