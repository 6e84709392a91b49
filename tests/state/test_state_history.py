"""HistoryBars: smh bars merged by time, partial last bar replaced (protocol.md §4.2)."""

from __future__ import annotations

import pytest
from state_builders import bar, history

from ibstream.exceptions import InvalidArgument
from ibstream.state import HistoryBars, MarketHistories


def test_bars_merge_by_time_and_partial_bar_is_replaced() -> None:
    bars = HistoryBars(265598)
    assert repr(bars) == "<HistoryBars 265598 bars=0 server_id=None>"
    assert bars.last is None
    assert bars.apply(history(bars=(bar(2000, 2.0), bar(1000, 1.0), bar(None, 9.0))))
    assert [b.time_ms for b in bars.bars] == [1000, 2000]
    assert bars.server_id == "341115" and bars.symbol == "AAPL"
    # The same frame again: nothing changes.
    assert not bars.apply(history(bars=(bar(1000, 1.0),), server_id=None, symbol=None))
    # The still-forming last bar is replaced; a new bar is appended.
    assert bars.apply(history(bars=(bar(2000, 2.5, 300.0), bar(3000, 3.0))))
    assert [b.close for b in bars.bars] == [1.0, 2.5, 3.0]
    last = bars.last
    assert last is not None and last.close == 3.0
    assert len(bars) == 3 and bars.update_count == 3
    assert repr(bars) == "<HistoryBars 265598 AAPL bars=3 close=3 server_id=341115>"


def test_bounded_and_validated() -> None:
    bars = HistoryBars(1, max_bars=2)
    bars.apply(history(1, bars=(bar(1, 1.0), bar(2, 2.0), bar(3, 3.0))))
    assert [b.time_ms for b in bars.bars] == [2, 3]
    unbounded = HistoryBars(1, max_bars=None)
    unbounded.apply(history(1, bars=(bar(1, 1.0),)))
    assert len(unbounded) == 1
    with pytest.raises(InvalidArgument, match="max_bars"):
        HistoryBars(1, max_bars=0)
    with pytest.raises(InvalidArgument, match="conid 2"):
        bars.apply(history(2))


def test_registry() -> None:
    histories = MarketHistories(max_bars=10)
    assert histories.apply(None) is None
    first = histories.apply(history(bars=(bar(1, 1.0),)))
    assert first is histories[265598] and first.max_bars == 10
    touched = histories.apply_all([history(), "x", history(8314), history()])
    assert touched == [first, histories[8314]]
    assert list(histories) == [265598, 8314] and len(histories) == 2
    assert histories.remove(8314) is not None and histories.remove(8314) is None
    assert repr(histories) == "<MarketHistories 1 conids>"
