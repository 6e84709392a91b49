"""Outbound messages: typed, immutable subscription specs and the bare session messages.

Each spec is a frozen, slotted dataclass validated at construction (``InvalidArgument`` names the
argument and what is allowed) and knows how to encode itself into the exact wire strings of
protocol.md §4 (compact JSON, no spaces)::

    >>> MarketDataSpec(265598, fields=("31", "84")).subscribe_message()
    'smd+265598+{"fields":["31","84"]}'

A spec also tells the subscription book how IBKR keys its stream (:attr:`key`), how the gateway
confirms it (:attr:`confirmation`, protocol.md §4.0) and whether it silently expires
(:attr:`expires`, market data only, §4.1).

The identifying argument (``conid`` or ``account``) may be passed positionally; everything else is
keyword-only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar, TypeAlias

import orjson

from ibstream.exceptions import InvalidArgument, InvalidState

__all__ = [
    "DEFAULT_FIELDS",
    "HISTORY_BARS",
    "HISTORY_SOURCES",
    "ORDER_FILTERS",
    "AccountLedgerSpec",
    "AccountSummarySpec",
    "Confirmation",
    "MarketDataSpec",
    "MarketHistorySpec",
    "OrdersSpec",
    "PnlSpec",
    "PriceLadderSpec",
    "Spec",
    "StreamKey",
    "Topic",
    "TradesSpec",
    "echo_message",
    "session_message",
    "tic_message",
]


class Topic(StrEnum):
    """A data stream kind: the topic name without its ``s``/``u`` prefix (protocol.md §1.5)."""

    MARKET_DATA = "md"
    MARKET_HISTORY = "mh"
    PRICE_LADDER = "bd"
    ORDERS = "or"
    TRADES = "tr"
    PNL = "pl"
    ACCOUNT_SUMMARY = "sd"
    ACCOUNT_LEDGER = "ld"


@dataclass(frozen=True, slots=True)
class StreamKey:
    """What IBKR keys a stream by (protocol.md §4.0).

    ``md``/``mh``: the conid as a string; ``bd``/``sd``/``ld``: the account id;
    ``or``/``tr``/``pl``: ``""`` (one stream per socket).
    """

    topic: Topic
    ident: str
    # Keys are hashed on every frame (dict lookups by stream); hashing the enum member goes
    # through Enum.__hash__ in Python, so the hash is computed once and kept.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.topic.value, self.ident)))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def of(cls, topic: Topic, ident: str) -> StreamKey:
        """The shared instance for ``(topic, ident)``: specs and the decoder hand out the same
        object, so a dict lookup by key ends on the identity check (no ``__eq__`` call)."""
        key = _INTERNED.get((topic, ident))
        if key is None:
            key = cls(topic, ident)
            if len(_INTERNED) < _INTERN_MAX:  # bounded: idents come from the network
                _INTERNED[(topic, ident)] = key
        return key

    def __str__(self) -> str:
        return f"{self.topic.value}:{self.ident}" if self.ident else self.topic.value

    def __repr__(self) -> str:
        return f"StreamKey({self})"


_INTERNED: dict[tuple[Topic, str], StreamKey] = {}
_INTERN_MAX = 100_000


class Confirmation(Enum):
    """How the gateway confirms a subscription (protocol.md §4.0)."""

    FIRST_FRAME = "first_frame"
    """Confirmed by the first data frame whose topic matches."""
    ON_SEND = "on_send"
    """Never confirmed: assumed live once sent (``sor``, ``sbd``)."""


DEFAULT_FIELDS: tuple[str, ...] = (
    "31",  # last
    "55",  # symbol
    "70",  # high
    "71",  # low
    "82",  # change
    "83",  # change %
    "84",  # bid
    "85",  # ask size
    "86",  # ask
    "87",  # volume
    "88",  # bid size
    "7059",  # last size
    "6509",  # availability
    "7295",  # open
    "7296",  # close
)
"""Fields requested by :class:`MarketDataSpec` when none are given."""

HISTORY_BARS: tuple[str, ...] = (
    "1min",
    "2min",
    "3min",
    "5min",
    "10min",
    "15min",
    "30min",
    "1h",
    "2h",
    "3h",
    "4h",
    "8h",
    "1d",
    "1w",
    "1m",
)
"""Bar sizes accepted by ``smh`` (protocol.md §4.2)."""
HISTORY_SOURCES: frozenset[str] = frozenset({"midpoint", "trades", "bid_ask", "bid", "ask"})
_FORMAT_TOKENS = frozenset({"%o", "%c", "%h", "%l", "%v"})
# unit -> (min, max); protocol.md §4.2
_PERIOD_UNITS: dict[str, int] = {"min": 30, "h": 8, "d": 1000, "w": 792, "m": 182, "y": 15}
_PERIOD_ALLOWED = "{1-30}min, {1-8}h, {1-1000}d, {1-792}w, {1-182}m or {1-15}y, e.g. '1d'"

ORDER_FILTERS: tuple[str, ...] = (
    "Inactive",
    "PendingSubmit",
    "PreSubmitted",
    "Submitted",
    "Filled",
    "PendingCancel",
    "Cancelled",
    "WarnState",
    "SortByTime",
)
"""Order status filters accepted by ``sor`` (matched case-insensitively)."""
_ORDER_FILTERS_BY_LOWER = {f.lower(): f for f in ORDER_FILTERS}

_ACCOUNT_RE = re.compile(r"[A-Za-z0-9._-]+")
_UPPER_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


CONID_MAX = 2**31 - 1  # IBKR's conids are 32-bit (fields.CONID_MAX, GraphQL's Int)


def _check_conid(conid: object, name: str = "conid") -> int:
    if type(conid) is not int or not 0 < conid <= CONID_MAX:
        big = type(conid) is int and conid.bit_length() > 64
        shown = "an integer beyond 64 bits" if big else repr(conid)[:60]
        raise InvalidArgument(
            name, f"must be a contract id, an int in 1..{CONID_MAX} (32 bits), got {shown}"
        )
    return conid


def _check_exchange(exchange: object) -> str | None:
    if exchange is None:
        return None
    if (
        not isinstance(exchange, str)
        or not exchange
        or not _UPPER_ALNUM.issuperset(exchange)
        or exchange.isdigit()
    ):
        raise InvalidArgument(
            "exchange",
            f"must be None or an upper-case alphanumeric code like 'NASDAQ', got {exchange!r}",
        )
    return exchange


def _check_account(account: object) -> str:
    if not isinstance(account, str) or _ACCOUNT_RE.fullmatch(account) is None:
        raise InvalidArgument(
            "account", f"must be a non-empty account id of [A-Za-z0-9._-], got {account!r}"
        )
    return account


def _check_names(values: object, name: str) -> tuple[str, ...]:
    """A tuple of non-empty strings without '+', de-duplicated in order."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidArgument(name, f"must be a sequence of strings, got {values!r}")
    out: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v or "+" in v:
            raise InvalidArgument(name, f"items must be non-empty strings without '+', got {v!r}")
        if v not in out:
            out.append(v)
    return tuple(out)


