"""GraphQL queries of the REST features: contracts, snapshots, history, portfolio, positions.

:class:`RestQuery` is a strawberry type whose fields the service's ``Query`` inherits (the one
hook in :mod:`ibstream.service.graphql`). Instruments use the shared grammar
(:mod:`ibstream.protocol.symbols`): ``AAPL``, ``ES``, ``ESZ6``, ``EUR.USD``, ``SPX``,
``AAPL 20261218 200 C``, ``265598``. Errors (unknown symbol, bad conid, rate limited, not
authenticated) come back as GraphQL errors carrying the endpoint and IBKR's message.
``positions`` starts live tracking on first use: later reads come from ``client.positions``,
kept current by fills and reconnects.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.portfolio import Position
from ibstream.state.ticker import TickerSnapshot

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["RestQuery"]


MAX_SNAPSHOT_INSTRUMENTS = 100
"""The most instruments one ``snapshot`` query may name."""


_FIRST_READS: weakref.WeakKeyDictionary[Any, asyncio.Future[Any]] = weakref.WeakKeyDictionary()
"""The ``positions`` query's first read of a client's positions (it starts tracking)."""


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def _client(info: strawberry.Info) -> StreamClient:
    client: StreamClient = info.context["hub"].client
    return client


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@strawberry.type(description="A contract an instrument text resolved to, with its details.")
class ContractInfo:
    query: str
    conid: int
    conidex: str = strawberry.field(description="What streams take (combo string for spreads).")
    sec_type: str
    symbol: str
    description: str
    exchange: str | None
    currency: str | None
    expiry: str | None
    strike: float | None
    right: str | None
    multiplier: float | None
    company_name: str | None
    valid_exchanges: list[str]
    legs: JSON


@strawberry.type(description="One live future of a futures chain.")
class FutureMonth:
    conid: int
    symbol: str
    expiration_date: str | None
    last_trading_day: str | None
    underlying_conid: int | None


@strawberry.type(description="Option strikes of one month.")
class OptionStrikes:
    month: str
    call: list[float]
    put: list[float]


@strawberry.type(description="A REST market-data snapshot (same fields as the stream).")
class QuoteSnapshot:
    conid: int
    symbol: str | None
    last: float | None
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    volume: float | None
    change: float | None
    change_percent: float | None
    updated_ms: float | None
    has_data: bool
    fields: JSON


@strawberry.type(description="One historical bar (epoch ms).")
class HistoryBar:
    time_ms: float | None
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


@strawberry.type(description="Historical bars over REST.")
class BarHistory:
    conid: int
    symbol: str | None
    period: str
    bar: str
    bars: list[HistoryBar]


@strawberry.type(description="A portfolio account (/portfolio/accounts).")
class PortfolioAccountInfo:
    account_id: str
    display_name: str | None
    currency: str | None
    type: str | None
    is_advisor: bool


@strawberry.type(description="One position (quantity signed: negative is short).")
class PositionRow:
    account: str
    conid: int
    symbol: str | None
    description: str | None
    sec_type: str | None
    quantity: float
    market_price: float | None
    market_value: float | None
    avg_cost: float | None
    avg_price: float | None
    unrealized_pnl: float | None
    realized_pnl: float | None
    currency: str | None
    expiry: str | None
    strike: float | None
    right: str | None


@strawberry.type(description="One value of the portfolio summary.")
class PortfolioSummaryItem:
    key: str
    amount: float | None
    currency: str | None
    value: str | None


@strawberry.type(description="Cash balances of one currency (/portfolio/{acct}/ledger).")
class CurrencyBalanceRow:
    currency: str
    cash_balance: float | None
    settled_cash: float | None
    net_liquidation: float | None
    unrealized_pnl: float | None
    realized_pnl: float | None


def _position(p: Position) -> PositionRow:
    return PositionRow(
        account=p.account,
        conid=p.conid,
        symbol=p.symbol,
        description=p.description,
        sec_type=p.sec_type,
        quantity=p.quantity,
        market_price=p.market_price,
        market_value=p.market_value,
        avg_cost=p.avg_cost,
        avg_price=p.avg_price,
        unrealized_pnl=p.unrealized_pnl,
        realized_pnl=p.realized_pnl,
        currency=p.currency,
        expiry=p.expiry,
        strike=p.strike,
        right=p.right,
    )


def _quote(s: TickerSnapshot) -> QuoteSnapshot:
    return QuoteSnapshot(
        conid=s.conid,
        symbol=s.symbol,
        last=s.last,
        bid=s.bid,
        ask=s.ask,
        bid_size=s.bid_size,
        ask_size=s.ask_size,
        volume=s.volume,
        change=s.change,
        change_percent=s.change_percent,
        updated_ms=float(s.updated_ms) if s.updated_ms is not None else None,
        has_data=bool(s.values),
        fields=JSON({str(k): _json_safe(v) for k, v in s.values.items()}),
    )


async def _q_contract(info: strawberry.Info, instrument: str) -> ContractInfo:
    client = _client(info)
    r = await client.contracts.resolve(instrument)
    d = await client.contracts.details(r.conid) if r.sec_type != "BAG" else None
    return ContractInfo(
        query=instrument,
        conid=r.conid,
        conidex=r.conidex,
        sec_type=r.sec_type,
        symbol=r.symbol,
        description=r.description,
        exchange=r.exchange or (d.exchange if d else None),
        currency=d.currency if d else "USD",
        expiry=r.expiry,
        strike=r.strike,
        right=r.right,
        multiplier=d.multiplier if d else None,
        company_name=d.company_name if d else None,
        valid_exchanges=list(d.valid_exchanges) if d else [],
        legs=JSON([{"conid": leg.conid, "ratio": leg.ratio} for leg in r.legs]),
    )


async def _q_futures(info: strawberry.Info, symbol: str) -> list[FutureMonth]:
    chain = await _client(info).contracts.futures(symbol)
    return [
        FutureMonth(
            conid=f.conid,
            symbol=f.symbol,
            expiration_date=f.expiration_date,
            last_trading_day=f.last_trading_day,
            underlying_conid=f.underlying_conid,
        )
        for f in chain
    ]


async def _q_option_months(info: strawberry.Info, symbol: str) -> list[str]:
    return list(await _client(info).contracts.option_months(symbol))


async def _q_option_strikes(info: strawberry.Info, symbol: str, month: str) -> OptionStrikes:
    s = await _client(info).contracts.strikes(symbol, month)
    return OptionStrikes(month=month.upper(), call=list(s.call), put=list(s.put))


async def _q_snapshot(
    info: strawberry.Info, instruments: list[str], fields: list[str] | None = None
) -> list[QuoteSnapshot]:
    if len(instruments) > MAX_SNAPSHOT_INSTRUMENTS:  # refused, never cut short silently
        raise InvalidArgument(
            "instruments",
            f"at most {MAX_SNAPSHOT_INSTRUMENTS} instruments, got {len(instruments)}",
        )
    client = _client(info)
    conids = [(await client.contracts.resolve(text)).conid for text in instruments]
    if fields:
        snaps = await client.marketdata.snapshot(conids, fields)
    else:
        snaps = await client.marketdata.snapshot(conids)
    return [_quote(snaps[c]) for c in conids]


async def _q_history(
    info: strawberry.Info,
    instrument: str,
    period: str = "1d",
    bar: str = "5min",
    outside_rth: bool = False,
) -> BarHistory:
    client = _client(info)
    r = await client.contracts.resolve(instrument)
    h = await client.marketdata.history(r.conid, period=period, bar=bar, outside_rth=outside_rth)
    return BarHistory(
        conid=h.conid,
        symbol=h.symbol,
        period=period,
        bar=bar,
        bars=[
            HistoryBar(
                time_ms=float(b.time_ms) if b.time_ms is not None else None,
                open=b.open,
                high=b.high,
                low=b.low,
                close=b.close,
                volume=b.volume,
            )
            for b in h.bars
        ],
    )


async def _q_portfolio_accounts(info: strawberry.Info) -> list[PortfolioAccountInfo]:
    return [
        PortfolioAccountInfo(
            account_id=a.account_id,
            display_name=a.display_name,
            currency=a.currency,
            type=a.type,
            is_advisor=a.is_advisor,
        )
        for a in await _client(info).portfolio.accounts()
    ]


async def _q_positions(
    info: strawberry.Info, account: str | None = None, refresh: bool = False
) -> list[PositionRow]:
    live = _client(info).positions
    first = _FIRST_READS.get(live)
    if (first is None and not live.tracking) or (first is not None and _failed(first)):
        first = _FIRST_READS[live] = asyncio.ensure_future(live.start())
    if first is not None and not first.done():
        await asyncio.shield(first)  # queries meanwhile wait for it, not answer from no book
    elif refresh:
        await live.refresh()
    return [_position(p) for p in live.all() if account is None or p.account == account]


async def _q_portfolio_summary(
    info: strawberry.Info, account: str | None = None
) -> list[PortfolioSummaryItem]:
    items = await _client(info).portfolio.summary(account)
    return [
        PortfolioSummaryItem(key=i.key, amount=i.amount, currency=i.currency, value=i.value)
        for i in items.values()
    ]


async def _q_portfolio_ledger(
    info: strawberry.Info, account: str | None = None
) -> list[CurrencyBalanceRow]:
    ledger = await _client(info).portfolio.ledger(account)
    return [
        CurrencyBalanceRow(
            currency=c.currency,
            cash_balance=c.cash_balance,
            settled_cash=c.settled_cash,
            net_liquidation=c.net_liquidation,
            unrealized_pnl=c.unrealized_pnl,
            realized_pnl=c.realized_pnl,
        )
        for c in ledger.values()
    ]


@strawberry.type
class RestQuery:
    """Query fields backed by the gateway's REST API (inherited by the service's Query)."""

    contract: ContractInfo = strawberry.field(
        resolver=_q_contract,
        description="Resolve an instrument (AAPL, ES, ESZ6, EUR.USD, 'AAPL 20261218 200 C', "
        "a conid or a combo string) to its contract.",
    )
    futures: list[FutureMonth] = strawberry.field(
        resolver=_q_futures, description="The live futures of a symbol, nearest first."
    )
    option_months: list[str] = strawberry.field(
        resolver=_q_option_months, description="Months with options on an underlying."
    )
    option_strikes: OptionStrikes = strawberry.field(
        resolver=_q_option_strikes, description="Strikes of one option month (e.g. DEC26)."
    )
    snapshot: list[QuoteSnapshot] = strawberry.field(
        resolver=_q_snapshot,
        description="Current quotes over REST (pre-flight handled); at most 100 instruments "
        "(more: an error).",
    )
    history: BarHistory = strawberry.field(
        resolver=_q_history, description="Historical bars over REST."
    )
    portfolio_accounts: list[PortfolioAccountInfo] = strawberry.field(
        resolver=_q_portfolio_accounts, description="Accounts readable by the session."
    )
    positions: list[PositionRow] = strawberry.field(
        resolver=_q_positions,
        description="Positions, kept current by fills and reconnects once first asked for.",
    )
    portfolio_summary: list[PortfolioSummaryItem] = strawberry.field(
        resolver=_q_portfolio_summary, description="The account summary over REST."
    )
    portfolio_ledger: list[CurrencyBalanceRow] = strawberry.field(
        resolver=_q_portfolio_ledger, description="Cash balances per currency over REST."
    )
