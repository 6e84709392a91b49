"""Option exercise through the client's socket (asyncio layer): ``client.exercise``.

IBKR runs the exercise of an option position as a dialog on the WebSocket (docs/protocol.md
§4.8): ``shs+exercise+{"CEX":"<conid>"}`` opens a ticket (``ExerciseContent`` with the
position and the answers it offers, ``submit``/``cancel``), a ``submit`` with a quantity brings a
confirmation (``ExercisePrompt``: ``continue``/``cancel``), and ``continue`` makes the exercise an
order in the live orders stream (``"side":"EXER"``). This module answers that dialog:

    async with await client.exercise.start(option_conid) as ticket:
        prompt = await ticket.submit(2)            # -> ExercisePrompt ("final and irreversible")
        order = await ticket.confirm()             # answers "continue" -> OrderUpdate (EXER)

and :meth:`ExerciseDesk.answer` answers any exercise question (event) with one of its actions.

Exercise is a trading action: every step is refused with ``TradingDisabled`` unless the client's
``TradingConfig`` enables trading (and not read-only), ``Limits.allowed_conids`` and
``max_quantity`` apply, and an answer the question does not offer raises ``ActionNotOffered``
before anything is sent. Every message sent is logged (account masked). The wire messages are
built by :mod:`ibstream.protocol.exercise`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ibstream.exceptions import InvalidArgument, InvalidState, StreamTimeout
from ibstream.masking import mask_account
from ibstream.orders.errors import (
    ActionNotOffered,
    ExerciseInterrupted,
    ExerciseRejected,
    LimitExceeded,
)
from ibstream.orders.rails import check_allowed
from ibstream.orders.trading import Trading
from ibstream.protocol.events import (
    ErrorMessage,
    ExerciseContent,
    ExercisePrompt,
    OrderUpdate,
)
from ibstream.protocol.exercise import (
    exercise_answer_message,
    exercise_start_message,
    exercise_submit_message,
)
from ibstream.protocol.lifecycle import SessionState, SessionStateChanged

__all__ = ["ExerciseDesk", "ExerciseTicket", "Question", "offered_action"]

log = logging.getLogger("ibstream.orders")

Question = ExerciseContent | ExercisePrompt
"""An exercise message that asks for an answer (its ``actions``, its ``request_id``)."""

_TOPICS = ("shs+exercise", "inp+exercise")
#: the socket is gone: the gateway forgot the tickets of that socket
_SOCKET_GONE = frozenset(
    {SessionState.DISCONNECTED, SessionState.CONNECTING, SessionState.CLOSING, SessionState.CLOSED}
)
_DEFAULT_TIMEOUT = 10.0


class ExerciseClientLike(Protocol):
    """What the exercise desk uses of the asyncio client (its public API only)."""

    def on(
        self, event_type: type | None, callback: Callable[[Any], object]
    ) -> Callable[[], None]: ...

    async def send_message(self, text: str) -> None: ...


def offered_action(question: Question, action: str) -> str:
    """``action`` if ``question`` offers it (ids compare case-insensitively, the offered spelling
    is returned), else ``ActionNotOffered``; a question without a request id cannot be answered."""
    if not isinstance(action, str) or not action.strip():
        raise InvalidArgument("action", f"must be an action id like 'continue', got {action!r}")
    offered = [a.id for a in question.actions]
    what = "prompt" if isinstance(question, ExercisePrompt) else "exercise ticket"
    wanted = action.strip().lower()
    for candidate in offered:
        if candidate.lower() == wanted:
            if question.request_id is None:
                raise InvalidArgument("question", f"this {what} carries no request id to answer")
            return candidate
    raise ActionNotOffered(action, offered, what)


def _is_exer(ev: OrderUpdate, conid: int) -> bool:
    side = ev.changes.get("side", ev.raw.get("side"))
    return side == "EXER" and ev.conid == conid


class ExerciseDesk:
    """The option-exercise dialog of one client (``client.exercise``); one ticket at a time
    (the gateway's answers do not name the option they belong to)."""

    def __init__(self, client: ExerciseClientLike, trading: Trading) -> None:
        self._client = client
        self._trading = trading
        self._ticket: ExerciseTicket | None = None

    def __repr__(self) -> str:
        return f"<ExerciseDesk ticket={self._ticket!r}>"

    @property
    def ticket(self) -> ExerciseTicket | None:
        """The open ticket, if one is."""
        return self._ticket

    def _check(
        self,
        action: str,
        conid: int | None = None,
        quantity: float | None = None,
        symbol: str | None = None,
    ) -> None:
        """The trading rails: on and not read-only; ``allowed_conids``, ``max_quantity`` and
        (once the ticket names its underlying) ``allowed_symbols`` of the limits."""
        config = self._trading.config
        check_allowed(config, action)
        limits = config.limits
        allowed = limits.allowed_conids
        if conid is not None and allowed is not None and conid not in allowed:
            raise LimitExceeded("allowed_conids", f"conid {conid} is not allowed")
        if quantity is None:
            return
        if limits.max_quantity is not None and quantity > limits.max_quantity:
            raise LimitExceeded("max_quantity", f"{quantity:g} > {limits.max_quantity:g}")
        symbols = limits.allowed_symbols
        if symbols is not None and (symbol or "").upper() not in symbols:
            raise LimitExceeded(
                "allowed_symbols", f"{symbol or 'an unnamed underlying'} is not allowed"
            )

    async def answer(
        self,
        question: Question,
        action: str,
        *,
        quantity: int | None = None,
        final: bool = True,
        conid: int | None = None,
        symbol: str | None = None,
    ) -> None:
        """Send ``action`` (one of ``question.actions``) as the answer to ``question``.

        ``submit`` needs ``quantity`` (contracts to exercise; ``final`` makes it irreversible as
        IBKR's own client does); other answers take none. Raises ``TradingDisabled``,
        ``LimitExceeded`` (``conid``: the option, for ``allowed_conids``; ``symbol``: its
        underlying, for ``allowed_symbols``), ``ActionNotOffered`` or ``InvalidArgument`` before
        anything is sent, ``ConnectionClosed`` if it could not be.
        """
        chosen = offered_action(question, action)
        request_id = question.request_id
        assert request_id is not None  # offered_action checked it
        if chosen == "submit":
            if quantity is None:
                raise InvalidArgument("quantity", "'submit' needs the number of contracts")
            text = exercise_submit_message(request_id, quantity=quantity, final=final)
        else:
            if quantity is not None:
                raise InvalidArgument("quantity", f"{chosen!r} takes no quantity")
            text = exercise_answer_message(request_id, chosen)
        self._check(f"exercise {chosen}", conid, quantity, symbol)
        account = await self._trading.account()
        log.info(
            "exercise %s request=%s acct=%s conid=%s qty=%s final=%s",
            chosen,
            request_id,
            mask_account(account),
            conid,
            quantity,
            final if quantity is not None else None,
        )
        await self._client.send_message(text)

    async def start(
        self, option_conid: int, *, timeout: float = _DEFAULT_TIMEOUT
    ) -> ExerciseTicket:
        """Open an exercise ticket for the option position ``option_conid``; returns once the
        gateway sent the ticket (``ExerciseRejected`` if it refused, ``StreamTimeout``).
        Close the ticket when done (``async with``), or :meth:`ExerciseTicket.cancel` it."""
        text = exercise_start_message(option_conid)
        self._check("exercise", option_conid)
        account = await self._trading.account()
        if self._ticket is not None:  # checked and taken with no await in between
            raise InvalidState("an exercise ticket is open: close or cancel it first")
        ticket = ExerciseTicket(self, option_conid, account)
        self._ticket = ticket
        try:
            log.info("exercise open acct=%s conid=%s", mask_account(account), option_conid)
            mark = ticket.mark()
            await self._client.send_message(text)
            await ticket.wait(
                mark,
                lambda ev: isinstance(ev, ExerciseContent) and ev.request_id is not None,
                timeout,
                "the exercise ticket",
            )
        except BaseException:
            ticket.close()
            raise
        return ticket

    def _closed(self, ticket: ExerciseTicket) -> None:
        if self._ticket is ticket:
            self._ticket = None


class ExerciseTicket:
    """One open exercise dialog: the gateway's messages since it opened, and the answers.

    ``content`` is the ticket (the first ``ExerciseContent`` with a request id; later, partial
    ones are in ``events``), ``prompt`` the latest confirmation question, ``order`` the exercise
    order once it shows, ``events`` every exercise message, exercise error and ``EXER`` order
    update received, in order.
    """

    def __init__(self, desk: ExerciseDesk, conid: int, account: str) -> None:
        self.conid = conid
        self.account = account
        self.events: list[ExerciseContent | ExercisePrompt | ErrorMessage | OrderUpdate] = []
        self.content: ExerciseContent | None = None
        self.prompt: ExercisePrompt | None = None
        self.order: OrderUpdate | None = None
        self._desk = desk
        self._changed = asyncio.Event()
        self._closed = False
        self._lost: str | None = None  # why the socket closed under the dialog
        self._answered = False  # the final answer was sent
        self._trading = desk._trading
        self._holds_orders = True
        self._trading.tracker.acquire()  # the live orders stream shows the exercise
        on = desk._client.on
        self._removers = [
            on(ExerciseContent, self._feed),
            on(ExercisePrompt, self._feed),
            on(ErrorMessage, self._feed),
            on(OrderUpdate, self._feed),
            on(SessionStateChanged, self._on_session),
        ]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ExerciseTicket conid={self.conid} {state} events={len(self.events)}>"

    async def __aenter__(self) -> ExerciseTicket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _feed(self, ev: object) -> None:
        if self._closed:
            return
        if isinstance(ev, ErrorMessage):
            if ev.topic not in _TOPICS:
                return
        elif isinstance(ev, OrderUpdate):
            if not _is_exer(ev, self.conid):
                return
            self.order = ev
        elif isinstance(ev, ExercisePrompt):
            self.prompt = ev
        elif isinstance(ev, ExerciseContent):
            if self.content is None and ev.request_id is not None:
                self.content = ev
        else:
            return
        self.events.append(ev)
        self._changed.set()

    def _on_session(self, ev: SessionStateChanged) -> None:
        if self._closed or ev.current not in _SOCKET_GONE:
            return
        self._lost = ev.reason or ev.current.value
        log.warning(
            "exercise dialog of conid %s interrupted: %s%s",
            self.conid,
            self._lost,
            " (after the confirmation)" if self._answered else "",
        )
        self.close()

    def _check_live(self) -> None:
        if self._lost is not None:
            raise ExerciseInterrupted(self._lost, self._answered)

    def mark(self) -> int:
        """The position in ``events`` after which :meth:`wait` looks."""
        return len(self.events)

    async def wait(
        self, mark: int, match: Callable[[object], bool], timeout: float | None, what: str
    ) -> Any:
        """The first event after ``mark`` that ``match``es; an exercise error raises
        ``ExerciseRejected``, ``timeout`` seconds without one ``StreamTimeout``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        seen = mark
        while True:
            for ev in self.events[seen:]:
                if isinstance(ev, ErrorMessage):
                    raise ExerciseRejected(ev.message)
                if match(ev):
                    return ev
            seen = len(self.events)
            self._check_live()
            if self._closed:
                raise InvalidState("the exercise ticket is closed")
            self._changed.clear()
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise StreamTimeout(f"no answer from the gateway for {what} within {timeout} s")
            try:
                async with asyncio.timeout(left):
                    await self._changed.wait()
            except TimeoutError:
                continue  # the loop re-checks, then raises

    async def submit(
        self, quantity: int, *, final: bool = True, timeout: float = _DEFAULT_TIMEOUT
    ) -> ExercisePrompt:
        """Ask to exercise ``quantity`` contracts (``submit``; at most the position the ticket
        shows); returns the gateway's confirmation question (answer it with :meth:`confirm`)."""
        self._check_live()
        content = self._open_content()
        position = content.position
        if type(quantity) is int and position is not None and quantity > abs(position):
            raise InvalidArgument(
                "quantity", f"{quantity} exceeds the position of {content.position:g}"
            )
        mark = self.mark()
        await self._desk.answer(content, "submit", quantity=quantity, final=final, conid=self.conid)
        prompt: ExercisePrompt = await self.wait(
            mark, lambda ev: isinstance(ev, ExercisePrompt), timeout, "the exercise submission"
        )
        return prompt

    async def confirm(
        self, action: str = "continue", *, timeout: float = _DEFAULT_TIMEOUT
    ) -> OrderUpdate | ExercisePrompt:
        """Answer the pending prompt with ``action`` (default ``continue``) and return the
        exercise order from the live orders stream (``side`` ``EXER``), or the gateway's next
        question if it asks another one."""
        self._check_live()
        prompt = self.prompt
        if prompt is None or self._closed:
            raise InvalidState("no exercise prompt to confirm: submit a quantity first")
        if isinstance(action, str) and action.strip().lower() == "cancel":
            raise InvalidArgument("action", "to decline, call cancel()")
        mark = self.mark()
        await self._desk.answer(prompt, action, conid=self.conid)
        self._answered = True

        def result(ev: object) -> bool:
            return isinstance(ev, OrderUpdate) or (isinstance(ev, ExercisePrompt) and ev != prompt)

        answer: OrderUpdate | ExercisePrompt = await self.wait(
            mark, result, timeout, "the exercise confirmation"
        )
        if isinstance(answer, OrderUpdate):
            self.close()
        return answer

    async def cancel(self) -> None:
        """Answer ``cancel`` to the pending prompt, else to the ticket, and close the ticket
        (the gateway sends nothing back)."""
        question: Question | None = self.prompt or self.content
        try:
            if question is not None and not self._closed and self._lost is None:
                await self._desk.answer(question, "cancel", conid=self.conid)
        finally:
            self.close()

    def close(self) -> None:
        """Stop following the dialog (the gateway forgets an unanswered ticket)."""
        if self._closed:
            return
        self._closed = True
        for remove in self._removers:
            remove()
        self._removers = []
        if self._holds_orders:
            self._holds_orders = False
            self._trading.tracker.release()
        self._changed.set()
        self._desk._closed(self)

    def _open_content(self) -> ExerciseContent:
        if self._closed or self.content is None:
            raise InvalidState("the exercise ticket is closed")
        return self.content
