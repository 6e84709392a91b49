"""The threaded face of option exercise: ``Client.exercise`` (same names as
``client.exercise``).

Every call runs the asyncio :class:`~ibstream.orders.exercise.ExerciseDesk` on the client's
loop thread and blocks for the result: the rails, the check of the offered answers and the
logging exist once, in the asyncio layer.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ibstream.exceptions import InvalidState
from ibstream.orders.exercise import ExerciseDesk, ExerciseTicket, Question
from ibstream.protocol.events import (
    ErrorMessage,
    ExerciseContent,
    ExercisePrompt,
    OrderUpdate,
)
from ibstream.sync.loop import LoopThread

__all__ = ["SyncExerciseDesk", "SyncExerciseTicket"]


class SyncExerciseTicket:
    """A blocking :class:`~ibstream.orders.exercise.ExerciseTicket` (``with ticket:`` closes)."""

    def __init__(self, loop: LoopThread, ticket: ExerciseTicket) -> None:
        self._loop = loop
        self._ticket = ticket
        self.conid = ticket.conid
        self.account = ticket.account

    def __repr__(self) -> str:
        return repr(self._ticket).replace("<ExerciseTicket", "<SyncExerciseTicket", 1)

    def __enter__(self) -> SyncExerciseTicket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def content(self) -> ExerciseContent | None:
        return self._loop.call(lambda: self._ticket.content)

    @property
    def prompt(self) -> ExercisePrompt | None:
        return self._loop.call(lambda: self._ticket.prompt)

    @property
    def order(self) -> OrderUpdate | None:
        return self._loop.call(lambda: self._ticket.order)

    @property
    def events(self) -> list[ExerciseContent | ExercisePrompt | ErrorMessage | OrderUpdate]:
        return self._loop.call(lambda: list(self._ticket.events))

    @property
    def closed(self) -> bool:
        return self._loop.call(lambda: self._ticket.closed)

    def submit(self, quantity: int, *, final: bool = True, timeout: float = 10.0) -> ExercisePrompt:
        return self._loop.run(self._ticket.submit(quantity, final=final, timeout=timeout))

    def confirm(
        self, action: str = "continue", *, timeout: float = 10.0
    ) -> OrderUpdate | ExercisePrompt:
        return self._loop.run(self._ticket.confirm(action, timeout=timeout))

    def cancel(self) -> None:
        self._loop.run(self._ticket.cancel())

    def close(self) -> None:
        """Leave the dialog (a no-op once the client stopped)."""
        with contextlib.suppress(InvalidState):
            self._loop.call(self._ticket.close)


class SyncExerciseDesk:
    """Blocking ``start`` and ``answer`` of :class:`~ibstream.orders.exercise.ExerciseDesk`."""

    def __init__(self, loop: LoopThread, desk: ExerciseDesk) -> None:
        self._loop = loop
        self._desk = desk

    def __repr__(self) -> str:
        return repr(self._desk).replace("<ExerciseDesk", "<SyncExerciseDesk", 1)

    def start(self, option_conid: int, *, timeout: float = 10.0) -> SyncExerciseTicket:
        ticket = self._loop.run(self._desk.start(option_conid, timeout=timeout))
        return SyncExerciseTicket(self._loop, ticket)

    def answer(self, question: Question, action: str, **options: Any) -> None:
        """``ExerciseDesk.answer`` (``quantity``, ``final``, ``conid``, ``symbol``)."""
        self._loop.run(self._desk.answer(question, action, **options))