def _check_fields(fields: object) -> tuple[str, ...]:
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise InvalidArgument("fields", f"must be a sequence of numeric field ids, got {fields!r}")
    out: list[str] = []
    for f in fields:
        if type(f) is int and f > 0:
            s = str(f)
        elif isinstance(f, str) and f.isascii() and f.isdigit() and f[0] != "0":
            s = f
        else:
            raise InvalidArgument(
                "fields", f"items must be positive numeric field ids like '31' or 31, got {f!r}"
            )
        if s not in out:
            out.append(s)
    if not out:
        raise InvalidArgument("fields", "must name at least one field id")
    return tuple(out)


def _check_period(period: object) -> str:
    if isinstance(period, str):
        for unit, high in _PERIOD_UNITS.items():
            if period.endswith(unit):
                number = period[: -len(unit)]
                if (
                    number.isascii()
                    and number.isdigit()
                    and number[0] != "0"
                    and 1 <= int(number) <= high
                ):
                    return period
                break
    raise InvalidArgument("period", f"must be {_PERIOD_ALLOWED}, got {period!r}")


def _check_format(fmt: object) -> str:
    if isinstance(fmt, str):
        tokens = fmt.split("/")
        if _FORMAT_TOKENS.issuperset(tokens) and len(set(tokens)) == len(tokens):
            return fmt
    raise InvalidArgument(
        "format", f"must be distinct tokens %o %c %h %l %v joined by '/', got {fmt!r}"
    )


