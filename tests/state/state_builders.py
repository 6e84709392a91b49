"""Event builders for the state tests: frames of protocol.md turned into events by hand.

They mirror what :mod:`ibstream.protocol.decoding` produces, so the state layer can be tested on
its own; ``test_state_samples.py`` runs the real decoder on the same samples.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    Bar,
    LadderRow,
    MarketData,
    MarketHistory,
    OrderUpdate,
    Pnl,
    PriceLadder,
    SummaryValue,
    Trade,
)
from ibstream.protocol.fields import parse_value
from ibstream.protocol.specs import StreamKey, Topic

_ORDER_NUMBERS = (
    "price",
    "avgPrice",
    "auxPrice",
    "totalSize",
    "filledQuantity",
    "remainingQuantity",
)


def smd(frame: dict[str, Any]) -> MarketData:
    """A ``smd`` frame dict -> MarketData, parsed like the decoder does."""
    values = {int(k): parse_value(int(k), v) for k, v in frame.items() if k.isdigit()}
    conid = int(frame.get("conid") or frame["topic"].split("+")[1])
    return MarketData(
        key=StreamKey(Topic.MARKET_DATA, str(conid)),
        conid=conid,
        server_id=frame.get("server_id"),
        updated_ms=frame.get("_updated"),
        values=values,
        raw=frame,
    )


def md(
    conid: int = 265598, updated: int | None = 1, server_id: str | None = "q1", **fields: Any
) -> MarketData:
    """MarketData from keyword fields: ``md(f31="271.67", f84="271.55")``."""
    frame: dict[str, Any] = {"topic": f"smd+{conid}", "conid": conid}
    if updated is not None:
        frame["_updated"] = updated
    if server_id is not None:
        frame["server_id"] = server_id
    frame.update({name[1:]: value for name, value in fields.items()})
    return smd(frame)


def sor(entry: dict[str, Any]) -> OrderUpdate:
    """One ``sor`` entry -> OrderUpdate (colour noise removed, numeric strings parsed)."""
    changes: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("bgColor", "fgColor"):
            continue
        if key in _ORDER_NUMBERS and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        changes[key] = value
    return OrderUpdate(
        key=StreamKey(Topic.ORDERS, ""),
        account=entry.get("acct") or entry.get("account"),
        order_id=int(entry["orderId"]),
        conid=entry.get("conid"),
        status=entry.get("status"),
        changes=changes,
        raw=entry,
    )


def trade(
    execution_id: str = "0001390e.69f21453.01.01",
    *,
    commission: float | None = None,
    trade_time_ms: int | None = 1777472974000,
    order_id: int | None = 96335105,
    conid: int | None = 732440574,
    **extra: Any,
) -> Trade:
    raw: dict[str, Any] = {"execution_id": execution_id, "trade_time_r": trade_time_ms}
    if commission is not None:
        raw["commission"] = str(commission)
    fields: dict[str, Any] = dict(
        key=StreamKey(Topic.TRADES, ""),
        execution_id=execution_id,
        account="U25235077",
        conid=conid,
        symbol="LRCX",
        side="B",
        size=2.0,
        price=248.6,
        commission=commission,
        net_amount=497.2,
        trade_time_ms=trade_time_ms,
        order_id=order_id,
        exchange="NASDAQ",
        raw=raw,
    )
    fields.update(extra)
    return Trade(**fields)


def ladder(
    account: str = "DU12345",
    conid: int | None = 265598,
    rows: tuple[tuple[float | None, float | None, float | None, bool], ...] = (),
    exchange: str | None = None,
) -> PriceLadder:
    """rows: (price, bid_size, ask_size, focus)."""
    return PriceLadder(
        key=StreamKey(Topic.PRICE_LADDER, account),
        account=account,
        conid=conid,
        exchange=exchange,
        rows=tuple(
            LadderRow(row=i, focus=focus, price=price, bid_size=bid, ask_size=ask)
            for i, (price, bid, ask, focus) in enumerate(rows)
        ),
        raw={},
    )


def pnl(account: str = "DU1234", row: str | None = None, **values: Any) -> Pnl:
    fields: dict[str, Any] = dict(
        row_type=None,
        daily_pnl=None,
        unrealized_pnl=None,
        net_liquidity=None,
        excess_liquidity=None,
        market_value=None,
    )
    fields.update(values)
    return Pnl(
        key=StreamKey(Topic.PNL, ""),
        account=account,
        row=row or f"{account}.Core",
        raw={},
        **fields,
    )


def summary(
    account: str = "DU1234567", timestamp: int | None = 1700248325, **values: SummaryValue
) -> AccountSummary:
    return AccountSummary(
        key=StreamKey(Topic.ACCOUNT_SUMMARY, account),
        account=account,
        timestamp=timestamp,
        values=values,
        raw={},
    )


def ledger(
    currency: str = "BASE",
    account: str = "DU1234567",
    timestamp: int | None = 1700248325,
    **values: Any,
) -> AccountLedger:
    return AccountLedger(
        key=StreamKey(Topic.ACCOUNT_LEDGER, account),
        account=account,
        currency=currency,
        timestamp=timestamp,
        values=values,
        raw={},
    )


def bar(time_ms: int | None, close: float, volume: float = 100.0) -> Bar:
    return Bar(time_ms=time_ms, open=close, high=close, low=close, close=close, volume=volume)


def history(
    conid: int = 265598,
    bars: tuple[Bar, ...] = (),
    server_id: str | None = "341115",
    symbol: str | None = "AAPL",
) -> MarketHistory:
    return MarketHistory(
        key=StreamKey(Topic.MARKET_HISTORY, str(conid)),
        conid=conid,
        server_id=server_id,
        symbol=symbol,
        text=None,
        bars=bars,
        price_factor=100.0,
        start_time=None,
        bar_length_s=300,
        points=len(bars),
        raw={},
    )
