"""``StreamProtocol``: the sans-I/O connection, combining decoder, session machine and book.

The asyncio driver (``ibstream.aio``) wraps one :class:`StreamProtocol` and follows the same four
steps for every input (style.md principle 4)::

    protocol.receive_frames(batch, now)        # 1. feed (or connection_made, tick, subscribe...)
    events = protocol.events_received()        # 2. drain events
    send_all(protocol.data_to_send())          # 3. flush writes
    perform(protocol.actions_requested())      # 4. do what only I/O can do (REST, reconnect)

and keeps a single timer that calls :meth:`StreamProtocol.tick` at
:meth:`StreamProtocol.next_deadline`. ``receive_frames`` takes the frames of one socket read
(``receive_frame`` one frame): the result is the same as feeding them one by one.

Every ``connecting()`` must end in ``connection_made()`` or ``connection_lost()``, and every
``connection_made()`` in ``connection_lost()`` — also after ``close()`` or a ``Reconnect`` /
``Fatal`` action, which is how the protocol reaches ``DISCONNECTED`` / ``CLOSED``.

Events come out in the order things happened: decoder events in arrival order, each frame's
events preceded by the lifecycle events they caused (a confirming frame follows its
``SubscriptionStateChanged -> ACTIVE`` and any ``Gap``; an ``sts`` frame follows its
``SessionStateChanged``) and followed by the consequences for the book (streams suspended when
authentication is lost, re-sent when it is back).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ibstream.exceptions import InvalidState
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    AuthStatus,
    ErrorMessage,
    Event,
    HistoryUnsubscribed,
    LedgerUnsubscribed,
    MarketData,
    MarketHistory,
    OrderUpdate,
    Pnl,
    PriceLadder,
    SummaryUnsubscribed,
    Trade,
    TradesOpened,
    WaitingForSession,
)
from ibstream.protocol.executions import ExecutionMemory
from ibstream.protocol.lifecycle import Action, ProtocolEvent, SessionState, SubscriptionState
from ibstream.protocol.session import Session
from ibstream.protocol.specs import Spec, StreamKey
from ibstream.protocol.subscriptions import SubscriptionBook

__all__ = ["ProtocolConfig", "StreamProtocol"]


_DATA_EVENTS: tuple[type[Any], ...] = (
    MarketHistory,
    PriceLadder,
    OrderUpdate,
    TradesOpened,
    Trade,
    Pnl,
    AccountSummary,
    AccountLedger,
)
_BOOK_EVENTS: tuple[type[Any], ...] = (
    HistoryUnsubscribed,
    SummaryUnsubscribed,
    LedgerUnsubscribed,
    ErrorMessage,
)


class StreamProtocol:
    """The sans-I/O streaming connection. See the module docstring for how to drive it.

    Args:
        config: every knob; defaults to :class:`ProtocolConfig()`.
    """

    def __init__(self, config: ProtocolConfig | None = None) -> None:
        self.config = config if config is not None else ProtocolConfig()
        # Outputs, shared by the session machine and the book so everything stays in order.
        self._events: list[ProtocolEvent] = []
        self._outgoing: list[str] = []
        self._actions: list[Action] = []
        # The two machines
        self._session = Session(
            self.config,
            events=self._events,
            outgoing=self._outgoing,
            actions=self._actions,
        )
        self._book = SubscriptionBook(self.config, events=self._events)
        # One Trade per execution: re-sends become TradeUpdated or nothing (§8.8).
        self._executions = ExecutionMemory()
        # What the book was last told about authentication (suspend on the falling edge).
        self._authenticated = False
        # A frame moved the session machine: sync the book after it (not on every data frame).
        self._session_touched = False
        # Event type -> handler; MarketData (the hot path) is handled inline.
        self._handlers: dict[type[Any], Callable[[Any, float], None]] = {
            AuthStatus: self._on_auth_status,
            WaitingForSession: self._on_waiting_for_session,
        }
        for cls in _DATA_EVENTS:
            self._handlers[cls] = self._on_data
        for cls in _BOOK_EVENTS:
            self._handlers[cls] = self._book.on_event

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for _, state in self._book.view().values():
            counts[state.name] = counts.get(state.name, 0) + 1
        detail = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        return (
            f"<StreamProtocol {self._session.state.name} {len(self._book)} streams"
            + (f" ({detail})" if detail else "")
            + ">"
        )

    # --- read-only views ------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The session machine's state."""
        return self._session.state

    @property
    def authenticated(self) -> bool:
        """True when subscriptions flow."""
        return self._session.authenticated

    @property
    def subscriptions(self) -> Mapping[StreamKey, tuple[Spec, SubscriptionState]]:
        """A snapshot of the book: key -> (spec, state)."""
        return self._book.view()

    @property
    def session(self) -> Session:
        """The session machine (for inspection; drive the protocol, not the machine)."""
        return self._session

    @property
    def book(self) -> SubscriptionBook:
        """The subscription book (for inspection; drive the protocol, not the book)."""
        return self._book

    # --- inputs ---------------------------------------------------------------------------------

    def connecting(self, now: float) -> None:
        """The I/O layer starts opening a socket."""
        self._session.connecting(now)

    def connection_made(self, now: float, session_id: str | None = None) -> None:
        """The socket is open; ``session_id`` is the ``/tickle`` session id if known."""
        self._session.connection_made(now, session_id)

    def receive_frame(self, data: str | bytes, now: float) -> None:
        """A frame arrived: decode it, update the machines, queue what follows.

        The same as ``receive_frames([data], now)``, except that an exception raised while
        processing the frame (a bug: bad input gives ``Malformed`` events) propagates."""
        failures = self.receive_frames((data,), now)
        if failures:
            raise failures[0][1]

    def receive_frames(
        self, frames: Sequence[str | bytes], now: float
    ) -> list[tuple[int, Exception]]:
        """Frames that arrived together at ``now`` (one socket read), oldest first.

        Each frame is processed exactly as :meth:`receive_frame` would, in order; the events
        come out as if the frames had been fed one by one. One frame's exception (a bug: bad
        input gives ``Malformed`` events) does not stop the others: it is returned as
        ``(index, exception)`` (that frame's own events are dropped, as when
        :meth:`receive_frame` raises), in frame order; the list is empty when all went well.
        """
        if not frames:
            return []
        self._session.frame_received(now)  # one store: the socket is alive at ``now``
        book = self._book
        on_data = book.on_data
        handlers_get = self._handlers.get
        emit = self._events.extend
        decode_ = decode
        md, trade = MarketData, Trade
        failures: list[tuple[int, Exception]] = []
        index = -1
        event: Any  # checked by class below (``is``, not ``isinstance``: no narrowing)
        # ids of market-data streams the book called settled (``SubscriptionBook.on_data``):
        # their further data in this batch changes nothing in the book until something else
        # drives it (another kind of event, a sync, a failure), so it is not shown to the book
        settled: set[int] = set()
        for data in frames:
            index += 1
            try:
                events = decode_(data)
                dropped: list[Event] | None = None
                trades = False
                for event in events:
                    cls = event.__class__
                    if cls is md:  # the hot path: nothing at all for a settled stream
                        key = event.key
                        if settled and id(key) in settled:
                            continue
                        verdict = on_data(event, key, now)
                        if verdict is None:
                            settled.add(id(key))
                        elif verdict:  # the opening snapshot's duplicate
                            dropped = [event] if dropped is None else [*dropped, event]
                    else:
                        settled.clear()
                        handler = handlers_get(cls)
                        if handler is not None:
                            handler(event, now)
                        if cls is trade:
                            trades = True
                if dropped is not None or trades:
                    events = self._rewrite(events, dropped or [])
                # Lifecycle events caused by this frame were appended by the handlers: they
                # precede it.
                emit(events)
                if book.dirty or self._session_touched:
                    settled.clear()
                    self._session_touched = False
                    self._sync(now)
            except Exception as exc:
                settled.clear()
                failures.append((index, exc))
        return failures

    def connection_lost(self, now: float, code: int | None = None, reason: str = "") -> None:
        """The socket closed, or the connect attempt failed."""
        self._session.connection_lost(now, code, reason)
        self._sync(now)

    def auth_status_polled(
        self, now: float, authenticated: bool, competing: bool, connected: bool
    ) -> None:
        """The result of a ``PollAuthStatus`` action; stale results (no socket) are ignored."""
        self._session.auth_status_polled(now, authenticated, competing, connected)
        self._sync(now)

    def subscribe(self, spec: Spec, now: float, replace: bool = False) -> StreamKey:
        """Want ``spec``'s stream (sent once authenticated). Idempotent for an equal spec.

        Raises:
            SubscriptionConflict: the stream is live with another spec and ``replace`` is false.
            InvalidState: the protocol is closing or closed.
        """
        self._check_running("subscribe")
        key = self._book.subscribe(spec, now, replace=replace)
        self._sync(now)
        return key

    def unsubscribe(self, key: StreamKey, now: float) -> None:
        """Stop wanting ``key``'s stream. Idempotent; unknown keys are ignored."""
        self._book.unsubscribe(key, now)
        self._sync(now)

    def tick(self, now: float) -> None:
        """Handle every deadline that has passed (call it at :meth:`next_deadline`)."""
        self._session.tick(now)
        self._sync(now)

    def close(self, now: float) -> None:
        """Stop for good: ``CLOSING`` until ``connection_lost``, then ``CLOSED``. Idempotent."""
        self._session.close(now)
        self._sync(now)

    # --- outputs --------------------------------------------------------------------------------

    def events_received(self) -> list[ProtocolEvent]:
        """Drain decoder and lifecycle events, in the order they happened."""
        events = self._events
        if not events:
            return []
        out = events[:]
        events.clear()
        return out

    @property
    def has_output(self) -> bool:
        """Whether text to send or actions are waiting (lets a driver skip two drains per frame)."""
        return bool(self._outgoing) or bool(self._actions)

    def data_to_send(self) -> list[str]:
        """Drain the text messages to send on the socket, in order."""
        outgoing = self._outgoing
        if not outgoing:
            return []
        out = outgoing[:]
        outgoing.clear()
        return out

    def actions_requested(self) -> list[Action]:
        """Drain the actions the I/O layer must perform."""
        actions = self._actions
        if not actions:
            return []
        out = actions[:]
        actions.clear()
        return out

    @property
    def suppressed(self) -> dict[str, int]:
        """What the protocol kept from its consumers, so that events count things once:
        ``opening_snapshots`` (the duplicated first ``smd`` frame, §8.3), ``trade_resends``
        (re-sent executions that changed nothing) and ``trade_updates`` (re-sends delivered as
        ``TradeUpdated`` rather than a second ``Trade``, §8.8)."""
        return {
            "opening_snapshots": self._book.duplicate_openings,
            "trade_resends": self._executions.resends,
            "trade_updates": self._executions.updates,
        }

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`tick` has work to do, or ``None`` (may be early, never late)."""
        a = self._session.next_deadline()
        b = self._book.next_deadline()
        if a is None:
            return b
        if b is None:
            return a
        return a if a < b else b

    # --- internals ------------------------------------------------------------------------------

    def _on_auth_status(self, event: AuthStatus, now: float) -> None:
        self._session.auth_status(now, event.authenticated, event.competing)
        self._session_touched = True

    def _on_waiting_for_session(self, event: WaitingForSession, now: float) -> None:
        self._session.waiting_for_session(now)
        self._session_touched = True

    def _on_data(self, event: Event, now: float) -> None:
        self._book.on_data(event, event.key, now)  # type: ignore[union-attr]

    def _rewrite(self, events: list[Event], dropped: list[Event]) -> list[Event]:
        """Drop duplicated opening snapshots; one ``Trade`` per execution (see ``suppressed``)."""
        out: list[Event] = []
        observe = self._executions.observe
        for event in events:
            if type(event) is MarketData:
                if not any(event is d for d in dropped):
                    out.append(event)
            elif type(event) is Trade:
                delivered = observe(event)
                if delivered is not None:
                    out.append(delivered)
            else:
                out.append(event)
        return out

    def _sync(self, now: float) -> None:
        """Tell the book about authentication edges and send what it decides."""
        authenticated = self._session.authenticated
        if authenticated != self._authenticated:
            self._authenticated = authenticated
            if not authenticated:
                self._book.suspend(now, self._session.reason)
        self._outgoing.extend(self._book.reconcile(now, authenticated))

    def _check_running(self, what: str) -> None:
        if self._session.stopping:
            raise InvalidState(f"cannot {what}: the protocol is {self._session.state.name}")
