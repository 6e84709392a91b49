"""GraphQL at ``/graphql`` (strawberry-graphql): queries, mutations and subscriptions.

Subscriptions run over the standard ``graphql-transport-ws`` protocol (``graphql-ws`` is accepted
too). Each subscription is one hub consumer (its own bounded queue), so it shares upstream
streams with every other consumer. Data subscriptions yield a union: the data type, ``Gap`` (the
stream was interrupted and is live again; data in between was missed) and ``StreamState`` (the
upstream subscription changed state). A subscription that falls behind on events that are never
dropped ends with an error. Documents are limited in depth, aliases and tokens.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Annotated, Any

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.scalars import JSON

from ibstream.exceptions import IBStreamError
from ibstream.masking import mask
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    Bulletin,
    ErrorMessage,
    MarketData,
    MarketHistory,
    Notification,
    OrderUpdate,
    Pnl,
    PriceLadder,
    Trade,
)
from ibstream.protocol.fields import FIELDS, Availability
from ibstream.protocol.lifecycle import Gap, SessionStateChanged, SubscriptionStateChanged
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    Spec,
    TradesSpec,
)
from ibstream.service.config import ServiceConfig
from ibstream.service.graphql_rest import RestQuery
from ibstream.service.hub import Hub
from ibstream.service.queue import QueueClosed, QueueOverflow
from ibstream.service.specs import parse_key, spec_from_dict
from ibstream.state import Order as OrderState
from ibstream.state import field_id

__all__ = ["build_schema", "build_view"]


# -- output types --------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
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


def _field_values(values: Mapping[int, Any], ids: Iterable[int] | None) -> list[FieldValue]:
    chosen = values if ids is None else {i: values[i] for i in ids if i in values}
    out = []
    for fid, value in chosen.items():
        info = FIELDS.get(fid)
        out.append(FieldValue(id=fid, name=info.name if info else None, value=_jsonable(value)))
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


def _ticker(hub: Hub, conid: int, ids: list[int] | None, changed: Mapping[int, Any]) -> Ticker:
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
        fields=_field_values(t.values, ids),
        changed=_field_values(changed, ids),
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


def _order(o: OrderState) -> Order:
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
        fields=JSON({k: _jsonable(v) for k, v in o.fields.items()}),
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


def _execution(t: Trade) -> Execution:
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


def _pnl(r: Any) -> PnlRow:
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


def _summary(account: str, values: Mapping[str, Any], ts: int | None) -> AccountSummaryValues:
    return AccountSummaryValues(
        account=account,
        timestamp=float(ts) if ts is not None else None,
        values=[
            SummaryValue(key=k, value=_jsonable(v.value), currency=v.currency)
            for k, v in values.items()
        ],
    )


@strawberry.type(description="The ledger of one currency of one account (BASE = base currency).")
class LedgerBalance:
    account: str
    currency: str
    timestamp: float | None
    values: JSON


def _ledger(
    account: str, currency: str, ts: int | None, values: Mapping[str, Any]
) -> LedgerBalance:
    return LedgerBalance(
        account=account,
        currency=currency,
        timestamp=float(ts) if ts is not None else None,
        values=JSON({k: _jsonable(v) for k, v in values.items()}),
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


@strawberry.type(description="The upstream session and the service.")
class SessionStatus:
    state: str
    authenticated: bool
    ready: bool
    reason: str
    gateway: str
    session_id: str | None
    accounts: list[str]
    frames: float
    reconnects: int
    gaps: int
    consumers: int
    upstream_subscriptions: int


MarketDataEvent = Annotated[Ticker | StreamGap | StreamState, strawberry.union("MarketDataEvent")]
HistoryEvent = Annotated[
    MarketHistoryUpdate | StreamGap | StreamState, strawberry.union("HistoryEvent")
]
LadderEvent = Annotated[
    PriceLadderUpdate | StreamGap | StreamState, strawberry.union("LadderEvent")
]
OrderEvent = Annotated[OrderChange | StreamGap | StreamState, strawberry.union("OrderEvent")]
TradeEvent = Annotated[Execution | StreamGap | StreamState, strawberry.union("TradeEvent")]
PnlEvent = Annotated[PnlRow | StreamGap | StreamState, strawberry.union("PnlEvent")]
SummaryEvent = Annotated[
    AccountSummaryValues | StreamGap | StreamState, strawberry.union("SummaryEvent")
]
LedgerEvent = Annotated[LedgerBalance | StreamGap | StreamState, strawberry.union("LedgerEvent")]
LifecycleEvent = Annotated[
    SessionChange | StreamState | StreamGap | Notice, strawberry.union("LifecycleEvent")
]


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


# -- helpers ---------------------------------------------------------------------------------


def _hub(info: strawberry.Info) -> Hub:
    hub: Hub = info.context["hub"]
    return hub


def _lifecycle(ev: Any) -> StreamGap | StreamState | None:
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


async def _stream(
    hub: Hub,
    specs: list[Spec],
    convert: Callable[[Any], Any],
    *,
    session_events: bool = False,
    all_lifecycle: bool = False,
) -> AsyncGenerator[Any, None]:
    """One hub consumer for the life of the GraphQL subscription."""
    consumer = hub.open_consumer(
        "graphql",
        wants_bytes=False,
        session_events=session_events,
        all_lifecycle=all_lifecycle,
    )
    try:
        for spec in specs:
            hub.attach(consumer, spec)
        while True:
            try:
                ev = await consumer.queue.get()
            except QueueClosed:
                return
            except QueueOverflow as exc:
                raise IBStreamError(f"{exc}; subscription ended") from None
            out = _lifecycle(ev)
            if out is None:
                out = convert(ev)
            if out is not None:
                yield out
    finally:
        hub.close_consumer(consumer, "subscription ended")


def _field_ids(fields: list[str] | None) -> list[int] | None:
    if not fields:
        return None
    return [field_id(f) for f in fields]


def _conids(conids: list[int]) -> list[int]:
    if not conids:
        raise IBStreamError("conids: give at least one contract id")
    if len(conids) > 500:
        raise IBStreamError("conids: at most 500 per subscription")
    return list(dict.fromkeys(conids))


# -- schema ----------------------------------------------------------------------------------


# Resolvers are module functions bound with ``strawberry.field(resolver=...)``: typed for mypy.


def _q_status(info: strawberry.Info) -> SessionStatus:
    hub = _hub(info)
    m = hub.client.metrics()
    ready, details = hub.readiness()
    sid = hub.client.session_id
    return SessionStatus(
        state=hub.client.state.name,
        authenticated=hub.authenticated,
        ready=ready,
        reason=details["reason"],
        gateway=hub.client.rest.base_url,
        session_id=mask(sid) if sid else None,
        accounts=list(hub.accounts),
        frames=float(m["frames"]),
        reconnects=m["reconnects"],
        gaps=m["gaps"],
        consumers=len(hub.consumers),
        upstream_subscriptions=len(hub.upstreams),
    )


def _q_accounts(info: strawberry.Info) -> list[str]:
    hub = _hub(info)
    return list(dict.fromkeys([*hub.accounts, *hub.client.account.accounts]))


def _q_tickers(
    info: strawberry.Info, conids: list[int] | None = None, fields: list[str] | None = None
) -> list[Ticker]:
    hub = _hub(info)
    ids = _field_ids(fields)
    tickers = hub.client.tickers
    wanted = conids if conids is not None else list(tickers)
    return [_ticker(hub, c, ids, {}) for c in wanted if c in tickers]


def _q_orders(
    info: strawberry.Info, open_only: bool = True, account: str | None = None
) -> list[Order]:
    book = _hub(info).client.orders
    orders = book.open_orders() if open_only else book.orders()
    return [_order(o) for o in orders if account is None or o.account == account]


def _q_trades(
    info: strawberry.Info, account: str | None = None, conid: int | None = None, limit: int = 200
) -> list[Execution]:
    book = _hub(info).client.trades
    trades = book.for_conid(conid) if conid is not None else book.trades()
    out = [_execution(t) for t in trades if account is None or t.account == account]
    return out[-min(limit, 10_000) :] if limit > 0 else []


def _q_pnl(info: strawberry.Info, account: str | None = None) -> list[PnlRow]:
    rows = _hub(info).client.account.pnl.values()
    return [_pnl(r) for r in rows if account is None or r.account == account]


def _q_account_summary(info: strawberry.Info, account: str) -> AccountSummaryValues:
    state = _hub(info).client.account
    return _summary(account, state.summary(account), state.summary_timestamp(account))


def _q_ledger(info: strawberry.Info, account: str) -> list[LedgerBalance]:
    balances = _hub(info).client.account.ledger(account).values()
    return [_ledger(b.account, b.currency, b.timestamp, b.values) for b in balances]


def _q_subscriptions(info: strawberry.Info) -> list[UpstreamSubscription]:
    return [_upstream(d) for d in _hub(info).describe_upstreams()]


def _upstream(d: dict[str, Any]) -> UpstreamSubscription:
    return UpstreamSubscription(**{**d, "spec": JSON(d["spec"])})


@strawberry.type
class Query(RestQuery):  # contracts, snapshots, history, portfolio: service/graphql_rest.py
    status: SessionStatus = strawberry.field(
        resolver=_q_status, description="The upstream session and the service."
    )
    accounts: list[str] = strawberry.field(
        resolver=_q_accounts, description="Accounts of the session (the gateway's act message)."
    )
    tickers: list[Ticker] = strawberry.field(
        resolver=_q_tickers, description="Current tickers (every known conid, or those given)."
    )
    orders: list[Order] = strawberry.field(
        resolver=_q_orders, description="Orders (open ones by default)."
    )
    trades: list[Execution] = strawberry.field(
        resolver=_q_trades, description="Executions, oldest first (the newest `limit`)."
    )
    pnl: list[PnlRow] = strawberry.field(
        resolver=_q_pnl, description="P&L rows (every account, or one)."
    )
    account_summary: AccountSummaryValues = strawberry.field(
        resolver=_q_account_summary, description="Account summary values received so far."
    )
    ledger: list[LedgerBalance] = strawberry.field(
        resolver=_q_ledger, description="Ledger balances per currency received so far."
    )
    subscriptions: list[UpstreamSubscription] = strawberry.field(
        resolver=_q_subscriptions, description="Upstream subscriptions held by the service."
    )


def _m_subscribe(info: strawberry.Info, spec: SpecInput) -> UpstreamSubscription:
    hub = _hub(info)
    up = hub.pin(spec_from_dict(strawberry.asdict(spec)))
    described = {d["key"]: d for d in hub.describe_upstreams()}
    return _upstream(described[str(up.key)])


def _m_unsubscribe(info: strawberry.Info, key: str) -> bool:
    return _hub(info).unpin(parse_key(key))


@strawberry.type
class Mutation:
    subscribe_upstream: UpstreamSubscription = strawberry.mutation(
        resolver=_m_subscribe,
        description="Hold an upstream stream without a consumer, until unsubscribeUpstream.",
    )
    unsubscribe_upstream: bool = strawberry.mutation(
        resolver=_m_unsubscribe,
        description="Release a stream held by subscribeUpstream (key like 'md:265598'); it ends "
        "after the grace period when no consumer uses it. False if it was not held.",
    )


async def _s_market_data(
    info: strawberry.Info, conids: list[int], fields: list[str] | None = None
) -> AsyncGenerator[MarketDataEvent, None]:
    hub = _hub(info)
    ids = _field_ids(fields)
    wire = tuple(str(i) for i in ids) if ids else None
    specs: list[Spec] = [
        MarketDataSpec(c, fields=wire) if wire else MarketDataSpec(c) for c in _conids(conids)
    ]

    def convert(ev: Any) -> Ticker | None:
        if isinstance(ev, MarketData):
            return _ticker(hub, ev.conid, ids, ev.values)
        return None

    async for out in _stream(hub, specs, convert):
        yield out


async def _s_market_history(
    info: strawberry.Info,
    conid: int,
    period: str = "1d",
    bar: str = "5min",
    source: str = "trades",
    outside_rth: bool = False,
) -> AsyncGenerator[HistoryEvent, None]:
    spec = MarketHistorySpec(conid, period=period, bar=bar, source=source, outside_rth=outside_rth)

    def convert(ev: Any) -> MarketHistoryUpdate | None:
        if not isinstance(ev, MarketHistory):
            return None
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

    async for out in _stream(_hub(info), [spec], convert):
        yield out


async def _s_price_ladder(
    info: strawberry.Info, account: str, conid: int
) -> AsyncGenerator[LadderEvent, None]:
    def convert(ev: Any) -> PriceLadderUpdate | None:
        if not isinstance(ev, PriceLadder):
            return None
        rows = [
            LadderRow(price=r.price, bid_size=r.bid_size, ask_size=r.ask_size, focus=r.focus)
            for r in ev.rows
        ]
        return PriceLadderUpdate(account=ev.account, conid=ev.conid, rows=rows)

    async for out in _stream(_hub(info), [PriceLadderSpec(account, conid)], convert):
        yield out


async def _s_orders(
    info: strawberry.Info, account: str | None = None
) -> AsyncGenerator[OrderEvent, None]:
    hub = _hub(info)

    def convert(ev: Any) -> OrderChange | None:
        if not isinstance(ev, OrderUpdate) or (account and ev.account != account):
            return None
        merged = hub.client.orders.get(ev.order_id)
        return OrderChange(
            order_id=strawberry.ID(str(ev.order_id)),
            account=ev.account,
            conid=ev.conid,
            status=ev.status,
            changes=JSON({k: _jsonable(v) for k, v in ev.changes.items()}),
            order=_order(merged) if merged is not None else None,
        )

    async for out in _stream(hub, [OrdersSpec()], convert):
        yield out


async def _s_trades(
    info: strawberry.Info, account: str | None = None
) -> AsyncGenerator[TradeEvent, None]:
    def convert(ev: Any) -> Execution | None:
        if not isinstance(ev, Trade) or (account and ev.account != account):
            return None
        return _execution(ev)

    async for out in _stream(_hub(info), [TradesSpec()], convert):
        yield out


async def _s_pnl(
    info: strawberry.Info, account: str | None = None
) -> AsyncGenerator[PnlEvent, None]:
    def convert(ev: Any) -> PnlRow | None:
        if not isinstance(ev, Pnl) or (account and ev.account != account):
            return None
        return _pnl(ev)

    async for out in _stream(_hub(info), [PnlSpec()], convert):
        yield out


async def _s_account_summary(
    info: strawberry.Info, account: str
) -> AsyncGenerator[SummaryEvent, None]:
    def convert(ev: Any) -> AccountSummaryValues | None:
        if not isinstance(ev, AccountSummary):
            return None
        return _summary(ev.account, ev.values, ev.timestamp)

    async for out in _stream(_hub(info), [AccountSummarySpec(account)], convert):
        yield out


async def _s_account_ledger(
    info: strawberry.Info, account: str
) -> AsyncGenerator[LedgerEvent, None]:
    def convert(ev: Any) -> LedgerBalance | None:
        if not isinstance(ev, AccountLedger):
            return None
        return _ledger(ev.account, ev.currency, ev.timestamp, ev.values)

    async for out in _stream(_hub(info), [AccountLedgerSpec(account)], convert):
        yield out


async def _s_lifecycle(info: strawberry.Info) -> AsyncGenerator[LifecycleEvent, None]:
    hub = _hub(info)
    state = hub.client.state.name
    yield SessionChange(previous=state, state=state, reason="current state")

    def convert(ev: Any) -> SessionChange | Notice | None:
        if isinstance(ev, SessionStateChanged):
            return SessionChange(previous=ev.previous.name, state=ev.current.name, reason=ev.reason)
        if isinstance(ev, Bulletin):
            return Notice(kind="bulletin", message=ev.message, title=None)
        if isinstance(ev, Notification):
            return Notice(kind="notification", message=ev.text, title=ev.title)
        if isinstance(ev, ErrorMessage):
            return Notice(kind="error", message=ev.message, title=ev.topic)
        return None

    async for out in _stream(hub, [], convert, session_events=True, all_lifecycle=True):
        yield out


@strawberry.type
class Subscription:
    market_data: AsyncGenerator[MarketDataEvent, None] = strawberry.subscription(
        resolver=_s_market_data,
        description="Market data of one or many conids; `fields` (ids or names) chooses the "
        "fields requested upstream and returned.",
    )
    market_history: AsyncGenerator[HistoryEvent, None] = strawberry.subscription(
        resolver=_s_market_history, description="Historical bars of one conid (smh)."
    )
    price_ladder: AsyncGenerator[LadderEvent, None] = strawberry.subscription(
        resolver=_s_price_ladder, description="BookTrader price ladder of one conid (sbd)."
    )
    orders: AsyncGenerator[OrderEvent, None] = strawberry.subscription(
        resolver=_s_orders, description="Order updates (every account, or one)."
    )
    trades: AsyncGenerator[TradeEvent, None] = strawberry.subscription(
        resolver=_s_trades, description="Executions (every account, or one)."
    )
    pnl: AsyncGenerator[PnlEvent, None] = strawberry.subscription(
        resolver=_s_pnl, description="P&L rows (every account, or one)."
    )
    account_summary: AsyncGenerator[SummaryEvent, None] = strawberry.subscription(
        resolver=_s_account_summary, description="Account summary updates of one account."
    )
    account_ledger: AsyncGenerator[LedgerEvent, None] = strawberry.subscription(
        resolver=_s_account_ledger, description="Ledger updates (per currency) of one account."
    )
    lifecycle: AsyncGenerator[LifecycleEvent, None] = strawberry.subscription(
        resolver=_s_lifecycle,
        description="Session state changes, every stream's state changes and gaps, bulletins, "
        "notifications and gateway errors (first: the current session state).",
    )


def build_schema(config: ServiceConfig) -> strawberry.Schema:
    """The schema with the document limits of ``config``."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            functools.partial(QueryDepthLimiter, max_depth=config.max_query_depth),
            functools.partial(MaxAliasesLimiter, max_alias_count=config.max_aliases),
            functools.partial(MaxTokensLimiter, max_token_count=config.max_tokens),
        ],
    )


