"""TradeBook: str executions de-duplicated by execution id (protocol.md §4.5)."""

from __future__ import annotations

import pytest
from state_builders import trade

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import TradeUpdated
from ibstream.protocol.executions import ExecutionMemory
from ibstream.state import DEFAULT_MAX_TRADES, TradeBook, TradeChange


def test_second_copy_with_commission_updates_the_first() -> None:
    """Each execution arrives twice, the second time with its commission (S9)."""
    book = TradeBook()
    assert book.apply(trade()) is TradeChange.NEW
    assert book.apply(trade(commission=1.0)) is TradeChange.UPDATED
    assert len(book) == 1
    stored = book["0001390e.69f21453.01.01"]
    assert stored.commission == 1.0
    assert stored.raw["commission"] == "1.0"
    # The hundreds of later re-sends (with or without commission) are duplicates.
    assert book.apply(trade(commission=1.0)) is TradeChange.DUPLICATE
    assert book.apply(trade()) is TradeChange.DUPLICATE
    assert book["0001390e.69f21453.01.01"].commission == 1.0
    assert book.duplicates == 2
    assert repr(book) == (f"<TradeBook trades=1 max={DEFAULT_MAX_TRADES} duplicates=2 evicted=0>")


def test_commission_first_then_copy_without() -> None:
    """Arrival order does not matter: a copy lacking commission does not erase it."""
    book = TradeBook()
    book.apply(trade(commission=1.0))
    assert book.apply(trade()) is TradeChange.DUPLICATE
    assert book["0001390e.69f21453.01.01"].commission == 1.0


def test_ordered_by_trade_time_and_indexed() -> None:
    book = TradeBook()
    book.apply(trade("c", trade_time_ms=3000, order_id=2, conid=20))
    book.apply(trade("a", trade_time_ms=1000, order_id=1, conid=10))
    book.apply(trade("b", trade_time_ms=2000, order_id=1, conid=20))
    book.apply(trade("n", trade_time_ms=None, order_id=None, conid=None))
    assert [t.execution_id for t in book.trades()] == ["n", "a", "b", "c"]
    assert list(book) == ["n", "a", "b", "c"]
    assert [t.execution_id for t in book.for_order(1)] == ["a", "b"]
    assert [t.execution_id for t in book.for_conid(20)] == ["b", "c"]
    assert book.for_order(99) == [] and book.for_conid(99) == []
    latest = book.latest()
    assert latest is not None and latest.execution_id == "c"
    # An update that moves the trade time re-sorts it.
    assert book.apply(trade("a", trade_time_ms=4000, order_id=1, conid=10)) is (TradeChange.UPDATED)
    assert [t.execution_id for t in book.trades()] == ["n", "b", "c", "a"]
    book.clear()
    assert len(book) == 0 and book.latest() is None and book.for_order(1) == []


def test_bounded_memory_evicts_oldest() -> None:
    book = TradeBook(max_size=2)
    book.apply(trade("b", trade_time_ms=2000, order_id=7))
    book.apply(trade("c", trade_time_ms=3000, order_id=7))
    book.apply(trade("a", trade_time_ms=1000, order_id=8))  # oldest: evicted at once
    assert list(book) == ["b", "c"] and book.evicted == 1
    assert book.for_order(8) == []
    book.apply(trade("d", trade_time_ms=4000, order_id=7))
    assert list(book) == ["c", "d"] and book.evicted == 2
    assert [t.execution_id for t in book.for_order(7)] == ["c", "d"]
    assert "max=2" in repr(book)


def test_unbounded_and_validation() -> None:
    assert "unbounded" in repr(TradeBook(max_size=None))
    with pytest.raises(InvalidArgument, match="max_size"):
        TradeBook(max_size=0)


def test_empty_execution_id_is_ignored() -> None:
    book = TradeBook()
    assert book.apply(trade("")) is TradeChange.IGNORED
    assert len(book) == 0


def test_update_of_unindexed_trade() -> None:
    """A trade without order id or conid can still be updated."""
    book = TradeBook()
    book.apply(trade("x", order_id=None, conid=None))
    assert book.apply(trade("x", order_id=None, conid=None, commission=0.5)) is (
        TradeChange.UPDATED
    )
    assert book["x"].commission == 0.5


def test_apply_all_returns_stored_changes() -> None:
    book = TradeBook()
    changed = book.apply_all(
        [trade("a"), "noise", trade("a", commission=1.0), trade("a"), trade("b"), trade("")]
    )
    assert [t.execution_id for t in changed] == ["a", "b"]
    assert changed[0].commission == 1.0


def test_an_update_merged_upstream_is_kept_not_copied() -> None:
    """The core's execution memory already merged the re-send (``TradeUpdated.trade``): the
    book keeps that very object, so one execution costs one merged copy, not two."""
    memory = ExecutionMemory()
    book = TradeBook()
    first = memory.observe(trade())
    assert first is not None
    book.apply(first)  # type: ignore[arg-type]
    update = memory.observe(trade(commission=1.0))
    assert isinstance(update, TradeUpdated)
    assert book.apply(update.trade) is TradeChange.UPDATED
    assert book["0001390e.69f21453.01.01"] is update.trade
    # a partial update still merges into a new object
    assert book.apply(trade(exchange="ISLAND")) is TradeChange.UPDATED
    stored = book["0001390e.69f21453.01.01"]
    assert stored.exchange == "ISLAND" and stored.commission == 1.0
