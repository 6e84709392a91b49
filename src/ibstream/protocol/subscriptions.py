"""The subscription book: desired streams reconciled against what the gateway confirmed (pure).

Theory of operation
-------------------

The user says what they want (:meth:`SubscriptionBook.subscribe` /
:meth:`~SubscriptionBook.unsubscribe`); the book keeps one :class:`Binding` per
:class:`~ibstream.protocol.specs.StreamKey` (what IBKR keys its streams by, protocol.md §4.0) and
decides what to send. It never sends anything itself: :meth:`~SubscriptionBook.reconcile` returns
the messages, and only sends subscriptions when told the socket is authenticated (§8.1: a socket
that subscribes before ``sts authenticated:true`` may be dropped).

Per-topic rules (§4.0):

* ``FIRST_FRAME`` topics (market data, history, trades, P&L, summary, ledger) are confirmed by the
  first data event with the binding's key; without one they are re-sent, first after
  ``subscribe_first_timeout``, then after twice as long each time up to ``subscribe_timeout``
  (history: always ``subscribe_timeout``), ``subscribe_attempts`` sends in all, then ``FAILED``.
* ``ON_SEND`` topics (orders, price ladder) never get a confirmation: ``ACTIVE`` once sent.
* Market data silently expires after 10-15 min (§4.1, §8.4): an ``ACTIVE`` stream is renewed by
  re-sending its subscribe message ``md_renew_after`` after confirmation (and every period after).
  A stream silent for ``md_stall_after`` is re-sent too (the gateway may end one early); while
  such re-sends bring nothing but their own reply the wait doubles, so a contract that is quiet
  for real costs a few messages, not one every ``md_stall_after``.
* Market history: at most 5 concurrent streams (§4.2); the rest wait ``QUEUED``. The server id
  from the first frame is needed to unsubscribe (``umh+SERVERID``); unsubscribing before it
  arrived waits for it. A history frame for a stream nobody wants is unsubscribed (orphan).
* Unsubscribe confirmations exist only for history (IBind's model), summary and ledger (§5.8);
  other topics are removed as soon as the unsubscribe message is sent. An unconfirmed unsubscribe
  is assumed done after ``subscribe_timeout``.
* Connection or authentication lost (:meth:`~SubscriptionBook.suspend`): subscriptions are per
  socket and not persisted (§8.2), so every live binding goes back to ``PENDING`` (server ids
  cleared) and is re-sent once authenticated again. A stream that was ``ACTIVE`` when interrupted
  emits :class:`~ibstream.protocol.lifecycle.Gap` when it is ``ACTIVE`` again.

Every transition lives in :data:`SUBSCRIPTION_TRANSITIONS`; a pair not in it raises
:class:`~ibstream.exceptions.InvalidState`. Every change of state emits a
:class:`~ibstream.protocol.lifecycle.SubscriptionStateChanged`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ibstream.exceptions import (
    IBStreamError,
    InvalidState,
    SubscriptionConflict,
    SubscriptionRejected,
    SubscriptionTimeout,
)
from ibstream.protocol.bindings import (
    ACTIVE,
    FAILED,
    OPENING_ARMED,
    PENDING,
    QUEUED,
    REJECTED,
    REMOVED,
    SUBSCRIBING,
    SUBSCRIPTION_TRANSITIONS,
    UNSUBSCRIBING,
    Binding,
    SubscriptionTrigger,
)
from ibstream.protocol.bindings import SubscriptionTrigger as _S
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.events import (
    ErrorMessage,
    Event,
    HistoryUnsubscribed,
    LedgerUnsubscribed,
    MarketData,
    MarketHistory,
    SummaryUnsubscribed,
)
from ibstream.protocol.lifecycle import (
    Gap,
    ProtocolEvent,
    SubscriptionState,
    SubscriptionStateChanged,
)
from ibstream.protocol.registry import key_from_topic
from ibstream.protocol.specs import (
    Confirmation,
    MarketDataSpec,
    Spec,
    StreamKey,
    Topic,
)

__all__ = [
    "HISTORY_LIMIT",
    "SUBSCRIPTION_TRANSITIONS",
    "Binding",
    "SubscriptionBook",
    "SubscriptionState",
    "SubscriptionTrigger",
    "key_from_topic",
]

HISTORY_LIMIT = 5
"""The gateway serves at most 5 concurrent market-history streams (protocol.md §4.2)."""

# Topics whose unsubscribe the gateway confirms with a topic-less frame (§4.0, §5.8).
_CONFIRMS_UNSUBSCRIBE = frozenset(
    {Topic.MARKET_HISTORY, Topic.ACCOUNT_SUMMARY, Topic.ACCOUNT_LEDGER}
)
# States in which a history stream holds one of the gateway's 5 slots.
_HOLDS_SLOT = frozenset({SUBSCRIBING, ACTIVE, UNSUBSCRIBING})
_BY_ID_MAX = 4_096
# States in which the user still wants the stream.
_LIVE = frozenset({PENDING, SUBSCRIBING, ACTIVE, QUEUED})


class SubscriptionBook:
    """Desired streams reconciled against confirmed ones. See the module docstring.

    Args:
        config: knobs; defaults to :class:`~ibstream.protocol.config.ProtocolConfig()`.
        events: list to append lifecycle events to (shared with the session machine inside
            ``StreamProtocol``); standalone, :meth:`events_received` drains the book's own.
    """

    def __init__(
        self, config: ProtocolConfig | None = None, *, events: list[ProtocolEvent] | None = None
    ) -> None:
        self.config = config if config is not None else ProtocolConfig()
        self._events: list[ProtocolEvent] = events if events is not None else []
        self._bindings: dict[StreamKey, Binding] = {}
        self._outgoing: list[str] = []  # unsubscribes decided between reconciles
        self._orphans: set[str] = set()  # history server ids unsubscribed without a binding
        self.dirty = False
        """True when :meth:`reconcile` has work to do besides deadlines."""
        self._deadline: float | None = None  # lower bound of the earliest binding deadline
        # Hot path: the decoder hands out one StreamKey instance per topic, and hashing a
        # dataclass key runs Python code; so on_data first looks the key up by identity.
        # Entries keep the key alive (no id reuse) and are dropped whenever a binding is removed.
        self._by_id: dict[int, tuple[StreamKey, Binding]] = {}
        self.duplicate_openings = 0
        """Duplicated opening market-data snapshots dropped (§8.3)."""

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for b in self._bindings.values():
            counts[b.state.name] = counts.get(b.state.name, 0) + 1
        summary = " ".join(f"{name}={n}" for name, n in sorted(counts.items()))
        return f"<SubscriptionBook {len(self._bindings)} streams{' ' if summary else ''}{summary}>"

    # --- read-only views ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._bindings)

    def __contains__(self, key: object) -> bool:
        return key in self._bindings

    def get(self, key: StreamKey) -> Binding | None:
        """The binding for ``key``, if any."""
        return self._bindings.get(key)

    def view(self) -> Mapping[StreamKey, tuple[Spec, SubscriptionState]]:
        """A snapshot: key -> (spec, state)."""
        return {k: (b.spec, b.state) for k, b in self._bindings.items()}

    def events_received(self) -> list[ProtocolEvent]:
        """Drain the lifecycle events emitted so far."""
        out, self._events[:] = list(self._events), []
        return out

    # --- user intent ----------------------------------------------------------------------------

    def subscribe(self, spec: Spec, now: float, *, replace: bool = False) -> StreamKey:
        """Want ``spec``'s stream. Idempotent for an equal spec.

        Raises:
            SubscriptionConflict: the stream is live with a different spec and ``replace`` is
                false. With ``replace=True`` the new spec is sent instead (for market data with
                the same exchange and more fields, a plain re-send adds them, §4.1).
        """
        key = spec.key
        b = self._bindings.get(key)
        if b is None:
            b = Binding(spec)
            self._bindings[key] = b
            self._emit(b, None, "subscribed")
            self.dirty = True
            return key
        if b.state in _LIVE:
            if b.spec == spec:
                return key
            if not replace:
                raise SubscriptionConflict(
                    f"{key} is already subscribed with {b.spec!r}; "
                    f"pass replace=True to switch to {spec!r}"
                )
            self._replace(b, spec, now)
            return key
        # FAILED, REJECTED or UNSUBSCRIBING: start over with the new spec.
        b.spec = spec
        self._reset(b)
        self._fire(b, _S.RESUBSCRIBE, now, "subscribed again")
        self.dirty = True
        return key

    def unsubscribe(self, key: StreamKey, now: float) -> None:
        """Stop wanting ``key``'s stream. Idempotent; unknown keys are ignored."""
        b = self._bindings.get(key)
        if b is None or b.state is UNSUBSCRIBING:
            return
        if b.state not in (SUBSCRIBING, ACTIVE):  # never sent on this socket
            self._fire(b, _S.REMOVE, now, "unsubscribed")
            self.dirty = True
            return
        if key.topic is Topic.MARKET_HISTORY and b.server_id is None:
            b.await_server_id = True
            b.deadline = now + self.config.subscribe_timeout
            self._lower_deadline(b.deadline)
            self._fire(b, _S.UNSUBSCRIBE, now, "unsubscribe waits for the history server id")
            return
        self._outgoing.append(b.spec.unsubscribe_message(b.server_id))
        self.dirty = True
        if key.topic in _CONFIRMS_UNSUBSCRIBE:
            b.deadline = now + self.config.subscribe_timeout
            self._lower_deadline(b.deadline)
            self._fire(b, _S.UNSUBSCRIBE, now, "unsubscribe sent")
        else:
            self._fire(b, _S.REMOVE, now, "unsubscribe sent")

    # --- what the gateway says ------------------------------------------------------------------

    def on_data(self, event: Event, key: StreamKey, now: float) -> bool | None:
        """A data event for ``key`` arrived (the hot path: one dict lookup when ``ACTIVE``).

        Returns True when the event must not be delivered: the duplicate of a market-data
        stream's opening snapshot (§8.3), counted in :attr:`duplicate_openings`. Returns
        ``None`` (deliver, and *settled*) when more data for ``key`` at the same ``now`` would
        change nothing until the book is driven otherwise (the stream is ``ACTIVE``, flowing,
        with no opening snapshot to compare): a caller may skip those calls. False: deliver."""
        hit = self._by_id.get(id(key))
        if hit is not None and hit[0] is key:
            b = hit[1]
        else:
            found = self._bindings.get(key)
            if found is None:
                if type(event) is MarketHistory:
                    self._orphan_history(event)
                return False
            b = found
            if len(self._by_id) >= _BY_ID_MAX:
                self._by_id.clear()
            self._by_id[id(key)] = (key, b)
        b.last_data_at = now
        state = b.state
        if state is ACTIVE:
            settled = True
            if b.stalls:
                self._flowing(b, now)
                settled = False
            if b.opening is not None:
                return self._opening(b, event) if type(event) is MarketData else False
            return None if settled else False
        if state is SUBSCRIBING:
            if type(event) is MarketData:
                b.server_id = event.server_id
                b.opening = event.values
            elif type(event) is MarketHistory:
                b.server_id = event.server_id
            self._activate(b, _S.CONFIRM, now, "first frame received")
        elif (
            state is UNSUBSCRIBING
            and b.await_server_id
            and type(event) is MarketHistory
            and event.server_id is not None
        ):
            b.server_id = event.server_id
            b.await_server_id = False
            b.deadline = now + self.config.subscribe_timeout
            self._lower_deadline(b.deadline)
            self._outgoing.append(b.spec.unsubscribe_message(b.server_id))
            self.dirty = True
        return False

    def _flowing(self, b: Binding, now: float) -> None:
        """Data long after the last stall re-send: the stream flows on its own, so the stall
        check is back to ``md_stall_after`` (rare: only after stall re-sends)."""
        stall = self.config.md_stall_after
        if stall is None or now < (b.sent_at or 0.0) + stall:
            return
        b.stalls = 0
        at = now + stall
        if b.renew_at is None or at < b.renew_at:
            b.renew_at = at
            self._lower_deadline(at)

    def _opening(self, b: Binding, event: MarketData) -> bool:
        """The frame after an opening snapshot: drop it when it repeats the snapshot."""
        opening = b.opening
        if opening is OPENING_ARMED:  # a renewal: this frame is the new opening snapshot
            b.opening = event.values
            return False
        b.opening = None
        if event.values == opening:
            self.duplicate_openings += 1
            return True
        return False

    def on_event(self, event: Event, now: float) -> None:
        """A non-data event that may concern the book (unsubscribe confirmations, errors)."""
        cls = type(event)
        if cls is HistoryUnsubscribed:
            assert isinstance(event, HistoryUnsubscribed)
            sid = event.server_id
            self._orphans.discard(sid)
            for b in self._bindings.values():
                if b.state is UNSUBSCRIBING and b.server_id == sid:
                    self._fire(b, _S.REMOVE, now, f"gateway confirmed: Unsubscribed {sid}")
                    self.dirty = True
                    return
        elif cls is SummaryUnsubscribed:
            self._confirm_unsubscribe(Topic.ACCOUNT_SUMMARY, now)
        elif cls is LedgerUnsubscribed:
            self._confirm_unsubscribe(Topic.ACCOUNT_LEDGER, now)
        elif cls is ErrorMessage:
            assert isinstance(event, ErrorMessage)
            key = key_from_topic(event.topic)
            target = self._bindings.get(key) if key is not None else None
            if target is not None and target.state in (SUBSCRIBING, ACTIVE):
                error = SubscriptionRejected(f"{target.key}: gateway error: {event.message}")
                self._fire(target, _S.REJECT, now, f"gateway error: {event.message}", error)
                self.dirty = True

    def suspend(self, now: float, reason: str) -> None:
        """The connection or the authentication was lost: nothing is live on the gateway now."""
        self._outgoing.clear()
        self._orphans.clear()
        for b in list(self._bindings.values()):
            state = b.state
            if state is ACTIVE and b.interrupted_at is None:
                b.interrupted_at = now
            if state is FAILED or state is REJECTED or state is PENDING:
                continue
            self._reset(b)
            self._fire(b, _S.SUSPEND, now, reason)
        self.dirty = True

    # --- reconciliation -------------------------------------------------------------------------

    def reconcile(self, now: float, authenticated: bool) -> list[str]:
        """Handle due deadlines and send what is wanted; returns the messages to send.

        Nothing is sent while not ``authenticated``.
        """
        out = self._outgoing
        self._outgoing = []
        self.dirty = False
        if not authenticated:
            out.clear()
            self._deadline = self._earliest()
            return out
        cfg = self.config
        # Pass 1: deadlines.
        if self._deadline is not None and now >= self._deadline:
            for b in list(self._bindings.values()):
                state = b.state
                if state is SUBSCRIBING:
                    if b.deadline is not None and now >= b.deadline:
                        self._retry(b, now, out)
                elif state is ACTIVE:
                    if b.renew_at is not None and now >= b.renew_at:
                        self._renew(b, now, out)
                elif state is UNSUBSCRIBING and b.deadline is not None and now >= b.deadline:
                    why = (
                        "history server id never arrived"
                        if b.await_server_id
                        else f"no unsubscribe confirmation in {cfg.subscribe_timeout:g} s"
                    )
                    self._fire(b, _S.REMOVE, now, f"{why}; assumed removed")
        # Pass 2: send what waits, within the history slots.
        slots = HISTORY_LIMIT - sum(
            1
            for b in self._bindings.values()
            if b.key.topic is Topic.MARKET_HISTORY and b.state in _HOLDS_SLOT
        )
        for b in list(self._bindings.values()):
            state = b.state
            if state is not PENDING and state is not QUEUED:
                continue
            if b.key.topic is Topic.MARKET_HISTORY:
                if slots <= 0:
                    self._fire(b, _S.QUEUE, now, f"{HISTORY_LIMIT} history streams already open")
                    continue
                slots -= 1
            self._send(b, now, out)
        self._deadline = self._earliest()
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`reconcile` next has a deadline to handle (may be early, never late)."""
        return self._deadline

    # --- internals ------------------------------------------------------------------------------

    def _send(self, b: Binding, now: float, out: list[str]) -> None:
        out.append(b.spec.subscribe_message())
        b.attempts += 1
        b.sent_at = b.first_sent_at = now
        if b.spec.confirmation is Confirmation.ON_SEND:
            self._activate(b, _S.SEND_UNCONFIRMED, now, "sent (the gateway never confirms)")
        else:
            b.deadline = now + self._confirm_within(b)
            self._fire(b, _S.SEND, now, f"sent, attempt {b.attempts}")

    def _retry(self, b: Binding, now: float, out: list[str]) -> None:
        cfg = self.config
        if b.attempts >= cfg.subscribe_attempts:
            assert b.first_sent_at is not None
            error = SubscriptionTimeout(
                f"{b.key}: no confirmation after {b.attempts} attempts "
                f"in {now - b.first_sent_at:g} s"
            )
            b.deadline = None
            self._fire(b, _S.EXHAUST, now, str(error), error)
            self.dirty = True  # a history slot may have freed
            return
        out.append(b.spec.subscribe_message())
        b.attempts += 1
        b.sent_at = now
        b.deadline = now + self._confirm_within(b)
        self._fire(b, _S.RETRY, now, f"no confirmation; attempt {b.attempts}")

    def _confirm_within(self, b: Binding) -> float:
        """How long the send number ``b.attempts`` waits for its confirmation: short first
        (the gateway confirms in ~0.5 s, §1.7; a first ``smd`` is sometimes ignored, §8.14),
        doubling up to ``subscribe_timeout``; history always the full timeout (a re-sent
        ``smh`` may take a second of the 5 slots, §4.2)."""
        cfg = self.config
        if b.key.topic is Topic.MARKET_HISTORY:
            return cfg.subscribe_timeout
        wait = cfg.subscribe_first_timeout * 2.0 ** min(b.attempts - 1, 16)
        return min(cfg.subscribe_timeout, wait)

    def _renew(self, b: Binding, now: float, out: list[str]) -> None:
        cfg = self.config
        assert b.confirmed_at is not None
        renew_due = b.confirmed_at + cfg.md_renew_after
        stall_due = float("inf")
        stall = self._stall_wait(b)
        if stall is not None:
            stall_due = max(b.last_data_at or 0.0, b.sent_at or 0.0) + stall
        if now >= renew_due:
            reason = "renewed before IBKR's silent expiry"
        elif now >= stall_due:
            reason = f"no data for {stall:g} s; re-sent"
            b.stalls += 1
        else:  # data arrived since the stall check was scheduled
            b.renew_at = min(renew_due, stall_due)
            return
        out.append(b.spec.subscribe_message())
        b.sent_at = now
        b.confirmed_at = now
        b.opening = OPENING_ARMED
        b.renew_at = self._renew_at(b, now)
        self._fire(b, _S.RENEW, now, reason)

    def _stall_wait(self, b: Binding) -> float | None:
        """How long silence means a stalled stream: ``md_stall_after``, doubled per re-send that
        brought nothing but its own reply, never beyond ``md_renew_after``; ``None``: off."""
        cfg = self.config
        if cfg.md_stall_after is None:
            return None
        return min(cfg.md_stall_after * 2.0 ** min(b.stalls, 32), cfg.md_renew_after)

    def _renew_at(self, b: Binding, now: float) -> float:
        at = now + self.config.md_renew_after
        stall = self._stall_wait(b)
        if stall is not None:
            at = min(at, now + stall)
        return at

    def _activate(self, b: Binding, trigger: SubscriptionTrigger, now: float, reason: str) -> None:
        b.confirmed_at = now
        b.deadline = None
        if b.spec.expires:
            b.stalls = 0
            b.renew_at = self._renew_at(b, now)
            self._lower_deadline(b.renew_at)
        self._fire(b, trigger, now, reason)
        if b.interrupted_at is not None:
            self._events.append(Gap(key=b.key, start=b.interrupted_at, end=now))
            b.interrupted_at = None

    def _replace(self, b: Binding, spec: Spec, now: float) -> None:
        old = b.spec
        b.spec = spec
        if b.state is not SUBSCRIBING and b.state is not ACTIVE:  # not sent yet
            return
        out = self._outgoing
        superset = (
            isinstance(old, MarketDataSpec)
            and isinstance(spec, MarketDataSpec)
            and spec.covers(old)
        )
        if not superset and (b.server_id is not None or old.topic is not Topic.MARKET_HISTORY):
            out.append(old.unsubscribe_message(b.server_id))
        b.attempts = 0
        b.server_id = None
        self._send(b, now, out)
        self.dirty = True
        if b.deadline is not None:
            self._lower_deadline(b.deadline)

    def _confirm_unsubscribe(self, topic: Topic, now: float) -> None:
        for b in self._bindings.values():
            if b.state is UNSUBSCRIBING and b.key.topic is topic:
                self._fire(b, _S.REMOVE, now, "gateway confirmed the unsubscribe")
                self.dirty = True
                return

    def _orphan_history(self, event: MarketHistory) -> None:
        sid = event.server_id
        if sid is not None and sid not in self._orphans:
            self._orphans.add(sid)
            self._outgoing.append(f"umh+{sid}")
            self.dirty = True

    @staticmethod
    def _reset(b: Binding) -> None:
        b.attempts = 0
        b.deadline = None
        b.server_id = None
        b.renew_at = None
        b.await_server_id = False

    def _fire(
        self,
        b: Binding,
        trigger: SubscriptionTrigger,
        now: float,
        reason: str,
        error: IBStreamError | None = None,
    ) -> None:
        previous = b.state
        try:
            current = SUBSCRIPTION_TRANSITIONS[(previous, trigger)]
        except KeyError:
            raise InvalidState(
                f"subscription {b.key}: {trigger.value} is not allowed in state {previous.name}"
            ) from None
        if current is REMOVED:
            del self._bindings[b.key]
            self._by_id.clear()
        b.state = current
        if current is not previous:
            self._emit(b, previous, reason, error)

    def _emit(
        self,
        b: Binding,
        previous: SubscriptionState | None,
        reason: str,
        error: IBStreamError | None = None,
    ) -> None:
        self._events.append(
            SubscriptionStateChanged(
                key=b.key, previous=previous, current=b.state, reason=reason, error=error
            )
        )

    def _lower_deadline(self, at: float) -> None:
        if self._deadline is None or at < self._deadline:
            self._deadline = at

    def _earliest(self) -> float | None:
        earliest: float | None = None
        for b in self._bindings.values():
            state = b.state
            if state is SUBSCRIBING or state is UNSUBSCRIBING:
                at = b.deadline
            elif state is ACTIVE:
                at = b.renew_at
            else:
                continue
            if at is not None and (earliest is None or at < earliest):
                earliest = at
        return earliest
