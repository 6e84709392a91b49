"""The fan-out core: one ``StreamClient``, many consumers, shared upstream streams.

Data flow (one event loop, no threads)::

    gateway ──> driver ──> Router ──tap.put──> Rounds.log ──round──> Consumer.queue ──> writer
                (decode    (route by       (one per     (select, encode  (bounded, per     (its own
                 once)      StreamKey,      stream)      once, share)     consumer policy)   socket)
                            count refs)

* **One router, one reference count.** Each consumer of a stream holds its own handle of the
  client's router (:mod:`ibstream.aio.router`); the router's handle list is the only reference
  count (the upstream unsubscribe happens when the last handle leaves). The hub holds one more
  handle per stream, its *tap*: the router hands each event of the stream to the tap once,
  whatever the number of consumers, and the tap keeps the stream for ``grace`` seconds after
  its last consumer left (a quick re-subscribe reuses the live stream). A pin made by the
  ``subscribeUpstream`` mutation is one more handle. The sharing rule (more market-data fields, or a
  conflict) is the core's ``effective_spec``. :class:`Upstream` only shows what is held. Events
  of no stream (session state, bulletins, notifications, errors) and the lifecycle events that
  ``all_lifecycle`` consumers want reach the hub through typed ``client.on`` callbacks.
* **Batched fan-out, encoded once.** Taps and callbacks log events into rounds
  (:mod:`ibstream.service.fanout`); a round goes to the consumers of its routes (the streams'
  consumer lists index them by key, so an event never scans unrelated consumers), each event
  encoded once with :func:`ibstream.serialize.event_to_json`, and the consumers that select the
  same events share one batch of bytes per wire format: one queue entry, one writer wake-up and
  one socket write per consumer per round.
* **Never wait for a consumer.** Delivery (a round) only appends to queues. Each
  consumer's writer task drains its own queue; a consumer that falls behind conflates market
  data and, for events that are never dropped, is told and disconnected
  (:mod:`ibstream.service.queue`).
* **Joining a live stream.** IBKR sends deltas after the first ``smd`` frame, so a consumer that
  joins a live stream first gets the current state as ordinary events, from the live state's
  snapshot API (:meth:`ibstream.state.live.LiveState.snapshot` via ``client.snapshot(key)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ibstream.aio.client import StreamClient
from ibstream.aio.subscription import Subscription
from ibstream.exceptions import IBStreamError
from ibstream.protocol.events import (
    AccountInfo,
    Bulletin,
    ErrorMessage,
    Notification,
)
from ibstream.protocol.lifecycle import (
    Gap,
    SessionState,
    SessionStateChanged,
    SubscriptionState,
    SubscriptionStateChanged,
)
from ibstream.protocol.specs import Spec, StreamKey
from ibstream.serialize import event_to_json
from ibstream.service.fanout import (
    FLUSH_BUDGET,
    FLUSH_INTERVAL,
    LIFECYCLE,
    MAX_FLUSH_INTERVAL,
    SESSION,
    Batch,
    Rounds,
    hand_out,
)
from ibstream.service.queue import ConsumerQueue
from ibstream.service.specs import Filters, spec_to_dict

__all__ = ["Consumer", "Hub", "Upstream"]

log = logging.getLogger("ibstream.service")

#: Events that belong to no stream and go to consumers that asked for session events.
SESSION_EVENTS: frozenset[type] = frozenset(
    {SessionStateChanged, Bulletin, Notification, ErrorMessage, AccountInfo}
)
_UNHEALTHY = (SubscriptionState.FAILED, SubscriptionState.REJECTED)


@dataclass(eq=False, slots=True, kw_only=True)
class Consumer:
    """One downstream reader: a plain WebSocket, an SSE response or a GraphQL subscription."""

    id: str
    kind: str
    peer: str
    queue: ConsumerQueue
    #: Whether the consumer's writer sends encoded bytes (GraphQL converts events itself).
    wants_bytes: bool = True
    filters: Filters | None = None
    #: Receive events of no stream (session state, bulletins, notifications, errors).
    session_events: bool = True
    #: Receive every stream's ``SubscriptionStateChanged`` and ``Gap``.
    all_lifecycle: bool = False
    #: Streams this consumer holds a reference on (the spec it asked for).
    keys: dict[StreamKey, Spec] = field(default_factory=dict)
    #: Its router handle per stream: the reference itself (the router counts them).
    handles: dict[StreamKey, Subscription[Any]] = field(default_factory=dict)
    #: The rounds' routes it receives: its keys, plus SESSION / LIFECYCLE (kept by the hub).
    routes: set[Any] = field(default_factory=set)
    #: Called by the hub to cut the transport of a consumer that ignores its overflow notice.
    abort: Callable[[], object] | None = None
    #: Writes a round's shared batch at once, when its writer is idle and its socket keeps up
    #: (``True``), else ``False``: the batch is queued (plain WebSocket consumers, see
    #: :mod:`ibstream.service.direct`).
    direct: Callable[[Batch], bool] | None = None
    connected_at: float = field(default_factory=time.time)
    # Delivery figures, kept by the writer.
    sent_events: int = 0
    sent_messages: int = 0
    sent_bytes: int = 0
    closed: bool = False
    close_reason: str = ""

    def __repr__(self) -> str:
        return f"<Consumer {self.id} {self.kind} keys={len(self.keys)} {self.queue!r}>"


class _Tap:
    """The hub's router feed of one stream: the router puts each event of the stream here once,
    and the tap logs it in the current round for the stream's consumers."""

    __slots__ = ("hub", "up")

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.up: Upstream | None = None

    def put(self, event: Any, /) -> None:
        up = self.up
        if up is not None and up.consumers:
            hub = self.hub
            hub.dispatched += 1
            hub.rounds.add(up.key, event)


