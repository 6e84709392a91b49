"""The GraphQL output types and the functions that build them from state and events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON

from ibstream.protocol.events import (
    Bulletin,
    ErrorMessage,
    MarketHistory,
    Notification,
    OrderUpdate,
    PriceLadder,
    Trade,
    TradeUpdated,
)
from ibstream.protocol.fields import FIELDS, Availability
from ibstream.protocol.lifecycle import Gap, SessionStateChanged, SubscriptionStateChanged
from ibstream.service.hub import Hub
from ibstream.state import Order as OrderState

__all__ = [
    "LONG_SCALAR",
    "AccountSummaryValues",
    "Bar",
    "Execution",
    "FieldValue",
    "LadderRow",
    "LedgerBalance",
    "Long",
    "MarketHistoryUpdate",
    "Notice",
    "Order",
    "OrderChange",
    "PnlRow",
    "PriceLadderUpdate",
    "SessionChange",
    "SessionStatus",
    "SpecInput",
    "StreamGap",
    "StreamState",
    "SummaryValue",
    "Ticker",
    "UpstreamSubscription",
    "field_values",
    "jsonable",
    "to_execution",
    "to_history",
    "to_ladder",
    "to_ledger",
    "to_notice",
    "to_order",
    "to_order_change",
    "to_pnl_row",
    "to_stream_event",
    "to_summary",
    "to_ticker",
    "to_upstream",
]


def jsonable(value: Any) -> Any:
    if isinstance(value, Availability):
        return value.code
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@strawberry.type(description="One market-data field: id, catalogue name and value.")
class FieldValue:
    id: int
    name: str | None
    value: JSON | None


def field_values(values: Mapping[int, Any], ids: Iterable[int] | None) -> list[FieldValue]:
    chosen = values if ids is None else {i: values[i] for i in ids if i in values}
    out = []
    for fid, value in chosen.items():
        info = FIELDS.get(fid)
        out.append(FieldValue(id=fid, name=info.name if info else None, value=jsonable(value)))
    return out


@strawberry.type(description="Level-1 market data of one contract (current merged state).")
class Ticker:
    conid: int
    symbol: str | None
    last: float | None
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    last_size: float | None
    volume: float | None
    change: float | None
    change_percent: float | None
    high: float | None
    low: float | None
    open: float | None
    close: float | None
    updated_ms: float | None
    closed: bool
    halted: bool
    fields: list[FieldValue] = strawberry.field(description="Chosen fields (or all), current.")
    changed: list[FieldValue] = strawberry.field(
        description="Fields changed by this update (subscriptions; empty in queries)."
    )


def to_ticker(hub: Hub, conid: int, ids: list[int] | None, changed: Mapping[int, Any]) -> Ticker:
    t = hub.client.tickers.get_or_create(conid)
    return Ticker(
        conid=conid,
        symbol=t.symbol,
        last=t.last,
        bid=t.bid,
        ask=t.ask,
        bid_size=t.bid_size,
        ask_size=t.ask_size,
        last_size=t.last_size,
        volume=t.volume,
        change=t.change,
        change_percent=t.change_percent,
        high=t.high,
        low=t.low,
        open=t.open,
        close=t.close,
        updated_ms=float(t.updated_ms) if t.updated_ms is not None else None,
        closed=t.closed,
        halted=t.halted,
        fields=field_values(t.values, ids),
        changed=field_values(changed, ids),
    )


@strawberry.type(description="An order, merged from every update received.")
class Order:
    order_id: strawberry.ID
    account: str | None
    conid: int | None
    symbol: str | None
    side: str | None
    order_type: str | None
    price: float | None
    total_size: float | None
    filled: float | None
    remaining: float | None
    avg_price: float | None
    status: str | None
    time_in_force: str | None
    description: str | None
    terminal: bool
    fields: JSON


def to_order(o: OrderState) -> Order:
    return Order(
        order_id=strawberry.ID(str(o.order_id)),
        account=o.account,
        conid=o.conid,
        symbol=o.symbol,
        side=o.side,
        order_type=o.order_type,
        price=o.price,
        total_size=o.total_size,
        filled=o.filled,
        remaining=o.remaining,
        avg_price=o.avg_price,
        status=o.status.value if o.status is not None else None,
        time_in_force=o.time_in_force,
        description=o.description,
        terminal=o.terminal,
        fields=JSON({k: jsonable(v) for k, v in o.fields.items()}),
    )


@strawberry.type(description="An order update: what changed, and the merged order.")
class OrderChange:
    order_id: strawberry.ID
    account: str | None
    conid: int | None
    status: str | None
    changes: JSON
    order: Order | None


@strawberry.type(description="One execution.")
class Execution:
    execution_id: str
    account: str | None
    conid: int | None
    symbol: str | None
    side: str | None
    size: float | None
    price: float | None
    commission: float | None
    net_amount: float | None
    trade_time_ms: float | None
    order_id: strawberry.ID | None
    exchange: str | None
    updated: bool = strawberry.field(
        default=False,
        description="A re-send of an execution delivered before, that changed it (typically "
        "adding the commission): count executions by the ones where this is false.",
    )
    changed: list[str] = strawberry.field(
        default_factory=list, description="The fields the re-send changed (when `updated`)."
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def to_execution(t: Trade | TradeUpdated) -> Execution:
    """An execution; a ``TradeUpdated`` gives the whole execution with ``updated`` set."""
    if isinstance(t, TradeUpdated):
        out = to_execution(t.trade)
        out.updated = True
        out.changed = [_camel(name) for name in t.changed]
        return out
    return Execution(
        execution_id=t.execution_id,
        account=t.account,
        conid=t.conid,
        symbol=t.symbol,
        side=t.side,
        size=t.size,
        price=t.price,
        commission=t.commission,
        net_amount=t.net_amount,
        trade_time_ms=float(t.trade_time_ms) if t.trade_time_ms is not None else None,
        order_id=strawberry.ID(str(t.order_id)) if t.order_id is not None else None,
        exchange=t.exchange,
    )


@strawberry.type(description="Profit and loss of one account row (e.g. DU1234567.Core).")
class PnlRow:
    account: str
    row: str
    daily_pnl: float | None
    unrealized_pnl: float | None
    net_liquidity: float | None
    excess_liquidity: float | None
    market_value: float | None


def to_pnl_row(r: Any) -> PnlRow:
    return PnlRow(
        account=r.account,
        row=r.row,
        daily_pnl=r.daily_pnl,
        unrealized_pnl=r.unrealized_pnl,
        net_liquidity=r.net_liquidity,
        excess_liquidity=r.excess_liquidity,
        market_value=r.market_value,
    )


@strawberry.type
class SummaryValue:
    key: str
    value: JSON | None
    currency: str | None


@strawberry.type(description="Account summary values of one account.")
class AccountSummaryValues:
    account: str
    timestamp: float | None
    values: list[SummaryValue]


def to_summary(account: str, values: Mapping[str, Any], ts: int | None) -> AccountSummaryValues:
    return AccountSummaryValues(
        account=account,
        timestamp=float(ts) if ts is not None else None,
        values=[
            SummaryValue(key=k, value=jsonable(v.value), currency=v.currency)
            for k, v in values.items()
        ],
    )


@strawberry.type(description="The ledger of one currency of one account (BASE = base currency).")
class LedgerBalance:
    account: str
    currency: str
    timestamp: float | None
    values: JSON


def to_ledger(
    account: str, currency: str, ts: int | None, values: Mapping[str, Any]
) -> LedgerBalance:
    return LedgerBalance(
        account=account,
        currency=currency,
        timestamp=float(ts) if ts is not None else None,
        values=JSON({k: jsonable(v) for k, v in values.items()}),
    )


@strawberry.type
class Bar:
    time_ms: float | None
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


@strawberry.type(description="Historical bars of one contract.")
class MarketHistoryUpdate:
    conid: int
    symbol: str | None
    bar_length_s: int | None
    bars: list[Bar]


@strawberry.type
class LadderRow:
    price: float | None
    bid_size: float | None
    ask_size: float | None
    focus: bool


@strawberry.type(description="A BookTrader price ladder.")
class PriceLadderUpdate:
    account: str
    conid: int | None
    rows: list[LadderRow]


@strawberry.type(description="A stream was interrupted at start and live again at end (epoch s).")
class StreamGap:
    key: str
    start: float
    end: float


@strawberry.type(description="An upstream subscription changed state.")
class StreamState:
    key: str
    previous: str | None
    state: str
    reason: str


@strawberry.type(description="The upstream session changed state.")
class SessionChange:
    previous: str
    state: str
    reason: str


@strawberry.type(description="A bulletin, notification or error message from the gateway.")
class Notice:
    kind: str
    message: str | None
    title: str | None


@strawberry.type(description="One shared upstream subscription.")
class UpstreamSubscription:
    key: str
    topic: str
    ident: str
    state: str
    consumers: int
    pinned: bool
    releasing: bool
    spec: JSON


Long = NewType("Long", int)
"""A counter: a whole number beyond GraphQL's 32-bit ``Int``, sent as a JSON integer."""

LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="A whole number beyond GraphQL's 32-bit Int (counters), as a JSON integer.",
    serialize=int,
    parse_value=int,
)
"""The definition of :data:`Long` (``build_schema`` passes it as a scalar override)."""


@strawberry.type(description="The upstream session and the service.")
class SessionStatus:
    state: str
    authenticated: bool
    ready: bool
    reason: str
    gateway: str
    session_id: str | None
    accounts: list[str]
    frames: Long
    reconnects: int
    gaps: int
    consumers: int
    upstream_subscriptions: int


@strawberry.input(description="An upstream stream, as in the plain protocol's spec object.")
class SpecInput:
    topic: str = strawberry.field(description="md, mh, bd, or, tr, pl, sd or ld")
    conid: int | None = None
    account: str | None = None
    fields: list[str] | None = None
    exchange: str | None = None
    period: str | None = None
    bar: str | None = None
    outside_rth: bool | None = None
    source: str | None = None
    filters: list[str] | None = None
    realtime_only: bool | None = None
    days: int | None = None
    keys: list[str] | None = None
    format: str | None = None


def to_order_change(hub: Hub, ev: OrderUpdate) -> OrderChange:
    merged = hub.client.orders.get(ev.order_id)
    return OrderChange(
        order_id=strawberry.ID(str(ev.order_id)),
        account=ev.account,
        conid=ev.conid,
        status=ev.status,
        changes=JSON({k: jsonable(v) for k, v in ev.changes.items()}),
        order=to_order(merged) if merged is not None else None,
    )


