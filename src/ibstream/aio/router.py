"""The router: synchronous and I/O-free, it turns the protocol's events into delivered events.

For every batch of events the driver drained from the core, :meth:`Router.dispatch`:

1. applies each event to the **live state** (``tickers``, ``orders``, ``trades``, ``account``
   from :mod:`ibstream.state`); an exception from applying one event is isolated: it is counted
   (``apply_errors``), reported as :class:`~ibstream.protocol.lifecycle.ApplyFailed`, and the event
   and its neighbours are still delivered;
2. **fans it out** to the consumers: the buffers of the subscription handles of its stream, the
   ``events()`` streams, and ``on(...)`` callbacks (a callback that raises is counted and logged).

The router also holds **the one reference count** of upstream streams: a handle per consumer,
the upstream subscription lives while one handle does. The sharing rule (which spec serves two
consumers of one stream) is :func:`ibstream.protocol.specs.effective_spec`. The router never
awaits, sleeps or reads a socket; it tells the driver through two callbacks: ``wake`` (the core
has something to send) and ``hooks`` (session state, a stream became active).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from ibstream.aio.buffer import EventBuffer
from ibstream.aio.subscription import ClientEvent, EventStream, Subscription
from ibstream.exceptions import IBStreamError, SubscriptionConflict
from ibstream.histogram import LAG_BUCKETS, Histogram
from ibstream.protocol.connection import StreamProtocol
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    MarketData,
    OrderUpdate,
    Pnl,
    Trade,
    TradeUpdated,
)
from ibstream.protocol.lifecycle import (
    ApplyFailed,
    ProtocolEvent,
    SessionStateChanged,
    SubscriptionState,
    SubscriptionStateChanged,
)
from ibstream.protocol.specs import Spec, StreamKey, effective_spec
from ibstream.state import Ticker
from ibstream.state.live import LiveState

__all__ = ["Callback", "Feed", "Router", "RouterHooks"]

log = logging.getLogger("ibstream.client")

Callback = Callable[[Any], object]


class Feed(Protocol):
    """Where a handle's events go: its own ``EventBuffer``, or a consumer's fan-out (the service
    hub's upstream). ``put`` must never block or raise."""

    def put(self, event: Any, /) -> None: ...


class RouterHooks(Protocol):
    """What the router tells its driver (all synchronous)."""

    def wake(self) -> None:
        """The core has output (a subscribe, an unsubscribe): flush it soon."""

    def check_running(self) -> None:
        """Raise if consumers may not be added now (client not running, or failed)."""

    def session_changed(self, event: SessionStateChanged) -> None:
        """The session machine moved."""

    def stream_active(self, key: StreamKey) -> None:
        """A stream was confirmed (the driver may load REST state for it)."""


class Router:
    """Live state, consumers and the reference count of one client. See the module docstring."""

    def __init__(
        self,
        proto: StreamProtocol,
        hooks: RouterHooks,
        *,
        clock: Callable[[], float],
        buffer_size: int,
        live: LiveState | None = None,
    ) -> None:
        self._proto = proto
        self._hooks = hooks
        self._clock = clock
        self.buffer_size = buffer_size
        #: set by the driver once stopping: releases no longer unsubscribe upstream
        self.closing = False

        # Live state (pure objects from ibstream.state; the client's bounds, or the defaults)
        self.live = live if live is not None else LiveState()
        self.tickers = self.live.tickers
        self.orders = self.live.orders
        self.trades = self.live.trades
        self.account = self.live.account
        # the registry's own dict: one C-level lookup per frame on the hot path
        self._ticker_map: dict[int, Ticker] = self.tickers._tickers

        # Consumers; the handles per key are the reference count
        self._handles: dict[StreamKey, list[Subscription[Any]]] = {}
        # where events of a stream go: handle buffers and external feeds (a handle subscribed
        # with buffer=False holds the stream in _handles and feeds nothing)
        self._feeds: dict[StreamKey, list[Feed]] = {}
        # the same lists by id(key) -> (key, feeds): StreamKey hashes in Python, id() in C, and
        # the decoder hands out the interned key objects (StreamKey.of); a miss (another object
        # equal to the key) falls back to _feeds. Rebuilt whenever _feeds gains or loses a key.
        self._feeds_by_id: dict[int, tuple[StreamKey, list[Feed]]] = {}
        self._feed_of: dict[Subscription[Any], Feed] = {}
        self._streams: list[EventBuffer] = []
        self._callbacks: dict[type | None, list[Callback]] = {}
        # the callbacks a MarketData event goes to (its own, then every-event ones), kept by on()
        self._md_callbacks: tuple[Callback, ...] = ()

        # Figures
        self.counts: Counter[str] = Counter()
        # events by class; names are made in metrics() (cheaper than a str key per event);
        # MarketData events are counted in _md_seen only (the hot path keeps one counter)
        self._type_counts: dict[type, int] = {}
        self._md_seen = 0
        self.lag_last_ms = 0.0
        self.lag_max_ms = 0.0
        self.lag_ewma_ms = 0.0
        #: sampled market-data lag in seconds (``metrics()["lag_seconds"]``)
        self.lag = Histogram(LAG_BUCKETS)

    def __repr__(self) -> str:
        return (
            f"<Router streams={len(self._handles)} consumers={self.consumer_count} "
            f"callbacks={sum(len(c) for c in self._callbacks.values())}>"
        )

    # -- consumers ------------------------------------------------------------------------------

    def subscribe(
        self,
        spec: Spec,
        *,
        replace: bool = False,
        maxsize: int | None = None,
        buffer: bool = True,
        feed: Feed | None = None,
    ) -> Subscription[Any]:
        """A new handle on ``spec``'s stream (see ``StreamClient.subscribe``). With ``feed`` the
        stream's events go to ``feed.put`` instead of the handle's buffer (the handle then only
        holds the stream: how the service hub consumes the router)."""
        self._hooks.check_running()
        key = spec.key
        proto = self._proto
        live = proto.subscriptions.get(key)
        now = self._clock()
        if live is None:
            proto.subscribe(spec, now)
        else:
            effective = effective_spec(live[0], spec)
            if effective is None:
                if not replace:
                    raise SubscriptionConflict(
                        f"{key} is live with {live[0]!r}; pass replace=True to replace it "
                        f"with {spec!r}"
                    )
                proto.subscribe(spec, now, replace=True)
            else:
                if effective is not live[0]:
                    proto.subscribe(effective, now, replace=True)
                spec = effective
        buf = EventBuffer(maxsize or self.buffer_size, name=str(key))
        handle: Subscription[Any] = Subscription(self, spec, buf)
        handle.state = proto.subscriptions[key][1]
        self._handles.setdefault(key, []).append(handle)
        target: Feed | None = feed if feed is not None else (buf if buffer else None)
        if target is not None:
            feeds = self._feeds.get(key)
            if feeds is None:
                feeds = self._feeds[key] = []
                self._index_feeds()
            feeds.append(target)
            self._feed_of[handle] = target
        if target is not buf:
            buf.close()  # iterating it ends at once
        if handle.state is SubscriptionState.ACTIVE:
            handle._set_state(handle.state, "already active")
        self._hooks.wake()
        return handle

    def release(self, handle: Subscription[Any]) -> None:
        """Drop ``handle``'s reference; the last one out unsubscribes upstream."""
        handles = self._handles.get(handle.key)
        if not handles or handle not in handles:
            return
        handles.remove(handle)
        target = self._feed_of.pop(handle, None)
        feeds = self._feeds.get(handle.key)
        if feeds is not None and target is not None:
            with contextlib.suppress(ValueError):
                feeds.remove(target)
            if not feeds:
                del self._feeds[handle.key]
                self._index_feeds()
        if not handles:
            del self._handles[handle.key]
            if not self.closing:
                with contextlib.suppress(IBStreamError):
                    self._proto.unsubscribe(handle.key, self._clock())
                self._hooks.wake()

    def _index_feeds(self) -> None:
        by_id = self._feeds_by_id  # updated in place: a dispatch in progress sees the change
        by_id.clear()
        by_id.update((id(k), (k, feeds)) for k, feeds in self._feeds.items())

    def holders(self, key: StreamKey) -> int:
        """How many handles hold ``key``'s stream (the reference count)."""
        return len(self._handles.get(key, ()))

    def events(self, *, maxsize: int | None = None) -> EventStream[ClientEvent]:
        """A stream of every event."""
        self._hooks.check_running()
        buf = EventBuffer(maxsize or self.buffer_size, name="events")
        self._streams.append(buf)
        return EventStream(buf, on_close=self._drop_stream)

    def _drop_stream(self, stream: EventStream[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._streams.remove(stream.buffer)

    def on(self, event_type: type | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``event_type`` (``None``: every event)."""
        self._callbacks.setdefault(event_type, []).append(callback)
        self._md_callbacks = self._callbacks_for(MarketData)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks[event_type].remove(callback)
            self._md_callbacks = self._callbacks_for(MarketData)

        return remove

    def _callbacks_for(self, cls: type) -> tuple[Callback, ...]:
        return (*self._callbacks.get(cls, ()), *self._callbacks.get(None, ()))

    def close(self, error: BaseException | None) -> None:
        """End every consumer (with ``error`` if the client failed)."""
        self.closing = True
        for handles in self._handles.values():
            for handle in handles:
                handle._closed_by_client(error)
        self._handles.clear()
        self._feeds.clear()
        self._index_feeds()
        self._feed_of.clear()
        for buf in self._streams:
            buf.close(error)
        self._streams.clear()

    @property
    def consumer_count(self) -> int:
        return sum(len(h) for h in self._handles.values()) + len(self._streams)

    def buffers(self) -> list[EventBuffer]:
        """Every consumer buffer (for metrics)."""
        out = [h.buffer for hs in self._handles.values() for h in hs]
        out += self._streams
        return out

    # -- dispatch (the hot path) ----------------------------------------------------------------

    def dispatch(self, events: list[ProtocolEvent]) -> bool:
        """Apply and deliver ``events`` in order; return whether any was not market data (the
        driver then re-checks the timer: a state change may have moved a deadline earlier)."""
        feeds_get = self._feeds.get
        by_id_get = self._feeds_by_id.get
        streams = self._streams
        md_callbacks = self._md_callbacks
        tickers_get = self._ticker_map.get
        md_seen = self._md_seen
        control = False
        md = MarketData
        # the previous market-data event's stream: its ticker and feeds serve the next events
        # of the same key (a batch is mostly runs of one stream) until user code may have
        # changed them (a callback, a control event, a failure report): then looked up again
        last_key: Any = None
        ticker: Ticker | None = None
        feeds: list[Feed] | tuple[()] = ()
        ev: Any
        try:
            for ev in events:
                cls = ev.__class__
                if cls is md:  # the hot path
                    key = ev.key
                    if key is not last_key:
                        last_key = key
                        ticker = tickers_get(ev.conid)
                        hit = by_id_get(id(key))
                        feeds = hit[1] if hit is not None and hit[0] is key else feeds_get(key, ())
                    try:
                        if ticker is None:
                            ticker = self.tickers.get_or_create(ev.conid)
                        ticker.merge(ev)
                    except Exception as exc:
                        last_key = None
                        self._apply_failed(ev, exc)
                        # the report ran user code: this event goes to the consumers and the
                        # callbacks as they are now
                        feeds = feeds_get(key, ())
                        md_callbacks = self._md_callbacks
                    md_seen += 1
                    if md_seen & 63 == 1:  # lag sampled (1st, 65th...): a clock read costs
                        self._sample_lag(ev.updated_ms)
                    for buf in feeds:
                        buf.put(ev)
                    if streams:
                        for buf in streams:
                            buf.put(ev)
                    if md_callbacks:
                        self._md_seen = md_seen  # user code may read the figures
                        self._call(md_callbacks, ev)
                        md_callbacks = self._md_callbacks  # ... or add a callback
                        last_key = None  # ... or change consumers and tickers
                    continue
                last_key = None
                counts = self._type_counts
                counts[cls] = counts.get(cls, 0) + 1
                control = True
                self._md_seen = md_seen  # a control event may read the figures
                try:
                    self._apply(cls, ev)
                except Exception as exc:
                    self._apply_failed(ev, exc)
                self._deliver(cls, ev)
                # a control event may have changed the consumers or the callbacks
                streams = self._streams
                md_callbacks = self._md_callbacks
        finally:
            self._md_seen = md_seen
        return control

    def _apply(self, cls: type, ev: Any) -> None:
        if cls is OrderUpdate:
            self.orders.apply(ev)
        elif cls is Trade:
            self.trades.apply(ev)
        elif cls is TradeUpdated:
            self.trades.apply(ev.trade)
        elif cls is Pnl or cls is AccountSummary or cls is AccountLedger:
            self.account.apply(ev)
        elif cls is SubscriptionStateChanged:
            for h in self._handles.get(ev.key, ()):
                h._set_state(ev.current, ev.reason)
            if ev.current is SubscriptionState.ACTIVE:
                self._hooks.stream_active(ev.key)
        elif cls is SessionStateChanged:
            self._hooks.session_changed(ev)

    def _deliver(self, cls: type, ev: Any) -> None:
        key = getattr(ev, "key", None)
        if key is not None:
            for buf in self._feeds.get(key, ()):
                buf.put(ev)
        for buf in self._streams:
            buf.put(ev)
        if self._callbacks:
            self._run_callbacks(cls, ev)

    def _apply_failed(self, ev: Any, exc: Exception) -> None:
        """One event could not be applied: isolate it, count it, report it, go on."""
        self.counts["apply_errors"] += 1
        name = type(ev).__name__
        log.error("applying %s failed (isolated; the session goes on): %r", name, exc)
        self.report_failure(getattr(ev, "key", None), name, exc)

    def report_failure(self, key: StreamKey | None, what: str, exc: BaseException) -> None:
        """Deliver an :class:`ApplyFailed` for ``what`` (an event type, or ``"frame"``)."""
        failed = ApplyFailed(key=key, event_type=what, error=f"{type(exc).__name__}: {exc}")
        self._type_counts[ApplyFailed] = self._type_counts.get(ApplyFailed, 0) + 1
        self._deliver(ApplyFailed, failed)

    def _sample_lag(self, updated_ms: int | None) -> None:
        if updated_ms.__class__ is not int or not updated_ms:  # decoded stamps are ints; events
            return  # built elsewhere (a replay, user code) may carry anything
        lag = self._clock() * 1000.0 - updated_ms
        self.lag_last_ms = lag
        if lag > self.lag_max_ms:
            self.lag_max_ms = lag
        self.lag_ewma_ms += (lag - self.lag_ewma_ms) * 0.1
        self.lag.observe(lag / 1000.0)

    def _run_callbacks(self, cls: type, ev: Any) -> None:
        self._call(self._callbacks_for(cls), ev)

    def _call(self, callbacks: tuple[Callback, ...], ev: Any) -> None:
        for fn in callbacks:
            try:
                fn(ev)
            except Exception:
                self.counts["callback_errors"] += 1
                log.exception("callback %r failed on %s", fn, type(ev).__name__)

    # -- figures ----------------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Delivery figures (merged into ``StreamClient.metrics()``)."""
        events = {cls.__name__: n for cls, n in self._type_counts.items()}
        if self._md_seen:
            events[MarketData.__name__] = self._md_seen
        buffers = self.buffers()
        return {
            "events": events,
            "decode_errors": events.get("Malformed", 0),
            "gaps": events.get("Gap", 0),
            "callback_errors": self.counts.get("callback_errors", 0),
            "apply_errors": self.counts.get("apply_errors", 0),
            "conflated": sum(b.conflated for b in buffers),
            "overflows": sum(1 for b in buffers if b.overflowed),
            "queue_depth_max": max((len(b) for b in buffers), default=0),
            "queue_depth_total": sum(len(b) for b in buffers),
            "consumers": self.consumer_count,
            "lag_ms": {
                "last": round(self.lag_last_ms, 3),
                "max": round(self.lag_max_ms, 3),
                "ewma": round(self.lag_ewma_ms, 3),
            },
            "lag_seconds": self.lag.snapshot(),
            **self.live.metrics(),  # "orders" / "trades": kept, bound, evicted
        }
