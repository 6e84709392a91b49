"""The placement state machine: prompts, lost responses and reconciliation (pure, no I/O).

Theory of operation. A placement is one ``POST /iserver/account/{acct}/orders`` carrying one
customer order id (cOID) per order, possibly followed by a chain of reply prompts. The driver
(:mod:`ibstream.orders.trading`) asks :class:`Placement` what to do next, does it, and feeds the
outcome back; the machine never sleeps, reads a clock or touches a socket.

Outcomes of a request are either **definite** (an answer was read: success, prompt, refusal) or
**lost** (timeout, connection reset, reconnect, HTTP 5xx, an HTTP 200 answer of no known shape:
the gateway may or may not have acted).
The rules that make duplicates impossible:

1. every order carries a cOID, fixed for the whole placement (re-posts reuse it, so a gateway
   that enforces cOID uniqueness refuses a second copy);
2. after a lost outcome the machine never re-sends at once: it **looks the cOIDs up** in the
   live orders (``GET /iserver/account/orders``) until ``settle_lookups`` successful lookups in
   a row saw none of them (a failed lookup proves nothing and does not count), with a delay,
   because a new order takes a moment to appear there; at most ``max_lookups`` lookups per
   round, then ``OrderStateUnknown``;
3. all cOIDs found: done (the order ids come from the lookup). Some found: keep looking, then
   give up with :class:`~ibstream.orders.errors.OrderStateUnknown` - never re-post a part;
4. none found: if the lost request was a reply confirmation, confirm the same reply id once more
   (a reply id is single-use at the gateway); else re-post the same body (same cOIDs), at most
   ``max_posts`` posts in all; then ``OrderStateUnknown``;
5. a refusal after a loss is not believed as final (it may be "this cOID exists"): it leads to
   another lookup round, never straight to "rejected".

Prompts go to the :class:`~ibstream.orders.prompts.PromptPolicy`: accepted ids are confirmed,
a callback is asked through a :class:`Decide` command, anything else is declined explicitly
(``{"confirmed": false}``) and the placement fails with ``PromptsDeclined`` carrying the prompts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ibstream.orders.errors import (
    OrderRejected,
    OrderStateUnknown,
    PromptsDeclined,
    TradingError,
)
from ibstream.orders.prompts import Accepted, Answer, Decision, Prompt, Prompted, PromptPolicy

__all__ = [
    "Command",
    "Decide",
    "Done",
    "Failed",
    "LookUp",
    "Phase",
    "Placement",
    "PostOrders",
    "PostReply",
]


@dataclass(frozen=True, slots=True)
class PostOrders:
    """Send the placement body (``attempt`` 1 is the first post)."""

    body: Mapping[str, Any]
    attempt: int


@dataclass(frozen=True, slots=True)
class PostReply:
    """Answer a prompt: ``POST /iserver/reply/{reply_id}`` ``{"confirmed": confirmed}``."""

    reply_id: str
    confirmed: bool
    prompt: Prompt
    retry: bool = False


@dataclass(frozen=True, slots=True)
class Decide:
    """Ask the policy's callback about ``prompt``; feed the result to :meth:`Placement.decided`."""

    prompt: Prompt


@dataclass(frozen=True, slots=True)
class LookUp:
    """Wait ``delay`` seconds, then look the cOIDs up in live orders. ``fresh``: the first lookup
    of a round asks the gateway to drop its cached order list (``force=true``); IBKR documents
    that such a call may come back empty, which the following lookups of the round cover."""

    delay: float
    reason: str
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """Placed: ``order_ids`` maps every cOID to the gateway's order id."""

    order_ids: Mapping[str, int]
    reconciled: bool


@dataclass(frozen=True, slots=True)
class Failed:
    error: TradingError


Command = PostOrders | PostReply | Decide | LookUp | Done | Failed


