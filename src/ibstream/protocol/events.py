"""Inbound events: what :func:`ibstream.protocol.decoding.decode` turns gateway frames into.

Every event is a frozen, slotted, keyword-only dataclass. Data events carry ``key`` (the
:class:`~ibstream.protocol.specs.StreamKey` of the stream they belong to) and ``raw``, the frame
(or frame entry) as decoded from JSON, so every original string stays reachable.

Mappings held by events (``values``, ``changes``, ``raw``...) are plain dicts for speed: treat
them as read-only, never mutate them.

Malformed input is not an exception: it becomes :class:`Malformed`. A frame the decoder does not
know becomes :class:`Unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, is_dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, NamedTuple, TypeAlias

from ibstream.protocol.combo import Combo, ComboId
from ibstream.protocol.fields import FieldValue, field_name
from ibstream.protocol.specs import StreamKey

__all__ = [
    "AccountInfo",
    "AccountLedger",
    "AccountSummary",
    "AuthStatus",
    "Bar",
    "Bulletin",
    "ErrorMessage",
    "Event",
    "ExerciseAck",
    "ExerciseContent",
    "ExercisePrompt",
    "Heartbeat",
    "HistoryUnsubscribed",
    "LadderRow",
    "LedgerUnsubscribed",
    "Malformed",
    "MarketData",
    "MarketHistory",
    "Notification",
    "OrderPrompt",
    "OrderUpdate",
    "Pnl",
    "PriceLadder",
    "SummaryUnsubscribed",
    "SummaryValue",
    "SystemLogin",
    "TicReply",
    "Trade",
    "TradeUpdated",
    "TradesOpened",
    "Unknown",
    "UserAction",
    "ValueRejected",
    "WaitingForSession",
]


# --- session-level events (unsolicited) -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemLogin:
    """``{"topic":"system","success":"<username>"}``: the socket is logged in (§5.1).

    Not proof of brokerage authentication: wait for :class:`AuthStatus`.
    """

    username: str
    is_ft: bool | None = None
    is_paper: bool | None = None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """``{"topic":"system","hb":<epoch ms>}``, every 10 s (§5.1).

    The legacy echo reply to ``ech+hb`` also decodes to a ``Heartbeat``, with ``hb_ms=None``.
    """

    hb_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountInfo:
    """``act``: the accounts of the session, sent once on connect (§1.4, §5.4)."""

    accounts: tuple[str, ...]
    selected_account: str | None
    session_id: str | None
    server_name: str | None
    server_version: str | None
    is_paper: bool | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthStatus:
    """Any ``sts`` frame (§5.3), full or one-key (older builds): absent keys are ``None``."""

    authenticated: bool | None = None
    competing: bool | None = None
    connected: bool | None = None
    established: bool | None = None
    message: str | None = None
    fail: str | None = None
    username: str | None = None
    server_name: str | None = None
    server_version: str | None = None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TicReply:
    """Reply to the client's ``tic`` (sent four times per ``tic``, §5.2)."""

    alive: bool | None
    session_id: str | None
    last_accessed_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Bulletin:
    """``blt``: an urgent exchange or system message (§5.5)."""

    bulletin_id: str | None
    message: str | None
    raw: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """``ntf``: a trading notice (§5.6); one event per element when ``args`` is a list."""

    notification_id: str | None
    text: str | None
    title: str | None
    url: str | None
    raw: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPrompt:
    """An ``ntf`` entry that is an order question (recorded 2026): answer it by ``reply_id``.

    E.g. the price-management prompt ``messageId`` ``p12`` with ``options`` ``Use on this
    order`` / ``Always use`` / ``Do not use``. ``order_id`` is the order it concerns,
    ``request_id`` (``reqId``) the request that raised it; ``dismissable`` lists the message ids
    that may be suppressed; ``prompt`` is the gateway's own flag.
    """

    order_id: int | None
    request_id: str | None
    message_id: str | None
    text: str | None
    options: tuple[str, ...]
    dismissable: tuple[str, ...]
    prompt_type: str | None
    prompt: bool | None
    raw: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAction:
    """One answer a prompt offers: ``id`` to send back (``submit``, ``continue``...), ``text``."""

    id: str
    text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExerciseAck:
    """``{"topic":"shs+exercise"}``: the option-exercise handshake was accepted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExerciseContent:
    """An ``shs+exercise`` ``content`` message: the exercise ticket and its state.

    ``request_id`` (``data.id``) is what ``inp+exercise`` answers name; ``actions`` the offered
    answers. Quantities are floats; absent keys are ``None`` (later messages are partial).
    """

    request_id: int | None
    message_id: str | None
    actions: tuple[UserAction, ...]
    contract: str | None
    underlying_symbol: str | None
    underlying_conid: int | None
    underlying_price: str | None
    sec_type: str | None
    position: float | None
    deadline: str | None
    warning: str | None
    qty_exercise: float | None
    qty_lapse: float | None
    qty_hold: float | None
    submitted: float | None
    revocable: bool | None
    loading: bool | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExercisePrompt:
    """An ``inp+exercise`` ``prompt``: a confirmation to answer with one of ``actions``."""

    request_id: int | None
    message_id: str | None
    title: str | None
    text: str | None
    actions: tuple[UserAction, ...]
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMessage:
    """``{"topic":"error",...}`` or any frame with a top-level ``error`` key (§5.7).

    ``topic`` is the frame's topic (``"error"``, ``"sor"``...) or ``None`` for topic-less frames.
    """

    topic: str | None
    message: str
    code: int | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingForSession:
    """``{"message":"waiting for session"}``: send ``session_message()`` (§1.3, §5.8)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryUnsubscribed:
    """``{"message":"Unsubscribed <serverId>"}``: a market-history stream ended (§4.2)."""

    server_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryUnsubscribed:
    """``{"result":"unsubscribed from summary"}`` (§4.7)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerUnsubscribed:
    """``{"result":"unsubscribed from ledger"}`` (§4.7)."""


# --- data events --------------------------------------------------------------------------------


class MarketData(NamedTuple):
    """One ``smd`` frame (§4.1): the first frame is complete, later ones carry changed fields only.

    ``values`` maps field id -> parsed value (see :mod:`ibstream.protocol.fields`); unknown ids
    are kept. Meta keys are attributes instead: ``conid``, ``server_id`` (also field 6119, the
    delivery marker) and ``updated_ms`` (``_updated``). ``closed``/``halted`` report a
    ``C``/``H`` prefix on field 31 (last price) in this frame. ``raw`` is the frame dict with the
    original strings. A frame carrying only ``topic`` gives an event with empty ``values``.

    The one event that is a ``NamedTuple`` rather than a frozen slotted dataclass: it is built
    once per ``smd`` frame (hundreds of thousands per second), and a tuple is built in one C call
    where a slotted dataclass needs one call per field (measured 165 ns vs 680 ns on this
    project's machine). It is just as immutable and typed; use ``event._replace(...)`` to derive
    a changed copy. Construct it with keywords.
    """

    key: StreamKey
    conid: int
    server_id: str | None
    updated_ms: int | None
    values: Mapping[int, FieldValue]
    raw: Mapping[str, Any]

    @property
    def combo(self) -> Combo | None:
        """The combo (legs) of a spread's market data; ``None`` for a single contract."""
        conid = self.conid
        return conid.combo if isinstance(conid, ComboId) else None

    @property
    def closed(self) -> bool:
        """Field 31 carries the ``C`` prefix: the price is the prior close (no trade yet)."""
        last = self.raw.get("31")
        return last.__class__ is str and last[:1] == "C"

    @property
    def halted(self) -> bool:
        """Field 31 carries the ``H`` prefix: trading is halted."""
        last = self.raw.get("31")
        return last.__class__ is str and last[:1] == "H"

    def by_name(self) -> dict[str, FieldValue]:
        """``values`` keyed by canonical field name (``{"last": 271.81, "bid": ...}``); ids
        outside the catalogue keep their id as text. ``values`` keeps the ids."""
        return {field_name(fid): value for fid, value in self.values.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One historical bar; ``time_ms`` is epoch ms."""

    time_ms: int | None
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketHistory:
    """One ``smh`` frame (§4.2). ``server_id`` is needed to unsubscribe (``umh+SERVERID``)."""

    key: StreamKey
    conid: int
    server_id: str | None
    symbol: str | None
    text: str | None
    bars: tuple[Bar, ...]
    price_factor: float | None
    start_time: str | None
    bar_length_s: int | None
    points: int | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class LadderRow:
    """One price-ladder row; ``focus`` marks the last-trade row."""

    row: int | None
    focus: bool
    price: float | None
    bid_size: float | None
    ask_size: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceLadder:
    """One ``sbd`` frame (§4.3)."""

    key: StreamKey
    account: str
    conid: int | None
    exchange: str | None
    rows: tuple[LadderRow, ...]
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate:
    """One ``sor`` entry (§4.4): a full order record or a small delta, merge by ``order_id``.

    ``changes`` is the entry without the ``bgColor``/``fgColor`` UI noise, with numeric strings
    of ``price``, ``avgPrice``, ``auxPrice`` and sizes converted to float. ``raw`` is the entry
    as sent.
    """

    key: StreamKey
    account: str | None
    order_id: int
    conid: int | None
    status: str | None
    changes: Mapping[str, Any]
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TradesOpened:
    """The ``{"topic":"str","args":[]}`` frame that opens a trades stream (§4.5)."""

    key: StreamKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """One ``str`` entry (§4.5): one per execution. The gateway sends each execution twice
    (the second copy adds ``commission``); the protocol delivers the first as a ``Trade`` and a
    later copy that changes something as a :class:`TradeUpdated`, so counting ``Trade`` events
    counts fills."""

    key: StreamKey
    execution_id: str
    account: str | None
    conid: int | None
    symbol: str | None
    side: str | None
    size: float | None
    price: float | None
    commission: float | None
    net_amount: float | None
    trade_time_ms: int | None
    order_id: int | None
    exchange: str | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeUpdated:
    """A re-send of an execution already delivered as a :class:`Trade` that changes it (§8.8):
    typically the copy that adds ``commission``. ``trade`` is the execution with everything known
    now (values the re-send lacks are kept); ``changed`` maps each changed field name to its new
    value (``{"commission": 1.0}``); ``raw`` is the re-sent entry. A re-send that changes nothing
    produces no event (counted in the protocol's ``suppressed`` counters)."""

    key: StreamKey
    execution_id: str
    trade: Trade
    changed: Mapping[str, Any]
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pnl:
    """One ``spl`` row (§4.6). ``row`` is the full row key (``"DU1234.Core"``), ``account`` its
    account part."""

    key: StreamKey
    account: str
    row: str
    row_type: int | None
    daily_pnl: float | None
    unrealized_pnl: float | None
    net_liquidity: float | None
    excess_liquidity: float | None
    market_value: float | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryValue:
    """One account-summary value: ``value`` (number, text or bool) with its currency."""

    value: float | str | bool | None
    currency: str | None = None
    severity: int | None = None
    timestamp: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSummary:
    """One ``ssd`` frame (§4.7): ``values`` maps summary key -> :class:`SummaryValue`.

    Entries carrying only ``key`` and ``timestamp`` are skipped. ``timestamp`` is epoch seconds.
    """

    key: StreamKey
    account: str
    timestamp: int | None
    values: Mapping[str, SummaryValue]
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountLedger:
    """One non-blank ``sld`` entry (§4.7): the ledger of one currency (``BASE`` for the base).

    ``values`` holds every other key of the entry (numbers as float). ``timestamp`` is epoch s.
    """

    key: StreamKey
    account: str
    currency: str
    timestamp: int | None
    values: Mapping[str, float | str | None]
    raw: Mapping[str, Any]


# --- decoder diagnostics ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Malformed:
    """A frame that could not be decoded: ``raw`` is its text, ``reason`` says why."""

    raw: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueRejected:
    """One field dropped from an otherwise good entry: its value cannot be represented.

    ``"conid":"inf"``, ``"price":"nan"``, ``"lastExecutionTime_r":"1e999"``, an integer beyond
    64 bits (or a conid beyond 32 bits): the decoder leaves that field out of the event it
    builds (``OrderUpdate.changes``, ``Trade.size``...; ``raw`` keeps the original) and
    reports it here, right after that event. ``value`` is the wire value as text, cut to 200
    characters; ``index`` is the entry's position in the frame.
    """

    topic: str
    index: int
    field: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Unknown:
    """A well-formed frame the decoder does not know (unknown topic); the payload is kept."""

    topic: str | None
    payload: Any


Event: TypeAlias = (
    SystemLogin
    | Heartbeat
    | AccountInfo
    | AuthStatus
    | TicReply
    | Bulletin
    | Notification
    | OrderPrompt
    | ExerciseAck
    | ExerciseContent
    | ExercisePrompt
    | ErrorMessage
    | WaitingForSession
    | HistoryUnsubscribed
    | SummaryUnsubscribed
    | LedgerUnsubscribed
    | MarketData
    | MarketHistory
    | PriceLadder
    | OrderUpdate
    | TradesOpened
    | Trade
    | TradeUpdated
    | Pnl
    | AccountSummary
    | AccountLedger
    | Malformed
    | ValueRejected
    | Unknown
)
"""Any event the decoder produces."""


# --- faster construction -------------------------------------------------------------------------
# A frozen dataclass's generated __init__ assigns through object.__setattr__, one slow call per
# field. Every event class above is re-given an __init__ with the same signature (keyword-only,
# same defaults) that calls each slot's descriptor directly: measured ~40 % cheaper on this
# project's machine for a 7-field event. Instances stay frozen (__setattr__ still raises);
# tests/protocol/test_events.py checks signature, defaults and equality with the original init.


def _fast_init(cls: type) -> None:
    names: list[str] = []
    defaults: dict[str, object] = {}
    for f in dataclass_fields(cls):
        if f.default_factory is not MISSING:  # pragma: no cover - no event uses a factory
            raise TypeError(f"{cls.__name__}.{f.name}: default_factory not supported")
        names.append(f.name)
        if f.default is not MISSING:
            defaults[f.name] = f.default
    params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
    body = "".join(f"    _s_{n}(self, {n})\n" for n in names) or "    pass\n"
    namespace: dict[str, Any] = {f"_s_{n}": getattr(cls, n).__set__ for n in names}
    namespace.update({f"_d_{n}": v for n, v in defaults.items()})
    signature = f"self, *, {params}" if names else "self"
    exec(f"def __init__({signature}):\n{body}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = vars(cls)["__init__"].__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy does not allow assigning a method


for _cls in [c for c in list(globals().values()) if isinstance(c, type)]:
    if is_dataclass(_cls) and _cls.__module__ == __name__:
        _fast_init(_cls)
del _cls