class ServiceGraphQLView(GraphQLView[dict[str, Any], None]):
    """strawberry's aiohttp view with the hub in the context; tracks its WebSockets so that a
    shutdown can close them with a reason."""

    def __init__(self, hub: Hub, schema: strawberry.Schema, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.hub = hub
        self.sockets: set[web.WebSocketResponse] = set()

    async def get_context(
        self, request: web.Request, response: web.Response | web.WebSocketResponse
    ) -> dict[str, Any]:
        return {"hub": self.hub, "request": request, "response": response, "t0": time.time()}

    async def create_websocket_response(
        self, request: web.Request, subprotocol: str | None
    ) -> web.WebSocketResponse:
        ws = await super().create_websocket_response(request, subprotocol)
        self.sockets.add(ws)
        ws_ref = ws

        def forget(_: Any = None) -> None:
            self.sockets.discard(ws_ref)

        request.task.add_done_callback(forget)
        return ws

    async def close_all(self, reason: str) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=reason.encode()[:120])
        self.sockets.clear()


def build_view(hub: Hub, config: ServiceConfig) -> ServiceGraphQLView:
    """The ``/graphql`` handler (GraphiQL on GET from a browser)."""
    return ServiceGraphQLView(
        hub,
        build_schema(config),
        keep_alive=True,
        keep_alive_interval=15,
        max_subscriptions_per_connection=100,
    )