class Phase(Enum):
    NEW = "new"
    POSTING = "posting"  # a placement body is in flight
    DECIDING = "deciding"  # the callback is asked about a prompt
    REPLYING = "replying"  # a confirmation is in flight
    DECLINING = "declining"  # a refusal of a prompt is in flight
    LOOKING = "looking"  # a live-orders lookup is in flight
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class Placement:
    """One placement of ``coids`` (in body order) with ``body`` = ``{"orders": [...]}``."""

    coids: tuple[str, ...]
    body: Mapping[str, Any]
    policy: PromptPolicy
    max_posts: int = 2
    settle_lookups: int = 3
    max_lookups: int = 12
    lookup_delay: float = 0.25

    phase: Phase = Phase.NEW
    posts: int = 0
    prompts: list[Prompt] = field(default_factory=list)
    uncertain: bool = False  # some outcome was lost: refusals are no longer final
    lost_in: Phase | None = None  # phase of the last lost request
    last_prompt: Prompt | None = None  # the prompt last confirmed (its answer may be lost)
    reply_retried: bool = False
    lookups: int = 0  # lookups in total
    settle: int = 0  # successful lookups of this round that found none of the cOIDs
    round_lookups: int = 0  # lookups issued in this round (failed ones included)
    last_refusal: str | None = None
    history: list[str] = field(default_factory=list)  # what happened, for logs and errors

    # -- inputs ------------------------------------------------------------------------------

    def start(self) -> Command:
        return self._post()

    def answered(self, answer: Answer) -> Command:
        """A definite answer to the request in flight."""
        if self.phase is Phase.DECLINING:
            return self._fail(PromptsDeclined(self.prompts, self.coids))
        if self.phase not in (Phase.POSTING, Phase.REPLYING):
            return self._fail_state("answer")
        if isinstance(answer, Accepted):
            return self._accepted(answer)
        if isinstance(answer, Prompted):
            return self._prompted(answer.prompt)
        self.history.append(f"refused: {answer.message}")
        if self.uncertain:
            self.last_refusal = answer.message
            return self._look("refused after a lost response", reset=True)
        return self._fail(OrderRejected(answer.message, self.coids))

    def lost(self, reason: str) -> Command:
        """The request in flight has no known outcome (timeout, reset, 5xx)."""
        self.history.append(f"lost in {self.phase.value}: {reason}")
        if self.phase is Phase.DECLINING:
            # Not confirmed means not placed: an unanswered prompt expires at the gateway.
            return self._fail(PromptsDeclined(self.prompts, self.coids))
        if self.phase not in (Phase.POSTING, Phase.REPLYING):
            return self._fail_state("loss")
        self.uncertain = True
        self.lost_in = self.phase
        return self._look(reason, reset=True)

    def decided(self, accept: bool) -> Command:
        """The callback's decision about the prompt of the last :class:`Decide`."""
        if self.phase is not Phase.DECIDING or not self.prompts:
            return self._fail_state("decision")
        return self._reply(self.prompts[-1], accept)

    def looked_up(self, found: Mapping[str, int]) -> Command:
        """The cOIDs found in live orders (others are ignored)."""
        if self.phase is not Phase.LOOKING:
            return self._fail_state("lookup")
        mine = {c: int(found[c]) for c in self.coids if c in found}
        self.history.append(f"lookup {self.lookups}: found {len(mine)}/{len(self.coids)}")
        if len(mine) == len(self.coids):
            self.phase = Phase.DONE
            return Done(mine, reconciled=True)
        if mine:
            if self.round_lookups < self.max_lookups:
                return self._look("part of the group is visible")
            return self._unknown(mine)
        # Only successful lookups that saw nothing count towards settling: a failed lookup
        # proves nothing, and nothing is ever sent again before the round has settled.
        self.settle += 1
        if self.settle < self.settle_lookups:
            if self.round_lookups < self.max_lookups:
                return self._look("not visible yet")
            return self._unknown(mine)
        if self.lost_in is Phase.REPLYING and self.last_prompt and not self.reply_retried:
            self.reply_retried = True
            self.phase = Phase.REPLYING
            self.history.append(f"confirming reply {self.last_prompt.reply_id} again")
            return PostReply(self.last_prompt.reply_id, True, self.last_prompt, retry=True)
        if self.posts < self.max_posts:
            return self._post()
        return self._unknown(mine)

    def lookup_failed(self, reason: str) -> Command:
        if self.phase is not Phase.LOOKING:
            return self._fail_state("lookup failure")
        self.history.append(f"lookup failed: {reason}")
        if self.round_lookups >= self.max_lookups:
            return self._unknown({})
        return self._look(reason)

    # -- steps ---------------------------------------------------------------------------------

    def _post(self) -> Command:
        self.posts += 1
        self.prompts = []
        self.reply_retried = False
        self.last_prompt = None
        self.phase = Phase.POSTING
        self.history.append(f"post {self.posts}")
        return PostOrders(self.body, self.posts)

    def _accepted(self, answer: Accepted) -> Command:
        placed = answer.orders
        ids: dict[str, int] = {}
        if all(p.coid in self.coids for p in placed):
            ids = {str(p.coid): p.order_id for p in placed}
        elif len(placed) == len(self.coids):
            ids = {c: p.order_id for c, p in zip(self.coids, placed, strict=True)}
        if len(ids) == len(self.coids):
            self.phase = Phase.DONE
            self.history.append("accepted")
            return Done(ids, reconciled=False)
        # An answer that names fewer orders than we sent: the lookup tells the rest.
        self.uncertain = True
        return self._look("answer did not name every order", reset=True)

    def _prompted(self, prompt: Prompt) -> Command:
        self.prompts.append(prompt)
        self.history.append(f"prompt {prompt.reply_id} {','.join(prompt.message_ids)}")
        if len(self.prompts) > self.policy.max_chain:
            return self._reply(prompt, False)
        decision = self.policy.decide(prompt)
        if decision is Decision.ACCEPT:
            return self._reply(prompt, True)
        if decision is Decision.ASK:
            self.phase = Phase.DECIDING
            return Decide(prompt)
        return self._reply(prompt, False)

    def _reply(self, prompt: Prompt, confirmed: bool) -> Command:
        if confirmed:
            self.phase = Phase.REPLYING
            self.last_prompt = prompt
        else:
            self.phase = Phase.DECLINING
        self.history.append(f"reply {prompt.reply_id} confirmed={confirmed}")
        return PostReply(prompt.reply_id, confirmed, prompt)

    def _look(self, reason: str, *, reset: bool = False) -> Command:
        if reset:  # a new round: after a lost or refused request
            self.settle = 0
            self.round_lookups = 0
        first = self.round_lookups == 0
        self.round_lookups += 1
        self.lookups += 1
        self.phase = Phase.LOOKING
        return LookUp(0.0 if first else self.lookup_delay, reason, fresh=first)

    def _unknown(self, found: Mapping[str, int]) -> Command:
        tail = f" (last refusal: {self.last_refusal})" if self.last_refusal else ""
        return self._fail(
            OrderStateUnknown(
                "placement outcome unknown after "
                f"{self.posts} post(s) and {self.lookups} lookup(s){tail}: look up cOIDs "
                f"{', '.join(self.coids)} before placing again",
                self.coids,
                dict(found),
            )
        )

    def _fail(self, error: TradingError) -> Command:
        self.phase = Phase.FAILED
        return Failed(error)

    def _fail_state(self, what: str) -> Command:
        return self._fail(
            OrderStateUnknown(f"unexpected {what} in {self.phase.value}", self.coids, {})
        )