@dataclass(eq=False, slots=True, kw_only=True)
class Upstream:
    """What the hub shows of one shared upstream stream (the reference count is the router's:
    one handle per consumer, one for a pin, one while the grace period holds the stream)."""

    key: StreamKey
    #: The effective spec of the stream (the sharing rule's answer).
    spec: Spec
    consumers: list[Consumer] = field(default_factory=list)
    #: The hub's own handle, fed to the rounds; it also holds the stream during the grace
    #: period after the last consumer (``None`` once the stream is forgotten).
    tap: Subscription[Any] | None = None
    #: The handle of the ``subscribeUpstream`` mutation, until ``unsubscribeUpstream``.
    pin: Subscription[Any] | None = None
    release_timer: asyncio.TimerHandle | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def pinned(self) -> bool:
        return self.pin is not None

    @property
    def in_use(self) -> bool:
        return self.pin is not None or bool(self.consumers)


class Hub:
    """Routes the client's events to consumers and reference-counts upstream streams."""

    def __init__(
        self,
        client: StreamClient,
        *,
        grace: float = 5.0,
        buffer_size: int = 10_000,
        slow_consumer_timeout: float = 5.0,
        flush_interval: float = FLUSH_INTERVAL,
        max_flush_interval: float = MAX_FLUSH_INTERVAL,
        flush_budget: float = FLUSH_BUDGET,
    ) -> None:
        self.client = client
        self.grace = grace
        self.buffer_size = buffer_size
        self.slow_consumer_timeout = slow_consumer_timeout

        # Streams and consumers
        self.upstreams: dict[StreamKey, Upstream] = {}
        self.consumers: dict[str, Consumer] = {}
        self._session_consumers: list[Consumer] = []
        self._lifecycle_consumers: list[Consumer] = []
        self._ids = itertools.count(1)
        self._remove_callbacks: list[Callable[[], None]] = []

        # What the gateway told us about the session
        self.accounts: tuple[str, ...] = ()
        self.selected_account: str | None = None
        self.shutting_down = False

        # Batched fan-out (service/fanout.py)
        self.rounds = Rounds(
            self._distribute,
            flush_interval=flush_interval,
            max_flush_interval=max_flush_interval,
            budget=flush_budget,
            max_events=buffer_size // 2,
        )

        # Figures
        self.counts: Counter[str] = Counter()
        self.disconnected_slow = 0
        self.encoded = 0
        self.dispatched = 0
        #: delivery totals of consumers that left, per kind (keeps /metrics counters monotonic)
        self.departed: dict[str, Counter[str]] = {}

    def __repr__(self) -> str:
        return f"<Hub upstreams={len(self.upstreams)} consumers={len(self.consumers)}>"

    def start(self) -> None:
        """Start receiving the client's events of no stream (call once the client started)."""
        if not self._remove_callbacks:
            on = self.client.on
            self._remove_callbacks = [on(cls, self._on_session_event) for cls in SESSION_EVENTS]
            self._remove_callbacks += [
                on(cls, self._on_lifecycle) for cls in (Gap, SubscriptionStateChanged)
            ]

    # -- consumers --------------------------------------------------------------------------

    def open_consumer(
        self,
        kind: str,
        peer: str = "",
        *,
        wants_bytes: bool = True,
        filters: Filters | None = None,
        session_events: bool = True,
        all_lifecycle: bool = False,
        maxsize: int | None = None,
    ) -> Consumer:
        """Register a consumer; it receives nothing until it :meth:`attach`es streams (apart
        from session events when ``session_events``, and every stream's
        ``SubscriptionStateChanged`` and ``Gap`` when ``all_lifecycle``)."""
        if self.shutting_down:
            raise IBStreamError("service is shutting down")
        cid = f"{kind}-{next(self._ids)}"
        consumer = Consumer(
            id=cid,
            kind=kind,
            peer=peer,
            queue=ConsumerQueue(maxsize or self.buffer_size),
            wants_bytes=wants_bytes,
            filters=filters,
            session_events=session_events,
            all_lifecycle=all_lifecycle,
        )
        consumer.queue.on_overflow = lambda: self._overflowed(consumer)
        self.consumers[cid] = consumer
        if session_events:
            self._session_consumers.append(consumer)
            consumer.routes.add(SESSION)
        if all_lifecycle:
            self._lifecycle_consumers.append(consumer)
            consumer.routes.add(LIFECYCLE)
        self.counts[f"opened_{kind}"] += 1
        log.info("consumer %s connected (%s)", cid, peer or "local")
        return consumer

    def close_consumer(self, consumer: Consumer, reason: str = "") -> None:
        """Release every stream of ``consumer`` and close its queue (idempotent)."""
        if consumer.closed:
            return
        consumer.closed = True
        consumer.close_reason = consumer.close_reason or reason
        for key in list(consumer.keys):
            self.detach(consumer, key)
        for group in (self._session_consumers, self._lifecycle_consumers):
            with contextlib.suppress(ValueError):
                group.remove(consumer)
        self.consumers.pop(consumer.id, None)
        self.departed.setdefault(consumer.kind, Counter()).update(
            sent=consumer.sent_events,
            messages=consumer.sent_messages,
            bytes=consumer.sent_bytes,
            conflated=consumer.queue.conflated,
        )
        consumer.queue.close()
        log.info(
            "consumer %s left (%s): %d events sent",
            consumer.id,
            consumer.close_reason or "closed",
            consumer.sent_events,
        )

    def set_filters(self, consumer: Consumer, filters: Filters | None) -> None:
        self.rounds.flush()  # events that arrived before the change are judged by the old ones
        consumer.filters = filters

    def _overflowed(self, consumer: Consumer) -> None:
        self.disconnected_slow += 1
        consumer.close_reason = consumer.queue.overflow_reason
        log.warning(
            "consumer %s: %s; disconnecting it", consumer.id, consumer.queue.overflow_reason
        )
        # The writer delivers what is queued, then the notice; past this deadline, cut it off.
        loop = asyncio.get_running_loop()
        loop.call_later(self.slow_consumer_timeout, self._cut_off, consumer)

    def _cut_off(self, consumer: Consumer) -> None:
        if consumer.abort is not None and not consumer.closed:
            log.warning("consumer %s did not read its overflow notice: aborting", consumer.id)
            consumer.abort()
        self.close_consumer(consumer, consumer.close_reason or "slow consumer")

    # -- streams ----------------------------------------------------------------------------

    def attach(self, consumer: Consumer, spec: Spec, *, snapshot: bool = True) -> Upstream:
        """Give ``consumer`` the events of ``spec``'s stream (subscribing upstream if needed).

        The consumer gets its own router handle, fed straight into its queue: the router routes
        and counts. Joining a stream that is already live queues its current state first
        (``snapshot``; pass ``False`` to send it later with :meth:`send_snapshot`).

        Raises ``SubscriptionConflict`` (a live stream with other parameters), ``InvalidState``
        (client not running) or ``IBStreamError`` (shutting down).
        """
        if consumer.closed:
            raise IBStreamError(f"consumer {consumer.id} is closed")
        key = spec.key
        joined_live = key not in consumer.keys and self.is_live(key)
        # the events before this point are the snapshot's, not this consumer's to get again
        self.rounds.flush()
        handle = self._hold(spec)
        old = consumer.handles.get(key)
        consumer.handles[key] = handle
        consumer.keys[key] = spec
        consumer.routes.add(key)
        if old is not None:
            old.close()  # after the new handle: the stream never drops to zero holders
        up = self.upstreams[key]
        if consumer not in up.consumers:
            up.consumers.append(consumer)
        if snapshot and joined_live:
            self.send_snapshot(consumer, key)
        return up

    def is_live(self, key: StreamKey) -> bool:
        """Whether the hub holds ``key`` and it is active upstream."""
        return key in self.upstreams and self.subscription_state(key) is SubscriptionState.ACTIVE

    def detach(self, consumer: Consumer, key: StreamKey) -> bool:
        """Drop ``consumer``'s reference on ``key``; returns whether it held one."""
        if key not in consumer.keys:
            return False
        self.rounds.flush()  # what arrived while it held the stream is still its own
        del consumer.keys[key]
        consumer.routes.discard(key)
        handle = consumer.handles.pop(key, None)
        up = self.upstreams.get(key)
        if up is not None:
            with contextlib.suppress(ValueError):
                up.consumers.remove(consumer)
            self._maybe_release(up, handle)
        elif handle is not None:
            handle.close()
        return True

    def pin(self, spec: Spec) -> Upstream:
        """Hold ``spec``'s stream without a consumer (the ``subscribeUpstream`` mutation)."""
        handle = self._hold(spec)
        up = self.upstreams[spec.key]
        old, up.pin = up.pin, handle
        if old is not None:
            old.close()
        return up

    def unpin(self, key: StreamKey) -> bool:
        """Undo :meth:`pin`; the stream ends after the grace period if nobody uses it."""
        up = self.upstreams.get(key)
        if up is None or up.pin is None:
            return False
        handle, up.pin = up.pin, None
        self._maybe_release(up, handle)
        return True

    def _hold(self, spec: Spec) -> Subscription[Any]:
        """A new router handle on ``spec``'s stream (a reference: the stream's events reach
        consumers through the hub's tap); the stream's :class:`Upstream` exists afterwards and
        its grace period is over."""
        if self.shutting_down:
            raise IBStreamError("service is shutting down")
        router = self.client.router
        key = spec.key
        up = self.upstreams.get(key)
        if up is None:
            feed = _Tap(self)
            tap = router.subscribe(spec, feed=feed)  # raises on a conflict: nothing held
            up = feed.up = self.upstreams[key] = Upstream(key=key, spec=tap.spec, tap=tap)
            self.counts["upstream_subscribes"] += 1
        handle = router.subscribe(spec, buffer=False)
        up.spec = handle.spec
        if up.release_timer is not None:
            up.release_timer.cancel()
            up.release_timer = None
            self.counts["grace_reuses"] += 1
        return handle

    def _maybe_release(self, up: Upstream, leaving: Subscription[Any] | None) -> None:
        """``leaving`` (a consumer's or the pin's handle) is let go; the last one out starts the
        grace period, during which the tap keeps the stream for a quick re-subscribe."""
        if not up.in_use and up.release_timer is None:
            if self.grace <= 0 or self.shutting_down:
                self._forget(up)
            else:
                loop = asyncio.get_running_loop()
                up.release_timer = loop.call_later(self.grace, self._release, up)
        if leaving is not None:
            leaving.close()

    def _release(self, up: Upstream) -> None:
        up.release_timer = None
        if up.in_use or self.upstreams.get(up.key) is not up:
            return
        self._forget(up)
        log.info("upstream %s released (no consumer for %.1f s)", up.key, self.grace)

    def _forget(self, up: Upstream) -> None:
        if self.upstreams.get(up.key) is up:
            del self.upstreams[up.key]
            self.counts["upstream_unsubscribes"] += 1
        if up.release_timer is not None:
            up.release_timer.cancel()
            up.release_timer = None
        for handle in (up.pin, up.tap):
            if handle is not None:
                handle.close()
        up.pin = up.tap = None

    # -- dispatch (hot path) ----------------------------------------------------------------

    def _on_session_event(self, ev: Any) -> None:
        if ev.__class__ is AccountInfo:
            self.accounts = ev.accounts
            self.selected_account = ev.selected_account
        if self._session_consumers:
            self.dispatched += 1
            self.rounds.add(SESSION, ev)

    def _on_lifecycle(self, ev: Any) -> None:
        if self._lifecycle_consumers:
            self.dispatched += 1
            self.rounds.add(LIFECYCLE, ev)

    def _route_consumers(self, route: Any) -> list[Consumer]:
        if route is SESSION:
            return self._session_consumers
        if route is LIFECYCLE:
            return self._lifecycle_consumers
        up = self.upstreams.get(route)
        return up.consumers if up is not None else []

    def _distribute(self, log: list[tuple[Any, Any]]) -> float:
        """Hand one round out to the consumers of its routes (:func:`hand_out`); returns the
        seconds spent encoding."""
        spent, encoded = hand_out(log, self._route_consumers)
        self.encoded += encoded
        return spent

    def send_snapshot(self, consumer: Consumer, key: StreamKey) -> None:
        """Queue the current state of ``key`` for ``consumer`` (see :meth:`snapshot_events`)."""
        events = self.snapshot_events(key)
        for ev in events:
            if consumer.filters is None or consumer.filters.match(ev):
                consumer.queue.put(ev, event_to_json(ev) if consumer.wants_bytes else None)

    def snapshot_events(self, key: StreamKey) -> list[Any]:
        """The current state of stream ``key`` as ordinary events (for a consumer joining it):
        the client's live state answers (``StreamClient.snapshot``), the hub rebuilds nothing."""
        return list(self.client.snapshot(key))

    # -- status -----------------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self.client.state is SessionState.AUTHENTICATED

    def subscription_state(self, key: StreamKey) -> SubscriptionState | None:
        binding = self.client.protocol.book.get(key)  # O(1): no snapshot of the whole book
        return binding.state if binding is not None else None

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """``(ready, details)``: upstream authenticated and no held stream failed."""
        state = self.client.state
        unhealthy = {}
        for key in self.upstreams:
            st = self.subscription_state(key)
            if st in _UNHEALTHY:
                unhealthy[str(key)] = st.name if st is not None else "UNKNOWN"
        reasons = []
        if self.shutting_down:
            reasons.append("shutting down")
        if state is not SessionState.AUTHENTICATED:
            reasons.append(f"upstream session is {state.name}")
        if unhealthy:
            reasons.append("subscriptions not healthy: " + ", ".join(sorted(unhealthy)))
        details = {
            "ready": not reasons,
            "reason": "; ".join(reasons) if reasons else "ok",
            "session": state.name,
            "subscriptions": {
                str(k): (st.name if (st := self.subscription_state(k)) else "RELEASED")
                for k in self.upstreams
            },
            "unhealthy": unhealthy,
        }
        return not reasons, details

    def describe_upstreams(self) -> list[dict[str, Any]]:
        out = []
        for key, up in self.upstreams.items():
            st = self.subscription_state(key)
            out.append(
                {
                    "key": str(key),
                    "topic": key.topic.value,
                    "ident": key.ident,
                    "state": st.name if st is not None else "RELEASED",
                    "consumers": len(up.consumers),
                    "pinned": up.pinned,
                    "releasing": up.release_timer is not None,
                    "spec": spec_to_dict(up.spec),
                }
            )
        return out

    def status_message(self) -> dict[str, Any]:
        """The ``Status`` message a plain-stream consumer gets on connect."""
        return {
            "type": "Status",
            "session": self.client.state.name,
            "authenticated": self.authenticated,
            "accounts": list(self.accounts),
        }

    # -- shutdown ---------------------------------------------------------------------------

    def shutdown(self, reason: str) -> None:
        """Tell every consumer and close it; release every stream now (no grace)."""
        self.shutting_down = True
        self.rounds.close()
        for consumer in list(self.consumers.values()):
            consumer.close_reason = reason
            self.close_consumer(consumer, reason)
        for up in list(self.upstreams.values()):
            self._forget(up)
        for remove in self._remove_callbacks:
            remove()
        self._remove_callbacks = []
