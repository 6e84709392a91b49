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

from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar, TypeAlias

import orjson

from ibstream.exceptions import InvalidArgument, InvalidState
from ibstream.protocol._checks import (
    _check_account,
    _check_bool,
    _check_conid,
    _check_exchange,
    _check_fields,
    _check_format,
    _check_names,
    _check_period,
)
from ibstream.protocol.combo import Combo, ComboId, ComboLeg

__all__ = [
    "DEFAULT_FIELDS",
    "HISTORY_BARS",
    "HISTORY_SOURCES",
    "ORDER_FILTERS",
    "AccountLedgerSpec",
    "AccountSummarySpec",
    "Combo",
    "ComboId",
    "ComboLeg",
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
    "effective_spec",
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


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class MarketDataSpec:
    """Streaming level-1 market data for one contract (``smd``, protocol.md §4.1).

    ``fields`` accepts ids as strings or ints; they are normalised to a de-duplicated tuple of
    strings. ``exchange`` requests a specific venue (``smd+CONID@EXCH``) instead of SMART.

    ``conid`` may be a :class:`~ibstream.protocol.combo.Combo` (or the gateway's combo string
    ``"28812380;;;497222760/1,495512552/-1"``, parsed into one): the stream of a spread, keyed
    by the combo string; its events carry ``conid.combo`` with the legs.
    """

    topic: ClassVar[Topic] = Topic.MARKET_DATA
    confirmation: ClassVar[Confirmation] = Confirmation.FIRST_FRAME
    expires: ClassVar[bool] = True

    conid: int | Combo
    _: KW_ONLY
    fields: tuple[str, ...] = DEFAULT_FIELDS
    exchange: str | None = None

    def __post_init__(self) -> None:
        conid: object = self.conid
        if isinstance(conid, ComboId):
            _set(self, "conid", conid.combo)
        elif isinstance(conid, str):
            _set(self, "conid", Combo.parse(conid))
        elif not isinstance(conid, Combo):
            _check_conid(conid)
        _set(self, "fields", _check_fields(self.fields))
        _check_exchange(self.exchange)
        if self.exchange is not None and isinstance(self.conid, Combo):
            raise InvalidArgument("exchange", "a combo is routed by the gateway: leave it None")

    @property
    def combo(self) -> Combo | None:
        """The combo this spec streams, or ``None`` for a single contract."""
        return self.conid if isinstance(self.conid, Combo) else None

    @property
    def target(self) -> str:
        """The topic target: the conid, or the combo string."""
        conid = self.conid
        return conid.wire if isinstance(conid, Combo) else str(conid)

    @property
    def key(self) -> StreamKey:
        return StreamKey.of(Topic.MARKET_DATA, self.target)

    def same_stream_as(self, other: object) -> bool:
        """True if ``other`` is a spec for the same IBKR stream (same :attr:`key`)."""
        return _same_stream(self, other)

    def subscribe_message(self) -> str:
        target = f"{self.conid}@{self.exchange}" if self.exchange else self.target
        return f"smd+{target}+" + _json({"fields": list(self.fields)})

    def unsubscribe_message(self, server_id: str | None = None) -> str:
        return f"umd+{self.target}+{{}}"

    def merged_with(self, other: MarketDataSpec) -> MarketDataSpec:
        """The spec serving both: the union of fields (``self``'s first), ``other``'s exchange
        if it names one (else ``self``'s). ``self`` itself when it already serves ``other``."""
        if other.exchange in (None, self.exchange) and set(other.fields) <= set(self.fields):
            return self
        return MarketDataSpec(
            self.conid,
            fields=tuple(dict.fromkeys(self.fields + other.fields)),
            exchange=other.exchange or self.exchange,
        )

    def covers(self, other: MarketDataSpec) -> bool:
        """Whether the stream of ``self`` delivers everything ``other`` asked for (same venue,
        a superset of fields): replacing ``other`` by ``self`` needs no unsubscribe."""
        return self.exchange == other.exchange and set(other.fields) <= set(self.fields)


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


def effective_spec(live: Spec, wanted: Spec) -> Spec | None:
    """The sharing rule, in one place: the spec one upstream stream must have so that the consumer
    of ``live`` and a new consumer of ``wanted`` (same ``key``) are both served.

    ``live`` itself when it already serves ``wanted``; for market data the merge of both
    (:meth:`MarketDataSpec.merged_with`); ``None`` when they conflict (other parameters on a
    stream IBKR keys the same way: only one can be live, the caller must choose).
    """
    if live == wanted:
        return live
    if isinstance(live, MarketDataSpec) and isinstance(wanted, MarketDataSpec):
        return live.merged_with(wanted)
    return None


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
