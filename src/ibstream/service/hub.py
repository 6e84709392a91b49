"""The fan-out core: one ``StreamClient``, many consumers, shared upstream streams.

Data flow (one event loop, no threads)::

    gateway ──> StreamClient ──on(None)──> Hub._on_event ──put──> Consumer.queue ──> writer task
                (decode once)              (route by StreamKey,   (bounded, per      (its own
                                            encode once)           consumer policy)   socket)

* **Sharing.** For each ``StreamKey`` the hub holds one *anchor* handle of the client
  (``client.subscribe(spec)``); the client reference-counts handles, so the anchor keeps exactly
  one upstream subscription alive however many consumers use it. Consumers (plain WebSocket,
  SSE, GraphQL subscriptions, pins made by the ``subscribeUpstream`` mutation) are counted on the
  :class:`Upstream`; when the last leaves, the anchor is released after ``grace`` seconds (a quick
  re-subscribe reuses the live stream). The anchor's own buffer is closed at once: events reach
  the hub through a client callback instead, so nothing is buffered twice.
* **Encode once.** The first consumer that wants bytes makes the hub encode the event with
  :func:`ibstream.serialize.event_to_json`; every other consumer queues the same ``bytes``.
* **Never wait for a consumer.** ``_on_event`` only appends to queues. Each consumer's writer
  task drains its own queue; a consumer that falls behind conflates market data and, for events
  that are never dropped, is told and disconnected (:mod:`ibstream.service.queue`).
* **Joining a live stream.** IBKR sends deltas after the first ``smd`` frame, so a consumer that
  joins a live stream first gets the current state as ordinary events (``MarketData`` with every
  known field, one ``OrderUpdate`` per order, ``Pnl`` rows, trades, summary and ledger).
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
    AccountLedger,
    AccountSummary,
    Bulletin,
    ErrorMessage,
    MarketData,
    Notification,
    OrderUpdate,
    Pnl,
)
from ibstream.protocol.lifecycle import (
    Gap,
    SessionState,
    SessionStateChanged,
    SubscriptionState,
    SubscriptionStateChanged,
)
from ibstream.protocol.specs import MarketDataSpec, Spec, StreamKey, Topic
from ibstream.serialize import event_to_json
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
    #: Streams this consumer holds a reference on.
    keys: dict[StreamKey, Spec] = field(default_factory=dict)
    #: Called by the hub to cut the transport of a consumer that ignores its overflow notice.
    abort: Callable[[], object] | None = None
    connected_at: float = field(default_factory=time.time)
    # Delivery figures, kept by the writer.
    sent_events: int = 0
    sent_messages: int = 0
    sent_bytes: int = 0
    closed: bool = False
    close_reason: str = ""

    def __repr__(self) -> str:
        return f"<Consumer {self.id} {self.kind} keys={len(self.keys)} {self.queue!r}>"


@dataclass(eq=False, slots=True, kw_only=True)
class Upstream:
    """One shared upstream stream: the anchor handle and who uses it."""

    key: StreamKey
    spec: Spec
    handle: Subscription
    consumers: list[Consumer] = field(default_factory=list)
    #: Held by the ``subscribeUpstream`` mutation until ``unsubscribeUpstream``.
    pinned: bool = False
    release_timer: asyncio.TimerHandle | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def in_use(self) -> bool:
        return self.pinned or bool(self.consumers)


class Hub:
    """Routes the client's events to consumers and reference-counts upstream streams."""

    def __init__(
        self,
        client: StreamClient,
        *,
        grace: float = 5.0,
        buffer_size: int = 10_000,
        slow_consumer_timeout: float = 5.0,
    ) -> None:
        self.client = client
        self.grace = grace
        self.buffer_size = buffer_size
        self.slow_consumer_timeout = slow_consumer_timeout

        # Streams and consumers
        self.upstreams: dict[StreamKey, Upstream] = {}
        self.consumers: dict[str, Consumer] = {}
        # key -> consumers of that key (the same list object as Upstream.consumers)
        self._by_key: dict[StreamKey, list[Consumer]] = {}
        self._session_consumers: list[Consumer] = []
        self._lifecycle_consumers: list[Consumer] = []
        self._ids = itertools.count(1)
        self._remove_callback: Callable[[], None] | None = None

        # What the gateway told us about the session
        self.accounts: tuple[str, ...] = ()
        self.selected_account: str | None = None
        self.shutting_down = False

        # Figures
        self.counts: Counter[str] = Counter()
        self.disconnected_slow = 0
        self.encoded = 0
        self.dispatched = 0

    def __repr__(self) -> str:
        return f"<Hub upstreams={len(self.upstreams)} consumers={len(self.consumers)}>"

    def start(self) -> None:
        """Start receiving the client's events (call once the client started)."""
        if self._remove_callback is None:
            self._remove_callback = self.client.on(None, self._on_event)

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
        )
        consumer.queue.on_overflow = lambda: self._overflowed(consumer)
        self.consumers[cid] = consumer
        if session_events:
            self._session_consumers.append(consumer)
        if all_lifecycle:
            self._lifecycle_consumers.append(consumer)
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
        consumer.queue.close()
        log.info(
            "consumer %s left (%s): %d events sent",
            consumer.id,
            consumer.close_reason or "closed",
            consumer.sent_events,
        )

    def set_filters(self, consumer: Consumer, filters: Filters | None) -> None:
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

        Joining a stream that is already live queues its current state first (``snapshot``;
        pass ``False`` to send it later with :meth:`send_snapshot`).

        Raises ``SubscriptionConflict`` (a live stream with other parameters), ``InvalidState``
        (client not running) or ``IBStreamError`` (shutting down).
        """
        if consumer.closed:
            raise IBStreamError(f"consumer {consumer.id} is closed")
        key = spec.key
        if key in consumer.keys:
            # Same stream again: maybe more market-data fields.
            up = self._acquire(spec)
            consumer.keys[key] = spec
            return up
        existed = key in self.upstreams
        up = self._acquire(spec)
        up.consumers.append(consumer)
        consumer.keys[key] = spec
        if snapshot and existed and up.handle.state is SubscriptionState.ACTIVE:
            self.send_snapshot(consumer, key)
        return up

    def is_live(self, key: StreamKey) -> bool:
        """Whether the hub holds ``key`` and it is active upstream."""
        up = self.upstreams.get(key)
        return up is not None and up.handle.state is SubscriptionState.ACTIVE

    def detach(self, consumer: Consumer, key: StreamKey) -> bool:
        """Drop ``consumer``'s reference on ``key``; returns whether it held one."""
        if consumer.keys.pop(key, None) is None:
            return False
        up = self.upstreams.get(key)
        if up is not None:
            with contextlib.suppress(ValueError):
                up.consumers.remove(consumer)
            self._maybe_release(up)
        return True

    def pin(self, spec: Spec) -> Upstream:
        """Hold ``spec``'s stream without a consumer (the ``subscribeUpstream`` mutation)."""
        up = self._acquire(spec)
        up.pinned = True
        return up

    def unpin(self, key: StreamKey) -> bool:
        """Undo :meth:`pin`; the stream ends after the grace period if nobody uses it."""
        up = self.upstreams.get(key)
        if up is None or not up.pinned:
            return False
        up.pinned = False
        self._maybe_release(up)
        return True

    def _acquire(self, spec: Spec) -> Upstream:
        if self.shutting_down:
            raise IBStreamError("service is shutting down")
        key = spec.key
        up = self.upstreams.get(key)
        if up is None:
            handle = self._anchor(spec)
            up = Upstream(key=key, spec=handle.spec, handle=handle)
            self.upstreams[key] = up
            self._by_key[key] = up.consumers
            self.counts["upstream_subscribes"] += 1
            return up
        if up.release_timer is not None:
            up.release_timer.cancel()
            up.release_timer = None
            self.counts["grace_reuses"] += 1
        if spec != up.spec and not (
            isinstance(spec, MarketDataSpec)
            and isinstance(up.spec, MarketDataSpec)
            and set(spec.fields) <= set(up.spec.fields)
            and spec.exchange in (None, up.spec.exchange)
        ):
            # More market-data fields (the client merges them) or a conflict (raises).
            handle = self._anchor(spec)
            old = up.handle
            up.handle, up.spec = handle, handle.spec
            old.close()
        return up

    def _anchor(self, spec: Spec) -> Subscription:
        # Events reach the hub through its callback: the anchor only holds the stream.
        return self.client.subscribe(spec, buffer=False)

    def _maybe_release(self, up: Upstream) -> None:
        if up.in_use or up.release_timer is not None:
            return
        if self.grace <= 0 or self.shutting_down:
            self._release(up)
        else:
            loop = asyncio.get_running_loop()
            up.release_timer = loop.call_later(self.grace, self._release, up)

    def _release(self, up: Upstream) -> None:
        up.release_timer = None
        if up.in_use or self.upstreams.get(up.key) is not up:
            return
        del self.upstreams[up.key]
        self._by_key.pop(up.key, None)
        up.handle.close()
        self.counts["upstream_unsubscribes"] += 1
        log.info("upstream %s released (no consumer for %.1f s)", up.key, self.grace)

    # -- dispatch (hot path) ----------------------------------------------------------------

    def _on_event(self, ev: Any) -> None:
        cls = ev.__class__
        key = getattr(ev, "key", None)
        if key is not None:
            targets = self._by_key.get(key)
            if self._lifecycle_consumers and (cls is Gap or cls is SubscriptionStateChanged):
                targets = [*(targets or ()), *self._lifecycle_consumers]
        elif cls in SESSION_EVENTS:
            if cls is AccountInfo:
                self.accounts = ev.accounts
                self.selected_account = ev.selected_account
            targets = self._session_consumers
        else:
            return
        if not targets:
            return
        self.dispatched += 1
        data: bytes | None = None
        for consumer in targets:
            filters = consumer.filters
            if filters is not None and not filters.match(ev):
                continue
            if consumer.wants_bytes:
                if data is None:
                    data = event_to_json(ev)
                    self.encoded += 1
                consumer.queue.put(ev, data)
            else:
                consumer.queue.put(ev, None)

    def send_snapshot(self, consumer: Consumer, key: StreamKey) -> None:
        """Queue the current state of ``key`` for ``consumer`` (see :meth:`snapshot_events`)."""
        events = self.snapshot_events(key)
        for ev in events:
            if consumer.filters is None or consumer.filters.match(ev):
                consumer.queue.put(ev, event_to_json(ev) if consumer.wants_bytes else None)

    def snapshot_events(self, key: StreamKey) -> list[Any]:
        """The current state of stream ``key`` as ordinary events (for a consumer joining it)."""
        client = self.client
        topic = key.topic
        if topic is Topic.MARKET_DATA:
            ticker = client.tickers.for_ident(key.ident)
            if ticker is None or not ticker.values:
                return []
            return [
                MarketData(
                    key=key,
                    conid=ticker.conid,
                    server_id=ticker.server_id,
                    updated_ms=ticker.updated_ms,
                    values=dict(ticker.values),
                    # closed/halted are read from the raw last price (C/H prefix)
                    raw={str(k): v for k, v in ticker.raw.items()},
                )
            ]
        if topic is Topic.ORDERS:
            return [
                OrderUpdate(
                    key=key,
                    account=o.account,
                    order_id=o.order_id,
                    conid=o.conid,
                    status=o.status.value if o.status is not None else None,
                    changes=dict(o.fields),
                    raw={},
                )
                for o in client.orders.orders()
            ]
        if topic is Topic.TRADES:
            return list(client.trades.trades())
        if topic is Topic.PNL:
            return [
                Pnl(
                    key=key,
                    account=r.account,
                    row=r.row,
                    row_type=r.row_type,
                    daily_pnl=r.daily_pnl,
                    unrealized_pnl=r.unrealized_pnl,
                    net_liquidity=r.net_liquidity,
                    excess_liquidity=r.excess_liquidity,
                    market_value=r.market_value,
                    raw={},
                )
                for r in client.account.pnl.values()
            ]
        if topic is Topic.ACCOUNT_SUMMARY:
            values = client.account.summary(key.ident)
            if not values:
                return []
            ts = client.account.summary_timestamp(key.ident)
            return [AccountSummary(key=key, account=key.ident, timestamp=ts, values=values, raw={})]
        if topic is Topic.ACCOUNT_LEDGER:
            return [
                AccountLedger(
                    key=key,
                    account=b.account,
                    currency=b.currency,
                    timestamp=b.timestamp,
                    values=dict(b.values),
                    raw={},
                )
                for b in client.account.ledger(key.ident).values()
            ]
        return []

    # -- status -----------------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self.client.state is SessionState.AUTHENTICATED

    def subscription_state(self, key: StreamKey) -> SubscriptionState | None:
        entry = self.client.protocol.subscriptions.get(key)
        return entry[1] if entry is not None else None

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
        for consumer in list(self.consumers.values()):
            consumer.close_reason = reason
            self.close_consumer(consumer, reason)
        for up in list(self.upstreams.values()):
            up.pinned = False
            if up.release_timer is not None:
                up.release_timer.cancel()
            self._release(up)
        if self._remove_callback is not None:
            self._remove_callback()
            self._remove_callback = None