def _check_bool(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise InvalidArgument(name, f"must be True or False, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class MarketDataSpec:
    """Streaming level-1 market data for one contract (``smd``, protocol.md §4.1).

    ``fields`` accepts ids as strings or ints; they are normalised to a de-duplicated tuple of
    strings. ``exchange`` requests a specific venue (``smd+CONID@EXCH``) instead of SMART.
    """

    topic: ClassVar[Topic] = Topic.MARKET_DATA
    confirmation: ClassVar[Confirmation] = Confirmation.FIRST_FRAME
    expires: ClassVar[bool] = True

    conid: int
    _: KW_ONLY
    fields: tuple[str, ...] = DEFAULT_FIELDS
    exchange: str | None = None

    def __post_init__(self) -> None:
        _check_conid(self.conid)
        _set(self, "fields", _check_fields(self.fields))
        _check_exchange(self.exchange)

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.MARKET_DATA, str(self.conid))

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        target = f"{self.conid}@{self.exchange}" if self.exchange else str(self.conid)
        return f"smd+{target}+" + _json({"fields": list(self.fields)})

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return f"umd+{self.conid}+{{}}"


@dataclass(frozen=True, slots=True)
class MarketHistorySpec:
    """Streaming historical bars for one contract (``smh``, protocol.md §4.2).

    Unsubscribing needs the ``serverId`` of the first frame: ``umh+SERVERID``.
    """

    topic: ClassVar[Topic] = Topic.MARKET_HISTORY
    confirmation: ClassVar[Confirmation] = Confirmation.FIRST_FRAME
    expires: ClassVar[bool] = False

    conid: int
    _: KW_ONLY
    exchange: str | None = None
    period: str = "1d"
    bar: str = "5min"
    outside_rth: bool = False
    source: str = "trades"
    format: str = "%o/%c/%h/%l/%v"

    def __post_init__(self) -> None:
        _check_conid(self.conid)
        _check_exchange(self.exchange)
        _check_period(self.period)
        if self.bar not in HISTORY_BARS:
            raise InvalidArgument(
                "bar", f"must be one of {' '.join(HISTORY_BARS)}, got {self.bar!r}"
            )
        _check_bool(self.outside_rth, "outside_rth")
        if self.source not in HISTORY_SOURCES:
            raise InvalidArgument(
                "source", f"must be one of midpoint|trades|bid_ask|bid|ask, got {self.source!r}"
            )
        _check_format(self.format)

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.MARKET_HISTORY, str(self.conid))

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        args: dict[str, Any] = {}
        if self.exchange is not None:
            args["exchange"] = self.exchange
        args["period"] = self.period
        args["bar"] = self.bar
        args["outsideRth"] = self.outside_rth  # IBKR's documented spelling (§4.2)
        args["source"] = self.source
        args["format"] = self.format
        return f"smh+{self.conid}+" + _json(args)

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        """``umh+SERVERID``; raises ``InvalidState`` without the server id of the first frame."""
        if server_id is None:
            raise InvalidState(
                f"cannot unsubscribe market history for {self.conid}: no server id received yet"
            )
        if not isinstance(server_id, str) or not server_id or "+" in server_id:
            raise InvalidArgument("server_id", f"must be a non-empty string, got {server_id!r}")
        return f"umh+{server_id}"


@dataclass(frozen=True, slots=True)
class PriceLadderSpec:
    """BookTrader price ladder (``sbd``, protocol.md §4.3); needs an L2 subscription."""

    topic: ClassVar[Topic] = Topic.PRICE_LADDER
    confirmation: ClassVar[Confirmation] = Confirmation.ON_SEND
    expires: ClassVar[bool] = False

    account: str
    conid: int
    _: KW_ONLY
    exchange: str | None = None

    def __post_init__(self) -> None:
        _check_account(self.account)
        _check_conid(self.conid)
        _check_exchange(self.exchange)

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.PRICE_LADDER, self.account)

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        tail = f"+{self.exchange}" if self.exchange else ""
        return f"sbd+{self.account}+{self.conid}{tail}"

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return f"ubd+{self.account}"


@dataclass(frozen=True, slots=True)
class OrdersSpec:
    """Live order updates (``sor``, protocol.md §4.4); the gateway sends nothing on subscribe."""

    topic: ClassVar[Topic] = Topic.ORDERS
    confirmation: ClassVar[Confirmation] = Confirmation.ON_SEND
    expires: ClassVar[bool] = False

    _: KW_ONLY
    filters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        values = self.filters
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise InvalidArgument("filters", f"must be a sequence of statuses, got {values!r}")
        out: list[str] = []
        for v in values:
            canonical = _ORDER_FILTERS_BY_LOWER.get(v.lower()) if isinstance(v, str) else None
            if canonical is None:
                raise InvalidArgument(
                    "filters", f"items must be one of {', '.join(ORDER_FILTERS)}, got {v!r}"
                )
            if canonical not in out:
                out.append(canonical)
        _set(self, "filters", tuple(out))

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.ORDERS, "")

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        return "sor+" + (_json({"filters": list(self.filters)}) if self.filters else "{}")

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return "uor+{}"