def to_history(ev: MarketHistory) -> MarketHistoryUpdate:
    bars = [
        Bar(
            time_ms=float(b.time_ms) if b.time_ms is not None else None,
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
        )
        for b in ev.bars
    ]
    return MarketHistoryUpdate(
        conid=ev.conid, symbol=ev.symbol, bar_length_s=ev.bar_length_s, bars=bars
    )


def to_ladder(ev: PriceLadder) -> PriceLadderUpdate:
    rows = [
        LadderRow(price=r.price, bid_size=r.bid_size, ask_size=r.ask_size, focus=r.focus)
        for r in ev.rows
    ]
    return PriceLadderUpdate(account=ev.account, conid=ev.conid, rows=rows)


def to_stream_event(ev: object) -> StreamGap | StreamState | None:
    """A stream's gap or state change, else ``None``."""
    if isinstance(ev, Gap):
        return StreamGap(key=str(ev.key), start=ev.start, end=ev.end)
    if isinstance(ev, SubscriptionStateChanged):
        return StreamState(
            key=str(ev.key),
            previous=ev.previous.name if ev.previous is not None else None,
            state=ev.current.name,
            reason=ev.reason or (str(ev.error) if ev.error else ""),
        )
    return None


def to_notice(ev: object) -> SessionChange | Notice | None:
    """A session state change, bulletin, notification or gateway error, else ``None``."""
    if isinstance(ev, SessionStateChanged):
        return SessionChange(previous=ev.previous.name, state=ev.current.name, reason=ev.reason)
    if isinstance(ev, Bulletin):
        return Notice(kind="bulletin", message=ev.message, title=None)
    if isinstance(ev, Notification):
        return Notice(kind="notification", message=ev.text, title=ev.title)
    if isinstance(ev, ErrorMessage):
        return Notice(kind="error", message=ev.message, title=ev.topic)
    return None


def to_upstream(d: dict[str, Any]) -> UpstreamSubscription:
    return UpstreamSubscription(**{**d, "spec": JSON(d["spec"])})
