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