@dataclass(frozen=True, slots=True)
class TradesSpec:
    """Executions (``str``, protocol.md §4.5): ``days`` of history (1 = today) then live trades."""

    topic: ClassVar[Topic] = Topic.TRADES
    confirmation: ClassVar[Confirmation] = Confirmation.FIRST_FRAME
    expires: ClassVar[bool] = False

    _: KW_ONLY
    realtime_only: bool = False
    days: int = 1

    def __post_init__(self) -> None:
        _check_bool(self.realtime_only, "realtime_only")
        if type(self.days) is not int or not 1 <= self.days <= 7:
            raise InvalidArgument("days", f"must be an int from 1 to 7, got {self.days!r}")

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.TRADES, "")

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        args: dict[str, Any] = {}
        if self.realtime_only:
            args["realtimeUpdatesOnly"] = True
        if self.days != 1:
            args["days"] = self.days
        return "str+" + _json(args)

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return "utr"


@dataclass(frozen=True, slots=True)
class PnlSpec:
    """Profit and loss per account (``spl``, protocol.md §4.6)."""

    topic: ClassVar[Topic] = Topic.PNL
    confirmation: ClassVar[Confirmation] = Confirmation.FIRST_FRAME
    expires: ClassVar[bool] = False

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.PNL, "")

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        return "spl+{}"

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return "upl+{}"


def _keys_fields_args(keys: tuple[str, ...], fields: tuple[str, ...]) -> str:
    args: dict[str, list[str]] = {}
    if keys:
        args["keys"] = list(keys)
    if fields:
        args["fields"] = list(fields)
    return _json(args)


@dataclass(frozen=True, slots=True)
class _AccountValuesSpec:
    """Shared shape of ``ssd`` and ``sld``: an account plus optional keys and fields."""

    topic: ClassVar[Topic]
    confirmation: ClassVar[Confirmation] = Confirmation.FIRST_FRAME
    expires: ClassVar[bool] = False
    _codes: ClassVar[tuple[str, str]]  # (subscribe, unsubscribe) topic codes

    account: str
    _: KW_ONLY
    keys: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_account(self.account)
        _set(self, "keys", _check_names(self.keys, "keys"))
        _set(self, "fields", _check_names(self.fields, "fields"))

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(self.topic, self.account)

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)  # type: ignore[arg-type]

    def subscribe_message(self) -> str:
        return f"{self._codes[0]}+{self.account}+" + _keys_fields_args(self.keys, self.fields)

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return f"{self._codes[1]}+{self.account}+{{}}"


@dataclass(frozen=True, slots=True)
class AccountSummarySpec(_AccountValuesSpec):
    """Account summary values (``ssd``, protocol.md §4.7); empty keys/fields mean everything."""

    topic: ClassVar[Topic] = Topic.ACCOUNT_SUMMARY
    _codes: ClassVar[tuple[str, str]] = ("ssd", "usd")


@dataclass(frozen=True, slots=True)
class AccountLedgerSpec(_AccountValuesSpec):
    """Account ledger per currency (``sld``, protocol.md §4.7); a frame every 10 s."""

    topic: ClassVar[Topic] = Topic.ACCOUNT_LEDGER
    _codes: ClassVar[tuple[str, str]] = ("sld", "uld")


Spec: TypeAlias = (
    MarketDataSpec
    | MarketHistorySpec
    | PriceLadderSpec
    | OrdersSpec
    | TradesSpec
    | PnlSpec
    | AccountSummarySpec
    | AccountLedgerSpec
)
"""Any subscription spec."""

_SPEC_TYPES = (
    MarketDataSpec,
    MarketHistorySpec,
    PriceLadderSpec,
    OrdersSpec,
    TradesSpec,
    PnlSpec,
    AccountSummarySpec,
    AccountLedgerSpec,
)


def _same_stream(spec: Spec, other: object) -> bool:
    return isinstance(other, _SPEC_TYPES) and spec.key == other.key


def tic_message() -> str:
    """The session keep-alive ping (protocol.md §5.2); answered by ``tic`` frames."""
    return "tic"


def echo_message() -> str:
    """The legacy echo heartbeat ``ech+hb`` (protocol.md §7)."""
    return "ech+hb"


def session_message(session_id: str) -> str:
    """``{"session":"<id>"}``: authenticates a socket opened without the cookie (§1.3)."""
    if not isinstance(session_id, str) or not session_id:
        raise InvalidArgument("session_id", f"must be a non-empty string, got {session_id!r}")
    return _json({"session": session_id})
