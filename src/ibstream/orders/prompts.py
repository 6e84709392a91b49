"""The gateway's answers to order requests, and the policy that answers its reply prompts (pure).

IBKR answers a placement (or a modification) in one of three shapes (Web API "Place Order" /
"Place Order Reply Confirmation"):

* a **prompt**: ``[{"id": "<replyId>", "message": ["..."], "isSuppressed": false,
  "messageIds": ["o163"]}]`` - the order does not exist until ``POST /iserver/reply/{replyId}``
  with ``{"confirmed": true}``, whose answer may be *another* prompt (a chain);
* a **success**: ``[{"order_id": "...", "order_status": "...", "encrypt_message": "1",
  "local_order_id": "<cOID>"}]`` - one entry per order (a bracket gives several);
* an **error**: ``{"error": "..."}`` (sometimes inside a list).

:class:`PromptPolicy` decides every prompt explicitly: message ids accepted up front, a callback,
or (the default) refusal with a typed exception carrying the prompts. Nothing is confirmed
silently: a prompt without message ids is never matched by the accepted-id list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ibstream.exceptions import InvalidArgument

__all__ = [
    "Accepted",
    "Answer",
    "Decision",
    "Placed",
    "Prompt",
    "PromptCallback",
    "PromptPolicy",
    "Prompted",
    "Refused",
    "parse_answer",
]


@dataclass(frozen=True, slots=True)
class Prompt:
    """One reply prompt: the question(s), their message ids, and the reply id to answer."""

    reply_id: str
    messages: tuple[str, ...]
    message_ids: tuple[str, ...]
    suppressed: bool = False

    @property
    def text(self) -> str:
        return " / ".join(m.strip() for m in self.messages)


@dataclass(frozen=True, slots=True)
class Placed:
    """One accepted order of a success answer."""

    order_id: int
    status: str | None
    coid: str | None


@dataclass(frozen=True, slots=True)
class Prompted:
    prompt: Prompt


@dataclass(frozen=True, slots=True)
class Accepted:
    orders: tuple[Placed, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """The gateway's refusal; ``definite`` is False for an answer of no known shape, which
    proves neither that the order exists nor that it does not."""

    message: str
    definite: bool = True


Answer = Prompted | Accepted | Refused


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if v is not None)
    return ()


def parse_answer(body: Any) -> Answer:
    """Classify a placement/reply/modify answer. Anything unrecognisable is a refusal that is
    not ``definite`` (never a success): an answer we cannot read must not be taken for an order
    that exists, nor for proof that none does."""
    if isinstance(body, Mapping):
        if body.get("error"):
            return Refused(str(body["error"]))
        body = [body]
    if not isinstance(body, list) or not body:
        return Refused(f"unexpected answer: {str(body)[:200]}", definite=False)
    first = body[0]
    if not isinstance(first, Mapping):
        return Refused(f"unexpected answer: {str(body)[:200]}", definite=False)
    if first.get("error"):
        return Refused(str(first["error"]))
    if "id" in first and ("message" in first or "messageIds" in first):
        return Prompted(
            Prompt(
                reply_id=str(first["id"]),
                messages=_texts(first.get("message")),
                message_ids=_texts(first.get("messageIds")),
                suppressed=first.get("isSuppressed") is True,
            )
        )
    placed: list[Placed] = []
    for entry in body:
        if not isinstance(entry, Mapping) or entry.get("order_id") in (None, ""):
            return Refused(f"unexpected answer: {str(body)[:200]}", definite=False)
        try:
            order_id = int(str(entry["order_id"]))
        except ValueError:
            return Refused(f"unexpected order id {entry['order_id']!r}", definite=False)
        coid = entry.get("local_order_id")
        status = entry.get("order_status")
        placed.append(
            Placed(order_id, str(status) if status else None, str(coid) if coid else None)
        )
    return Accepted(tuple(placed))


class Decision(Enum):
    ACCEPT = "accept"  # every message id is accepted up front
    ASK = "ask"  # ask the callback
    DECLINE = "decline"  # raise PromptsDeclined


#: ``callback(prompt, description) -> bool`` (or an awaitable of it): ``True`` confirms.
PromptCallback = Callable[[Prompt, str], bool | Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class PromptPolicy:
    """How reply prompts are answered.

    ``accept``: message ids (``"o163"``, ``"o354"`` ...) confirmed without asking - a prompt is
    confirmed this way only if it has message ids, at least one per question, and *all* of them
    are listed. Otherwise ``callback`` (if any) decides; without a callback the placement raises
    :class:`~ibstream.orders.errors.PromptsDeclined` carrying the prompts. ``max_chain`` bounds a
    chain of prompts for one request.
    """

    accept: frozenset[str] = frozenset()
    callback: PromptCallback | None = None
    max_chain: int = 8

    def __init__(
        self,
        accept: Iterable[str] = (),
        callback: PromptCallback | None = None,
        max_chain: int = 8,
    ) -> None:
        if isinstance(accept, str):
            raise InvalidArgument("accept", "a list of message ids, not one string")
        ids = frozenset(str(a).strip() for a in accept)
        if "" in ids:
            raise InvalidArgument("accept", "message ids must be non-empty")
        if callback is not None and not callable(callback):
            raise InvalidArgument("callback", "must be callable")
        if isinstance(max_chain, bool) or not isinstance(max_chain, int) or max_chain < 1:
            raise InvalidArgument("max_chain", "must be an int >= 1")
        object.__setattr__(self, "accept", ids)
        object.__setattr__(self, "callback", callback)
        object.__setattr__(self, "max_chain", max_chain)

    def decide(self, prompt: Prompt) -> Decision:
        # every question must carry an id: with fewer ids than questions, one went unnamed
        asked = sum(1 for m in prompt.messages if m.strip())
        ids = prompt.message_ids
        if ids and len(ids) >= asked and set(ids) <= self.accept:
            return Decision.ACCEPT
        if self.callback is not None:
            return Decision.ASK
        return Decision.DECLINE
