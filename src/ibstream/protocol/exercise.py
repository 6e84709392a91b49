"""Outbound messages of the option-exercise workflow (IBKR Campus, "Exercise Options").

The gateway's answers decode to :class:`~ibstream.protocol.events.ExerciseAck`,
:class:`~ibstream.protocol.events.ExerciseContent` and
:class:`~ibstream.protocol.events.ExercisePrompt`; these build the client's side, in the exact
form IBKR documents::

    >>> exercise_start_message(708764406)
    'shs+exercise+{"CEX":"708764406"}'
    >>> exercise_submit_message(5, quantity=5)
    'inp+exercise+{"action":"user_input","data":{"id":"5","user_action":"submit","exercise":{"allowed":"not_shown","make_final":true,"value":5}}}'
    >>> exercise_answer_message(7, "continue")
    'inp+exercise+{"action":"user_input","data":{"id":"7","user_action":"continue"}}'

Money is at stake: nothing here sends anything; a caller decides to send, and ``final`` must be
chosen explicitly.
"""

from __future__ import annotations

from typing import Any

import orjson

from ibstream.exceptions import InvalidArgument

__all__ = ["exercise_answer_message", "exercise_start_message", "exercise_submit_message"]


def _positive(value: object, name: str) -> int:
    if type(value) is not int or value <= 0:
        raise InvalidArgument(name, f"must be a positive int, got {value!r}")
    return value


def _input(data: dict[str, Any]) -> str:
    return "inp+exercise+" + orjson.dumps({"action": "user_input", "data": data}).decode()


def exercise_start_message(option_conid: int) -> str:
    """``shs+exercise+{"CEX":"<conid>"}``: open an exercise ticket for an option position."""
    conid = _positive(option_conid, "option_conid")
    return "shs+exercise+" + orjson.dumps({"CEX": str(conid)}).decode()


def exercise_submit_message(request_id: int, *, quantity: int, final: bool = True) -> str:
    """Submit ``quantity`` contracts for the ticket ``request_id`` (``ExerciseContent``'s)."""
    _positive(request_id, "request_id")
    _positive(quantity, "quantity")
    if type(final) is not bool:
        raise InvalidArgument("final", f"must be True or False, got {final!r}")
    exercise = {"allowed": "not_shown", "make_final": final, "value": quantity}
    return _input({"id": str(request_id), "user_action": "submit", "exercise": exercise})


def exercise_answer_message(request_id: int, action: str) -> str:
    """Answer a prompt (``ExercisePrompt.request_id``) with one of its ``actions`` ids."""
    _positive(request_id, "request_id")
    if not isinstance(action, str) or not action or not action.isascii():
        raise InvalidArgument("action", f"must be an action id like 'continue', got {action!r}")
    return _input({"id": str(request_id), "user_action": action})
