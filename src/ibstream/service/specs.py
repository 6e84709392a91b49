"""Specs and filters as consumers write them (JSON objects, query strings, GraphQL inputs).

One parser for every protocol, so the plain WebSocket, SSE and GraphQL accept the same names::

    {"topic": "md", "conid": 265598, "fields": ["31", "84"]}
    {"topic": "mh", "conid": 265598, "period": "1d", "bar": "5min"}
    {"topic": "bd", "account": "DU1234567", "conid": 265598}
    {"topic": "or"}  {"topic": "tr"}  {"topic": "pl"}
    {"topic": "sd", "account": "DU1234567"}  {"topic": "ld", "account": "DU1234567"}

Every mistake raises ``InvalidArgument`` naming the member and what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    Spec,
    StreamKey,
    Topic,
    TradesSpec,
)

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
_ALLOWED = {
    "md": {"conid", "fields", "exchange"},
    "mh": {"conid", "exchange", "period", "bar", "outside_rth", "source", "format"},
    "bd": {"account", "conid", "exchange"},
    "or": {"filters"},
    "tr": {"realtime_only", "days"},
    "pl": set(),
    "sd": {"account", "keys", "fields"},
    "ld": {"account", "keys", "fields"},
}
_CAMEL = {"outsideRth": "outside_rth", "realtimeOnly": "realtime_only"}


def _topic(value: object) -> Topic:
    try:
        return Topic(str(value))
    except ValueError:
        raise InvalidArgument(
            "topic", f"must be one of {', '.join(TOPICS)}, got {value!r}"
        ) from None


def _require(args: Mapping[str, Any], name: str, topic: str) -> Any:
    if args.get(name) is None:
        raise InvalidArgument(name, f"is required for topic {topic!r}")
    return args[name]


def spec_from_dict(obj: object) -> Spec:
    """A spec from ``{"topic": ..., ...}``; unknown members are an error (typos fail loudly)."""
    if not isinstance(obj, Mapping):
        raise InvalidArgument("spec", f"must be an object with a 'topic', got {obj!r}")
    args: dict[str, Any] = {_CAMEL.get(str(k), str(k)): v for k, v in obj.items() if v is not None}
    topic = _topic(args.pop("topic", None))
    unknown = set(args) - _ALLOWED[topic.value]
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED[topic.value])) or "nothing else"
        raise InvalidArgument(
            "spec",
            f"unknown member(s) {', '.join(sorted(unknown))} for topic "
            f"{topic.value!r} (allowed: {allowed})",
        )
    for name in ("fields", "keys", "filters"):
        if name in args and not isinstance(args[name], str) and isinstance(args[name], Iterable):
            args[name] = tuple(str(v) for v in args[name])
    if topic is Topic.MARKET_DATA:
        return MarketDataSpec(_require(args, "conid", "md"), **_without(args, "conid"))
    if topic is Topic.MARKET_HISTORY:
        return MarketHistorySpec(_require(args, "conid", "mh"), **_without(args, "conid"))
    if topic is Topic.PRICE_LADDER:
        account = _require(args, "account", "bd")
        conid = _require(args, "conid", "bd")
        return PriceLadderSpec(account, conid, **_without(args, "account", "conid"))
    if topic is Topic.ORDERS:
        return OrdersSpec(**args)
    if topic is Topic.TRADES:
        return TradesSpec(**args)
    if topic is Topic.PNL:
        return PnlSpec()
    if topic is Topic.ACCOUNT_SUMMARY:
        return AccountSummarySpec(_require(args, "account", "sd"), **_without(args, "account"))
    return AccountLedgerSpec(_require(args, "account", "ld"), **_without(args, "account"))


def _without(args: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in names}


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The JSON form of ``spec`` (what :func:`spec_from_dict` reads back)."""
    out: dict[str, Any] = {"topic": spec.topic.value}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        name = f.name
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def parse_key(text: str) -> StreamKey:
    """``"md:265598"`` / ``"or"`` -> ``StreamKey``."""
    topic, _, ident = str(text).partition(":")
    return StreamKey(_topic(topic), ident)


def event_topic(event: Any) -> str:
    """The topic an event belongs to (``"md"``...) or :data:`SESSION_TOPIC`."""
    key = getattr(event, "key", None)
    return key.topic.value if key is not None else SESSION_TOPIC


def event_conid(event: Any) -> int | None:
    conid = getattr(event, "conid", None)
    if conid is not None:
        return int(conid)
    key = getattr(event, "key", None)
    if key is not None and key.topic in (Topic.MARKET_DATA, Topic.MARKET_HISTORY) and key.ident:
        ident = key.ident.partition(";;;")[0]  # a combo's key: its spread conid
        return int(ident) if ident.isdigit() else None
    return None


def event_account(event: Any) -> str | None:
    account = getattr(event, "account", None)
    if account is not None:
        return str(account)
    key = getattr(event, "key", None)
    if key is not None and key.topic in (
        Topic.PRICE_LADDER,
        Topic.ACCOUNT_SUMMARY,
        Topic.ACCOUNT_LEDGER,
    ):
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
            bad = t - set(TOPICS) - {SESSION_TOPIC}
            if bad:
                raise InvalidArgument(
                    "topics",
                    f"unknown {', '.join(sorted(bad))} (allowed: {', '.join(TOPICS)}, session)",
                )
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
