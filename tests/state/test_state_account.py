"""AccountState: P&L (spl), summary (ssd) and ledger (sld), protocol.md §4.6-4.7."""

from __future__ import annotations

from state_builders import ledger, pnl, summary

from ibstream.protocol.events import SummaryValue
from ibstream.state import AccountState, LedgerBalance, PnlRow


def test_pnl_rows_merge() -> None:
    """{"DU1234.Core":{"rowType":1,"dpl":-57520.0,"upl":972100.0}} then partial rows."""
    state = AccountState()
    assert state.pnl_of("DU1234") is None
    assert state.apply(pnl(row_type=1, daily_pnl=-57520.0, unrealized_pnl=972100.0)) is True
    assert state.apply(pnl(net_liquidity=1e6, daily_pnl=-57000.0)) is True
    row = state.pnl_of("DU1234")
    assert isinstance(row, PnlRow) and state.pnl["DU1234.Core"] is row
    assert (row.daily_pnl, row.unrealized_pnl, row.net_liquidity) == (-57000.0, 972100.0, 1e6)
    assert row.row_type == 1 and row.update_count == 2 and row.row == "DU1234.Core"
    assert state.apply(pnl(daily_pnl=-57000.0)) is False
    assert repr(state) == (
        "<AccountState accounts=['DU1234'] pnl_rows=1 summary_keys=0 ledger_currencies=0>"
    )


def test_pnl_row_other_than_core() -> None:
    state = AccountState()
    state.apply(pnl(row="DU1234.Other", market_value=5.0))
    pnl_row = state.pnl_of("DU1234")
    assert pnl_row is not None and pnl_row.market_value == 5.0
    state.apply(pnl(row="DU1234.Third", excess_liquidity=1.0))
    assert state.pnl_of("DU1234") is None  # two rows, none of them Core: ambiguous
    assert set(state.pnl) == {"DU1234.Other", "DU1234.Third"}


def test_summary_flat_typed_values() -> None:
    state = AccountState()
    assert state.apply(
        summary(
            AccountCode=SummaryValue(value="DU1234567", timestamp=1700248325),
            NetLiquidation=SummaryValue(value=50000.0, currency="USD", severity=0),
        )
    )
    assert state.summary_value("DU1234567", "NetLiquidation") == 50000.0
    assert state.summary("DU1234567")["NetLiquidation"].currency == "USD"
    assert state.summary_value("DU1234567", "Missing") is None
    assert state.summary_value("DU0", "NetLiquidation") is None
    assert state.summary("DU0") == {}
    assert state.summary_timestamp("DU1234567") == 1700248325
    # A partial frame merges by key; an older timestamp does not move time back.
    assert state.apply(summary(timestamp=1700248000, ExcessLiquidity=SummaryValue(value=1.0)))
    assert state.summary_timestamp("DU1234567") == 1700248325
    assert set(state.summary("DU1234567")) == {"AccountCode", "NetLiquidation", "ExcessLiquidity"}
    assert not state.apply(summary(timestamp=None, ExcessLiquidity=SummaryValue(value=1.0)))
    assert state.apply(
        summary(NetLiquidation=SummaryValue(value=50000.0, currency="EUR"))
    )  # currency change is a change


def test_ledger_per_currency_merges() -> None:
    """The documented sld frame; later entries carry only what changed."""
    state = AccountState()
    assert state.apply(
        ledger(
            acctCode="DU1234567",
            cashbalance=2.0201311791131118e8,
            exchangeRate=1.0,
            netLiquidationValue=2.0280151634374067e8,
            unrealizedPnl=249013.5397937378,
            secondKey="BASE",
            settledCash=2.0201311791131118e8,
            stockMarketValue=391710.74028015137,
        )
    )
    base = state.ledger("DU1234567")["BASE"]
    assert isinstance(base, LedgerBalance) and base.account == "DU1234567"
    assert base.cash_balance == 2.0201311791131118e8  # "cashbalance", any case
    assert base.exchange_rate == 1.0 and base.settled_cash == 2.0201311791131118e8
    assert base.net_liquidation == 2.0280151634374067e8
    assert base.unrealized_pnl == 249013.5397937378
    assert base.stock_market_value == 391710.74028015137
    assert base.realized_pnl is None and base.number("secondKey") is None
    assert base.get("secondKey") == "BASE"
    assert state.apply(ledger(timestamp=1700248335, cashbalance=1.0)) is True
    base = state.ledger("DU1234567")["BASE"]
    assert base.cash_balance == 1.0 and base.exchange_rate == 1.0
    assert base.timestamp == 1700248335
    assert state.apply(ledger(timestamp=1700248345)) is False  # blank entry: unchanged
    assert state.ledger("DU1234567")["BASE"].timestamp == 1700248345
    assert state.apply(ledger("USD", cashBalance=5.0)) is True
    assert sorted(state.ledger("DU1234567")) == ["BASE", "USD"]
    assert state.ledger("DU0") == {}
    assert "ledger_currencies=2" in repr(state)


def test_batches_filters_and_other_events() -> None:
    state = AccountState()
    assert state.apply(object()) is False and state.ignored == 1
    changed = state.apply_all(
        [pnl(daily_pnl=1.0), "x", ledger(account="DU9"), summary(account="DU9"), pnl(daily_pnl=1.0)]
    )
    assert changed == ["DU1234", "DU9"]
    assert state.accounts == ("DU1234", "DU9")
    assert state.update_count == 4
    only = AccountState("DU9")
    assert only.apply_all([pnl(daily_pnl=1.0), ledger(account="DU9")]) == ["DU9"]
    assert only.accounts == ("DU9",) and only.ignored == 1
    assert repr(only).startswith("<AccountState DU9 accounts=['DU9']")
