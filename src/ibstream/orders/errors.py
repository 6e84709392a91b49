"""Errors of order entry, part of the one exception tree (:mod:`ibstream.exceptions`).

::

    IBStreamError
    └── TradingError                       an order action could not be carried out
        ├── TradingDisabled                trading is off, or the client is read-only
        ├── LimitExceeded (ValueError)     a safety limit refused the order before sending
        ├── OrderRejected                  the gateway refused the order (carries its message)
        ├── PromptsDeclined                reply prompts the policy did not accept (carries them)
        ├── OrderStateUnknown              the outcome could not be established: look it up
        ├── OrderNotFilled                 a handle's order ended without a complete fill
        ├── ActionNotOffered (ValueError)  an answer the question does not offer (never sent)
        ├── ExerciseRejected               the gateway refused an option-exercise step
        └── ExerciseInterrupted            the socket closed during an exercise dialog

Every error carries the customer order ids (``coids``) of the orders it concerns, so the user
can always find the orders again in the gateway's live order list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ibstream.exceptions import IBStreamError
from ibstream.masking import mask_text

if TYPE_CHECKING:
    from ibstream.orders.prompts import Prompt

__all__ = [
    "ActionNotOffered",
    "ExerciseInterrupted",
    "ExerciseRejected",
    "LimitExceeded",
    "OrderNotFilled",
    "OrderRejected",
    "OrderStateUnknown",
    "PromptsDeclined",
    "TradingDisabled",
    "TradingError",
]


class TradingError(IBStreamError):
    """An order action could not be carried out."""

    def __init__(self, message: str, coids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.coids = tuple(coids)


class TradingDisabled(TradingError):
    """Trading is off (the default) or the client is read-only; nothing was sent."""


class LimitExceeded(TradingError, ValueError):
    """A configured safety limit refused the order before anything was sent."""

    def __init__(self, limit: str, message: str, coids: Sequence[str] = ()) -> None:
        super().__init__(f"{limit}: {message}", coids)
        self.limit = limit


class OrderRejected(TradingError):
    """The gateway refused the order; ``message`` is IBKR's text."""

    def __init__(self, message: str, coids: Sequence[str] = (), status: int | None = None) -> None:
        super().__init__(f"order rejected: {message}", coids)
        self.reason = message
        self.status = status


class PromptsDeclined(TradingError):
    """The gateway asked questions the prompt policy did not accept; nothing was confirmed.

    ``prompts`` holds every question of the chain up to and including the declined one.
    """

    def __init__(self, prompts: Sequence[Prompt], coids: Sequence[str] = ()) -> None:
        last = prompts[-1] if prompts else None
        ids = ", ".join(last.message_ids) if last is not None else ""
        text = mask_text(last.text) if last is not None else ""
        super().__init__(f"reply prompt not accepted (message ids {ids or 'none'}): {text}", coids)
        self.prompts = tuple(prompts)


class OrderStateUnknown(TradingError):
    """The placement's outcome could not be established (responses lost and the order not found
    in live orders after every lookup). The order may or may not exist: look its customer order
    ids up before placing it again. ``found`` maps the cOIDs that were found to order ids."""

    def __init__(self, message: str, coids: Sequence[str], found: dict[str, int]) -> None:
        super().__init__(message, coids)
        self.found = dict(found)


class OrderNotFilled(TradingError):
    """The order reached a terminal status (cancelled, rejected) without being filled."""

    def __init__(self, message: str, order: Any, coids: Sequence[str] = ()) -> None:
        super().__init__(message, coids)
        self.order = order


class ActionNotOffered(TradingError, ValueError):
    """An answer the gateway's question does not offer (``offered`` lists the ids it does);
    nothing was sent."""

    def __init__(self, action: str, offered: Sequence[str], what: str = "prompt") -> None:
        choices = ", ".join(repr(a) for a in offered) or "no answer at all"
        super().__init__(f"{action!r} is not an answer this {what} offers (it offers {choices})")
        self.action = action
        self.offered = tuple(offered)


class ExerciseRejected(TradingError):
    """The gateway answered an option-exercise step with an error; ``reason`` is its text."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"exercise refused: {mask_text(reason)}")
        self.reason = mask_text(reason)


class ExerciseInterrupted(TradingError):
    """The socket closed during an exercise dialog: the gateway forgets the ticket.
    ``answered`` is True when the final answer (``continue``) was sent before the loss: the
    exercise may exist, so look at the live orders (``side`` ``EXER``) before exercising again."""

    def __init__(self, reason: str, answered: bool) -> None:
        tail = (
            "the confirmation was sent: look at live orders (side EXER) before exercising again"
            if answered
            else "nothing was exercised; start a new ticket"
        )
        super().__init__(f"connection lost during the exercise dialog ({reason}): {tail}")
        self.answered = answered
