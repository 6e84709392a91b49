"""Specs and filters as consumers write them (JSON objects, query strings, GraphQL inputs).

One parser for every protocol, so the plain WebSocket, SSE and GraphQL accept the same names::

    {"topic": "md", "conid": 265598, "fields": ["31", "84"]}
    {"topic": "mh", "conid": 265598, "period": "1d", "bar": "5min"}
    {"topic": "bd", "account": "DU1234567", "conid": 265598}
    {"topic": "or"}  {"topic": "tr"}  {"topic": "pl"}
    {"topic": "sd", "account": "DU1234567"}  {"topic": "ld", "account": "DU1234567"}

Every mistake raises ``InvalidArgument`` naming the member and what is allowed. The parsing and
printing of specs and keys is :mod:`ibstream.protocol.registry`'s; this module adds the consumer
filters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.registry import TOPICS as _ENTRIES
from ibstream.protocol.registry import parse_key, parse_topic, spec_from_dict
from ibstream.protocol.registry import spec_to_args as spec_to_dict
from ibstream.protocol.specs import Topic

__all__ = [
    "SESSION_TOPIC",
    "TOPICS",
    "Filters",
    "event_account",
    "event_conid",
    "event_topic",
    "parse_key",
    "spec_from_dict",
    "spec_to_dict",
]

SESSION_TOPIC = "session"
"""Topic of events that belong to no stream (session state, bulletins, notifications, errors)."""

TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)


def event_topic(event: Any) -> str:
    """The topic an event belongs to (``"md"``...) or :data:`SESSION_TOPIC`."""
    key = getattr(event, "key", None)
    return key.topic.value if key is not None else SESSION_TOPIC


def event_conid(event: Any) -> int | None:
    conid = getattr(event, "conid", None)
    if conid is not None:
        return int(conid)
    key = getattr(event, "key", None)
    if key is not None and key.ident and _ENTRIES[key.topic].ident == "conid":
        ident = key.ident.partition(";;;")[0]  # a combo's key: its spread conid
        return int(ident) if ident.isdigit() else None
    return None


def event_account(event: Any) -> str | None:
    account = getattr(event, "account", None)
    if account is not None:
        return str(account)
    key = getattr(event, "key", None)
    if key is not None and _ENTRIES[key.topic].ident == "account":
        return str(key.ident)
    return None


@dataclass(frozen=True, slots=True)
class Filters:
    """A consumer's filter: ``None`` members let everything through.

    ``topics`` match :func:`event_topic`; ``conids`` and ``accounts`` apply to events that carry
    a conid / an account (events without one pass, so lifecycle events still arrive).
    """

    topics: frozenset[str] | None = None
    conids: frozenset[int] | None = None
    accounts: frozenset[str] | None = None

    @classmethod
    def parse(
        cls, topics: object = None, conids: object = None, accounts: object = None
    ) -> Filters | None:
        """From JSON lists, comma-separated strings or ``None``; ``None`` when nothing filters."""
        t = _names(topics, "topics")
        if t is not None:
            t = frozenset(_topic_name(name) for name in t)
        c = _names(conids, "conids")
        try:
            ci = frozenset(int(x) for x in c) if c is not None else None
        except ValueError:
            raise InvalidArgument("conids", f"must be integers, got {conids!r}") from None
        a = _names(accounts, "accounts")
        if t is None and ci is None and a is None:
            return None
        return cls(t, ci, a)

    def match(self, event: Any) -> bool:
        if self.topics is not None and event_topic(event) not in self.topics:
            return False
        if self.conids is not None:
            conid = event_conid(event)
            if conid is not None and conid not in self.conids:
                return False
        if self.accounts is not None:
            account = event_account(event)
            if account is not None and account not in self.accounts:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "topics": sorted(self.topics) if self.topics is not None else None,
            "conids": sorted(self.conids) if self.conids is not None else None,
            "accounts": sorted(self.accounts) if self.accounts is not None else None,
        }


def _topic_name(name: str) -> str:
    """A topic code (any name the registry takes: ``md``, ``orders``, ``smd``...) or ``session``."""
    if name == SESSION_TOPIC:
        return name
    try:
        return parse_topic(name).value
    except InvalidArgument:
        allowed = f"{', '.join(TOPICS)}, session (or a long name like orders)"
        raise InvalidArgument("topics", f"unknown {name} (allowed: {allowed})") from None


def _names(value: object, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, int):
        items = [str(value)]
    elif isinstance(value, Iterable):
        items = [str(v).strip() for v in value]
    else:
        raise InvalidArgument(name, f"must be a list or a comma-separated string, got {value!r}")
    return frozenset(i for i in items if i)
