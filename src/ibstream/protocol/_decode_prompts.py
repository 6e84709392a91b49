"""Decoders of the gateway's question-and-answer frames: option exercise (``shs+exercise``,
``inp+exercise``) and ``ntf`` entries that are order prompts.

Shapes from IBKR's Campus documentation of the exercise workflow and a recorded ``ntf`` order
prompt (docs/gateway-fidelity.md; tests/corpus). Values are read leniently: a missing or
mistyped key is ``None``; only a ``data`` that is not an object is a :class:`BadFrame`.
"""

from __future__ import annotations

from typing import Any

from ibstream.protocol._decode_topics import BadFrame, opt_bool, opt_int, opt_str, to_float
from ibstream.protocol.events import (
    Event,
    ExerciseAck,
    ExerciseContent,
    ExercisePrompt,
    Notification,
    OrderPrompt,
    Unknown,
    UserAction,
)

__all__ = ["decode_exercise", "is_order_prompt", "notification_entry"]

_PROMPT_KEYS = ("orderId", "reqId", "prompt", "options", "messageId")


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool))


def _actions(data: dict[str, Any]) -> tuple[UserAction, ...]:
    """``user_action`` (content) or ``user_actions`` (prompt): ``[{"id":…,"text":…}]``."""
    items = data.get("user_action", data.get("user_actions"))
    if not isinstance(items, list):
        return ()
    out: list[UserAction] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out.append(UserAction(id=item["id"], text=opt_str(item.get("text"))))
        elif isinstance(item, str):
            out.append(UserAction(id=item, text=None))
    return tuple(out)


def _id_text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) else None


def decode_exercise(msg: dict[str, Any], topic: str) -> list[Event]:
    """``shs+exercise`` / ``inp+exercise`` frames: ack, ``content`` or ``prompt``."""
    if "data" not in msg:
        if topic == "shs+exercise":
            return [ExerciseAck()]
        return [Unknown(topic=topic, payload=msg)]
    data = msg["data"]
    if not isinstance(data, dict):
        raise BadFrame(f"data must be an object, got {type(data).__name__}")
    action = msg.get("action")
    message_id = _id_text(msg.get("MID"))
    if action == "prompt":
        return [
            ExercisePrompt(
                request_id=opt_int(data.get("id")),
                message_id=message_id,
                title=opt_str(data.get("title")),
                text=opt_str(data.get("text")),
                actions=_actions(data),
                raw=msg,
            )
        ]
    if action not in (None, "content"):
        return [Unknown(topic=topic, payload=msg)]
    return [
        ExerciseContent(
            request_id=opt_int(data.get("id")),
            message_id=message_id,
            actions=_actions(data),
            contract=opt_str(data.get("contract")),
            underlying_symbol=opt_str(data.get("underlying_symbol")),
            underlying_conid=opt_int(data.get("underlying_conid")),
            underlying_price=opt_str(data.get("underlying_price")),
            sec_type=opt_str(data.get("sec_type")),
            position=to_float(data.get("position")),
            deadline=opt_str(data.get("deadline")),
            warning=opt_str(data.get("warning")),
            qty_exercise=to_float(data.get("qty_exercise")),
            qty_lapse=to_float(data.get("qty_lapse")),
            qty_hold=to_float(data.get("qty_hold")),
            submitted=to_float(data.get("submitted")),
            revocable=opt_bool(data.get("revocable")),
            loading=opt_bool(data.get("loading")),
            raw=msg,
        )
    ]


def is_order_prompt(entry: dict[str, Any]) -> bool:
    """Whether an ``ntf`` entry is an order question rather than a plain notice."""
    return any(k in entry for k in _PROMPT_KEYS)


def notification_entry(entry: dict[str, Any]) -> Notification | OrderPrompt:
    """One ``ntf`` entry as a :class:`Notification` or, for an order question, an
    :class:`OrderPrompt`."""
    if is_order_prompt(entry):
        return OrderPrompt(
            order_id=opt_int(entry.get("orderId")),
            request_id=_id_text(entry.get("reqId")),
            message_id=_id_text(entry.get("messageId")),
            text=opt_str(entry.get("text")),
            options=_strings(entry.get("options")),
            dismissable=_strings(entry.get("dismissable")),
            prompt_type=opt_str(entry.get("type")),
            prompt=opt_bool(entry.get("prompt")),
            raw=entry,
        )
    notice_id = entry.get("id")
    return Notification(
        notification_id=None
        if notice_id is None or isinstance(notice_id, dict | list)
        else str(notice_id),
        text=opt_str(entry.get("text", entry.get("msg"))),
        title=opt_str(entry.get("title")),
        url=opt_str(entry.get("url")),
        raw=entry,
    )
