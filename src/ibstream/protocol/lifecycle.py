"""Lifecycle events and actions of the sans-I/O session machinery.

Lifecycle events are emitted by :class:`~ibstream.protocol.connection.StreamProtocol` next to the
decoder's events (see :mod:`ibstream.protocol.events`), in the order things happened:

* :class:`SessionStateChanged` — the session machine (:mod:`ibstream.protocol.session`) moved.
* :class:`SubscriptionStateChanged` — one binding of the subscription book
  (:mod:`ibstream.protocol.subscriptions`) moved; ``previous`` is ``None`` when the binding was
  just created, ``current`` is :attr:`SubscriptionState.REMOVED` when it left the book.
* :class:`Gap` — a stream that was live was interrupted (connection or authentication lost) and
  is live again; data between ``start`` and ``end`` was missed and IBKR does not replay it
  (protocol.md §8.17), so re-sync through REST if it matters.
* :class:`ApplyFailed` — emitted by the driver's router, not the core: applying one event to live
  state raised; that event was isolated and the session goes on.

Actions are work only the I/O layer can do; the core asks for them through
``actions_requested()``: :class:`Reconnect`, :class:`PollAuthStatus`, :class:`Tickle`,
:class:`Reauthenticate`, :class:`Fatal`.

The state enums live here (not in their machines' modules) so that events, machines and the
driver share one vocabulary without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from ibstream.exceptions import IBStreamError
from ibstream.protocol.events import Event
from ibstream.protocol.specs import StreamKey

__all__ = [
    "Action",
    "ApplyFailed",
    "Fatal",
    "Gap",
    "LifecycleEvent",
    "PollAuthStatus",
    "ProtocolEvent",
    "Reauthenticate",
    "Reconnect",
    "SessionState",
    "SessionStateChanged",
    "SubscriptionState",
    "SubscriptionStateChanged",
    "Tickle",
]


class SessionState(Enum):
    """Where the connection and the brokerage authentication stand (protocol.md §3.3)."""

    DISCONNECTED = "disconnected"
    """No socket; the initial state, and the state between reconnect attempts."""
    CONNECTING = "connecting"
    """The I/O layer is opening the socket."""
    CONNECTED = "connected"
    """Socket open; waiting for the opening burst and ``sts authenticated:true`` (§1.4)."""
    WAITING_FOR_SESSION = "waiting_for_session"
    """The gateway said ``waiting for session``; the ``{"session":...}`` message was sent (§1.3)."""
    AUTHENTICATED = "authenticated"
    """Brokerage session usable: subscriptions flow."""
    AUTH_LOST = "auth_lost"
    """Socket open but ``authenticated:false``: data stopped, the REST auth status is polled."""
    COMPETING = "competing"
    """Another brokerage session for the same user took over (``competing:true``)."""
    CLOSING = "closing"
    """The socket is being torn down (by the user, for a reconnect, or after a fatal error)."""
    CLOSED = "closed"
    """Stopped for good; terminal."""

    def __repr__(self) -> str:
        return f"<SessionState.{self.name}>"


class SubscriptionState(Enum):
    """Where one binding of the subscription book stands."""

    PENDING = "pending"
    """Desired, waiting for an authenticated socket."""
    SUBSCRIBING = "subscribing"
    """Subscribe message sent, waiting for the first matching frame (retried on timeout)."""
    ACTIVE = "active"
    """Confirmed (or, for topics the gateway never confirms, sent)."""
    QUEUED = "queued"
    """Market history beyond the gateway's 5 concurrent streams; waits for a free slot (§4.2)."""
    UNSUBSCRIBING = "unsubscribing"
    """Unsubscribe sent (or waiting for a history server id); waiting for the confirmation."""
    FAILED = "failed"
    """No confirmation after every attempt (``SubscriptionTimeout``); not retried until asked."""
    REJECTED = "rejected"
    """The gateway answered with an error frame (``SubscriptionRejected``)."""
    REMOVED = "removed"
    """Left the book (unsubscribed); terminal, only ever seen in events."""

    def __repr__(self) -> str:
        return f"<SubscriptionState.{self.name}>"


# --- lifecycle events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStateChanged:
    """The session machine moved from ``previous`` to ``current``; ``reason`` says why."""

    previous: SessionState
    current: SessionState
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionStateChanged:
    """A binding moved; ``error`` is set for :attr:`~SubscriptionState.FAILED` and
    :attr:`~SubscriptionState.REJECTED` (a ``SubscriptionTimeout`` / ``SubscriptionRejected``)."""

    key: StreamKey
    previous: SubscriptionState | None
    current: SubscriptionState
    reason: str
    error: IBStreamError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Stream ``key`` was interrupted at ``start`` and confirmed live again at ``end`` (epoch s)."""

    key: StreamKey
    start: float
    end: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyFailed:
    """Applying one event to live state (or to a consumer) raised; the event was isolated.

    The client keeps the connection and the other events of the frame: the failed event is
    still delivered to consumers, this event says what went wrong with it. ``key`` is the failed
    event's stream (``None`` for events of no stream), ``event_type`` its class name and
    ``error`` the exception as text (``ExceptionType: message``).
    """

    key: StreamKey | None
    event_type: str
    error: str


LifecycleEvent: TypeAlias = SessionStateChanged | SubscriptionStateChanged | Gap | ApplyFailed
"""Any event produced by the session machinery itself (not by the decoder): the protocol's state
changes and gaps, and the driver's :class:`ApplyFailed`."""

ProtocolEvent: TypeAlias = Event | LifecycleEvent
"""Anything ``StreamProtocol.events_received()`` returns: decoder and lifecycle events."""


# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnect:
    """Close the socket and open a new one (heartbeat timeout, authentication lost too long...)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PollAuthStatus:
    """Call ``/iserver/auth/status`` and report with ``auth_status_polled()`` (§2.2, §3.3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tickle:
    """Call the ``/tickle`` REST keep-alive (§2.1, §7)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reauthenticate:
    """Reclaim the brokerage session from a competing login (``/iserver/auth/ssodh/init``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fatal:
    """Stop the client and surface ``error`` to the user; the protocol is closing for good."""

    error: IBStreamError


Action: TypeAlias = Reconnect | PollAuthStatus | Tickle | Reauthenticate | Fatal
"""Any action the core asks the I/O layer to perform."""
