"""Decoding of the session's own topics (``system``, ``act``, ``sts``, ``tic``, ``blt``,
``ntf``, ``error``, the legacy echo) and of topic-less frames (protocol.md §5); the data topics
and the dispatch are in :mod:`ibstream.protocol.decoding`."""

from __future__ import annotations

from typing import Any

import orjson

from ibstream.protocol._decode_prompts import notification_entry
from ibstream.protocol._decode_topics import BadFrame, as_int, opt_bool, opt_int, opt_str
from ibstream.protocol.events import (
    AccountInfo,
    AuthStatus,
    Bulletin,
    ErrorMessage,
    Event,
    Heartbeat,
    HistoryUnsubscribed,
    LedgerUnsubscribed,
    SummaryUnsubscribed,
    SystemLogin,
    TicReply,
    Unknown,
    WaitingForSession,
)

# --- unsolicited topics ---------------------------------------------------------------------------


def _args_dict(msg: dict[str, Any]) -> dict[str, Any]:
    args = msg.get("args", {})
    if not isinstance(args, dict):
        raise BadFrame(f"args must be an object, got {type(args).__name__}")
    return args


def _system(msg: dict[str, Any], topic: str) -> list[Event]:
    if "hb" in msg:
        hb = msg["hb"]
        return [Heartbeat(hb_ms=hb if hb.__class__ is int else as_int(hb, "hb"))]
    if "success" in msg:
        username = msg["success"]
        if not isinstance(username, str):
            raise BadFrame(f"system success must be a string, got {type(username).__name__}")
        return [
            SystemLogin(
                username=username,
                is_ft=opt_bool(msg.get("isFT")),
                is_paper=opt_bool(msg.get("isPaper")),
                raw=msg,
            )
        ]
    return [Unknown(topic=topic, payload=msg)]


def _act(msg: dict[str, Any], topic: str) -> list[Event]:
    args = _args_dict(msg)
    accounts = args.get("accounts", [])
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        raise BadFrame("act accounts must be a list of strings")
    server = args.get("serverInfo")
    server = server if isinstance(server, dict) else {}
    return [
        AccountInfo(
            accounts=tuple(accounts),
            selected_account=opt_str(args.get("selectedAccount")),
            session_id=opt_str(args.get("sessionId")),
            server_name=opt_str(server.get("serverName")),
            server_version=opt_str(server.get("serverVersion")),
            is_paper=opt_bool(args.get("isPaper")),
            raw=args,
        )
    ]


def _sts(msg: dict[str, Any], topic: str) -> list[Event]:
    args = _args_dict(msg)
    return [
        AuthStatus(
            authenticated=opt_bool(args.get("authenticated")),
            competing=opt_bool(args.get("competing")),
            connected=opt_bool(args.get("connected")),
            established=opt_bool(args.get("established")),
            message=opt_str(args.get("message")),
            fail=opt_str(args.get("fail")),
            username=opt_str(args.get("username")),
            server_name=opt_str(args.get("serverName")),
            server_version=opt_str(args.get("serverVersion")),
            raw=args,
        )
    ]


def _tic(msg: dict[str, Any], topic: str) -> list[Event]:
    return [
        TicReply(
            alive=opt_bool(msg.get("alive")),
            session_id=opt_str(msg.get("id")),
            last_accessed_ms=opt_int(msg.get("lastAccessed")),
        )
    ]


def _id(value: object) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


def _dict_items(args: object, topic: str) -> list[dict[str, Any]]:
    """``args`` as a list of objects: an object gives one, a list gives its object elements."""
    if isinstance(args, dict):
        return [args]
    if isinstance(args, list):
        return [item for item in args if isinstance(item, dict)]
    raise BadFrame(f"{topic} args must be an object or a list, got {type(args).__name__}")


def _blt(msg: dict[str, Any], topic: str) -> list[Event]:
    return [
        Bulletin(bulletin_id=_id(a.get("id")), message=opt_str(a.get("message")), raw=a)
        for a in _dict_items(msg.get("args", {}), topic)
    ]


def _ntf(msg: dict[str, Any], topic: str) -> list[Event]:
    """Notices become :class:`Notification`, order questions :class:`OrderPrompt`."""
    return [notification_entry(a) for a in _dict_items(msg.get("args", {}), topic)]


def _error(msg: dict[str, Any], topic: str | None) -> list[Event]:
    args = msg.get("args")
    args = args if isinstance(args, dict) else {}
    text = msg.get("error", args.get("error", args.get("message", msg.get("message"))))
    if text is None:
        text = ""
    code = msg.get("code", args.get("code"))
    return [
        ErrorMessage(
            topic=topic,
            message=text if isinstance(text, str) else orjson.dumps(text).decode(),
            code=code if type(code) is int else None,
            raw=msg,
        )
    ]


def _echo(msg: dict[str, Any], topic: str) -> list[Event]:
    return [Heartbeat(hb_ms=None)]


def _topicless(msg: dict[str, Any]) -> list[Event]:
    message = msg.get("message")
    if isinstance(message, str):
        if message.strip().lower() == "waiting for session":
            return [WaitingForSession()]
        if message.startswith("Unsubscribed "):
            server_id = message[len("Unsubscribed ") :].strip()
            if server_id:
                return [HistoryUnsubscribed(server_id=server_id)]
    result = msg.get("result")
    if isinstance(result, str):
        lowered = result.strip().lower()
        if lowered == "unsubscribed from summary":
            return [SummaryUnsubscribed()]
        if lowered == "unsubscribed from ledger":
            return [LedgerUnsubscribed()]
    return [Unknown(topic=None, payload=msg)]
