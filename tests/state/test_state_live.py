"""LiveState.snapshot: a late joiner's starting state, made from the live state itself."""

from __future__ import annotations

from state_builders import ledger, md, pnl, sor, summary, trade

from ibstream.protocol.events import AccountSummary, MarketData, OrderUpdate, Pnl, SummaryValue
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    OrdersSpec,
    PnlSpec,
    TradesSpec,
)
from ibstream.state.live import LiveState


def test_empty_state_snapshots_nothing() -> None:
    live = LiveState()
    for spec in (MarketDataSpec(1), OrdersSpec(), TradesSpec(), PnlSpec()):
        assert live.snapshot(spec.key) == []
    assert live.snapshot(AccountSummarySpec("DU1").key) == []


def test_market_data_snapshot_merges_every_known_field() -> None:
    """Two deltas become one MarketData with both fields, keyed like the stream."""
    live = LiveState()
    live.tickers.apply(md(265598, f31="271.5"))
    live.tickers.apply(md(265598, updated=2, f84="271.4"))
    key = MarketDataSpec(265598).key
    (event,) = live.snapshot(key)
    assert isinstance(event, MarketData) and event.key == key
    assert event.values == {31: 271.5, 84: 271.4} and event.raw["31"] == "271.5"
    assert live.snapshot(MarketDataSpec(1).key) == []


def test_orders_trades_and_account_snapshots() -> None:
    live = LiveState()
    live.orders.apply(sor({"acct": "DU1", "orderId": 5, "status": "Submitted", "conid": 9}))
    live.trades.apply(trade())
    live.account.apply(pnl("DU1234", daily_pnl=12.5))
    live.account.apply(
        summary("DU1234567", netliquidation=SummaryValue(value=10.0, currency="USD"))
    )
    live.account.apply(ledger(cashbalance=5.0))
    (order,) = live.snapshot(OrdersSpec().key)
    assert isinstance(order, OrderUpdate) and order.order_id == 5 and order.status == "Submitted"
    assert len(live.snapshot(TradesSpec().key)) == 1
    (row,) = live.snapshot(PnlSpec().key)
    assert isinstance(row, Pnl) and row.daily_pnl == 12.5
    (summ,) = live.snapshot(AccountSummarySpec("DU1234567").key)
    assert isinstance(summ, AccountSummary) and "netliquidation" in summ.values
    assert len(live.snapshot(AccountLedgerSpec("DU1234567").key)) == 1


def test_bounds_and_book_metrics() -> None:
    """The bounds reach the books; metrics() says what they keep and have forgotten."""
    live = LiveState(max_terminal_orders=1, max_trades=2)
    assert (live.orders.max_terminal, live.trades.max_size) == (1, 2)
    for oid, status in ((1, "Submitted"), (2, "Filled"), (3, "Cancelled"), (2, None)):
        entry = {"acct": "DU1", "orderId": oid, "avgPrice": 1.5}
        live.orders.apply(sor(entry if status is None else {**entry, "status": status}))
    for n in range(3):
        live.trades.apply(trade(f"0000e.{n}", trade_time_ms=1_000 + n))
    assert live.metrics() == {
        "orders": {"kept": 2, "open": 1, "max_terminal": 1, "evicted": 1, "late_updates": 1},
        "trades": {"kept": 2, "max": 2, "evicted": 1, "duplicates": 0},
    }
    unbounded = LiveState(max_terminal_orders=None, max_trades=None)
    assert unbounded.metrics()["orders"]["max_terminal"] is None
    assert unbounded.metrics()["trades"]["max"] is None
