"""The bindings of the subscription book: one per stream, and the transitions they may take.

:data:`SUBSCRIPTION_TRANSITIONS` is every legal ``(state, trigger) -> next state``; the book
(:mod:`ibstream.protocol.subscriptions`) fires nothing else.
"""

from __future__ import annotations

from enum import Enum

from ibstream.protocol.lifecycle import SubscriptionState
from ibstream.protocol.specs import Spec, StreamKey

__all__ = ["SUBSCRIPTION_TRANSITIONS", "Binding", "SubscriptionTrigger"]

PENDING = SubscriptionState.PENDING
SUBSCRIBING = SubscriptionState.SUBSCRIBING
ACTIVE = SubscriptionState.ACTIVE
QUEUED = SubscriptionState.QUEUED
UNSUBSCRIBING = SubscriptionState.UNSUBSCRIBING
FAILED = SubscriptionState.FAILED
REJECTED = SubscriptionState.REJECTED
REMOVED = SubscriptionState.REMOVED


class SubscriptionTrigger(Enum):
    """What can move a binding."""

    SEND = "send"
    """Subscribe message sent; a confirmation is expected."""
    SEND_UNCONFIRMED = "send_unconfirmed"
    """Subscribe message sent for a topic the gateway never confirms."""
    QUEUE = "queue"
    """No free market-history slot."""
    CONFIRM = "confirm"
    """First data event with the binding's key."""
    RETRY = "retry"
    """No confirmation in time; sent again."""
    RENEW = "renew"
    """Market data re-sent before IBKR's silent expiry (or after a stall)."""
    EXHAUST = "exhaust"
    """No confirmation after every attempt."""
    REJECT = "reject"
    """An error frame for the binding's topic."""
    SUSPEND = "suspend"
    """Connection or authentication lost."""
    UNSUBSCRIBE = "unsubscribe"
    """Unsubscribe sent (or waiting for a server id); a confirmation is expected."""
    REMOVE = "remove"
    """The binding leaves the book."""
    RESUBSCRIBE = "resubscribe"
    """The user asks again for a failed, rejected or unsubscribing stream."""


_S = SubscriptionTrigger

SUBSCRIPTION_TRANSITIONS: dict[tuple[SubscriptionState, SubscriptionTrigger], SubscriptionState] = {
    (PENDING, _S.SEND): SUBSCRIBING,
    (PENDING, _S.SEND_UNCONFIRMED): ACTIVE,
    (PENDING, _S.QUEUE): QUEUED,
    (PENDING, _S.SUSPEND): PENDING,
    (PENDING, _S.REMOVE): REMOVED,
    (QUEUED, _S.SEND): SUBSCRIBING,
    (QUEUED, _S.QUEUE): QUEUED,
    (QUEUED, _S.SUSPEND): PENDING,
    (QUEUED, _S.REMOVE): REMOVED,
    (SUBSCRIBING, _S.CONFIRM): ACTIVE,
    (SUBSCRIBING, _S.RETRY): SUBSCRIBING,
    (SUBSCRIBING, _S.SEND): SUBSCRIBING,  # replaced with a new spec
    (SUBSCRIBING, _S.SEND_UNCONFIRMED): ACTIVE,  # replaced with a new spec
    (SUBSCRIBING, _S.EXHAUST): FAILED,
    (SUBSCRIBING, _S.REJECT): REJECTED,
    (SUBSCRIBING, _S.SUSPEND): PENDING,
    (SUBSCRIBING, _S.UNSUBSCRIBE): UNSUBSCRIBING,
    (SUBSCRIBING, _S.REMOVE): REMOVED,
    (ACTIVE, _S.RENEW): ACTIVE,
    (ACTIVE, _S.SEND): SUBSCRIBING,  # replaced with a new spec
    (ACTIVE, _S.SEND_UNCONFIRMED): ACTIVE,  # replaced with a new spec
    (ACTIVE, _S.REJECT): REJECTED,
    (ACTIVE, _S.SUSPEND): PENDING,
    (ACTIVE, _S.UNSUBSCRIBE): UNSUBSCRIBING,
    (ACTIVE, _S.REMOVE): REMOVED,
    (UNSUBSCRIBING, _S.UNSUBSCRIBE): UNSUBSCRIBING,
    (UNSUBSCRIBING, _S.REMOVE): REMOVED,
    (UNSUBSCRIBING, _S.SUSPEND): REMOVED,  # the socket took the stream with it
    (UNSUBSCRIBING, _S.RESUBSCRIBE): PENDING,
    (FAILED, _S.SUSPEND): FAILED,
    (FAILED, _S.RESUBSCRIBE): PENDING,
    (FAILED, _S.REMOVE): REMOVED,
    (REJECTED, _S.SUSPEND): REJECTED,
    (REJECTED, _S.RESUBSCRIBE): PENDING,
    (REJECTED, _S.REMOVE): REMOVED,
}
"""Every legal ``(state, trigger) -> next state`` of a binding; nothing else is."""


OPENING_ARMED: object = object()
"""``Binding.opening`` marker: the next market-data frame is an opening snapshot."""


class Binding:
    """One stream of the book: the desired spec and where it stands. Read it, never mutate it."""

    __slots__ = (
        "attempts",
        "await_server_id",
        "confirmed_at",
        "deadline",
        "first_sent_at",
        "interrupted_at",
        "key",
        "last_data_at",
        "opening",
        "renew_at",
        "sent_at",
        "server_id",
        "spec",
        "stalls",
        "state",
    )

    def __init__(self, spec: Spec) -> None:
        self.key: StreamKey = spec.key
        self.spec: Spec = spec
        self.state: SubscriptionState = PENDING
        self.attempts = 0
        """Subscribe messages sent since the binding last became ``PENDING``."""
        self.deadline: float | None = None
        """Retry (``SUBSCRIBING``) or give-up (``UNSUBSCRIBING``) time."""
        self.server_id: str | None = None
        """History/market-data server id from the first frame; cleared on suspend."""
        self.sent_at: float | None = None
        self.first_sent_at: float | None = None
        """The first send since the binding last became ``PENDING`` (retries count from it)."""
        self.confirmed_at: float | None = None
        """When the stream was confirmed (or last renewed)."""
        self.last_data_at: float | None = None
        self.renew_at: float | None = None
        """Market data: when to re-send before IBKR's silent expiry (or the stall check)."""
        self.interrupted_at: float | None = None
        """When a live stream was interrupted; a ``Gap`` is due when it is live again."""
        self.await_server_id = False
        """History unsubscribed before its server id arrived: send ``umh`` when it does."""
        self.stalls = 0
        """Market data: stall re-sends in a row that brought nothing but their own reply."""
        self.opening: object = None
        """Market data: the opening snapshot's values while its duplicate may follow (§8.3),
        ``OPENING_ARMED`` when the next frame opens the stream (after a renewal), else ``None``."""

    def __repr__(self) -> str:
        extra = f" attempts={self.attempts}" if self.attempts else ""
        if self.server_id is not None:
            extra += f" server_id={self.server_id}"
        return f"<Binding {self.key} {self.state.name}{extra}>"
