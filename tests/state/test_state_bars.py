"""Bars from ticks against hand-computed OHLCV, with and without gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from state_builders import md

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.lifecycle import Gap
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.state.bars import OHLCV, BarBuilder, BarSize

C = 265598
#: (time ms, price, size): three 5-second buckets, the middle one empty
TICKS = [
    (1_000, 10.0, 1),
    (2_000, 12.0, 2),
    (4_999, 9.0, 3),
    (5_000, 11.0, 4),  # opens the 5 s bucket [5000, 10000)
    (9_000, 13.0, 5),
    (16_000, 8.0, 6),  # [15000, 20000); [10000, 15000) had no trade
]


def _feed(builder: BarBuilder) -> list[OHLCV]:
    out: list[OHLCV] = []
    for t, price, size in TICKS:
        out += builder.trade(t, price, size)
    return out


def test_time_bars_by_hand() -> None:
    b = BarBuilder(C, "5s")
    closed = _feed(b)
    assert [
        (x.start_ms, x.end_ms, x.open, x.high, x.low, x.close, x.volume, x.ticks) for x in closed
    ] == [
        (0, 5_000, 10.0, 12.0, 9.0, 9.0, 6.0, 3),
        (5_000, 10_000, 11.0, 13.0, 11.0, 13.0, 9.0, 2),
    ]
    assert all(x.complete and not x.gap for x in closed)
    forming = b.forming
    assert forming is not None and not forming.complete
    assert (forming.start_ms, forming.open, forming.volume) == (15_000, 8.0, 6.0)
    assert b.advance(19_999) == []  # the bucket has not ended
    (last,) = b.advance(20_000)  # the clock closes it without another trade
    assert last.complete and last.close == 8.0 and b.forming is None


def test_volume_and_tick_bars_by_hand() -> None:
    vol = _feed(BarBuilder(C, "6v"))
    # cumulative sizes 1,3,6 | 4,9 | 6: the overshooting trade stays whole in its bar
    assert [(x.open, x.high, x.low, x.close, x.volume, x.ticks) for x in vol] == [
        (10.0, 12.0, 9.0, 9.0, 6.0, 3),
        (11.0, 13.0, 11.0, 13.0, 9.0, 2),
        (8.0, 8.0, 8.0, 8.0, 6.0, 1),
    ]
    assert (vol[0].start_ms, vol[0].end_ms) == (1_000, 4_999)
    ticks = BarBuilder(C, "4t")
    closed = _feed(ticks)
    assert [(x.open, x.high, x.low, x.close, x.ticks) for x in closed] == [
        (10.0, 12.0, 9.0, 11.0, 4)
    ]
    (rest,) = ticks.close()
    assert (rest.open, rest.close, rest.ticks, rest.complete) == (13.0, 8.0, 2, False)


def test_gap_marks_the_bars_it_spans() -> None:
    b = BarBuilder(C, "5s")
    b.trade(1_000, 10.0, 1)
    key = StreamKey(Topic.MARKET_DATA, str(C))
    # interrupted at 3.0 s, live again at 11.0 s: the forming bar and the one starting at 10 s
    assert b.on_event(Gap(key=key, start=3.0, end=11.0)) == []
    closed = b.trade(6_000, 11.0, 1) + b.trade(10_500, 12.0, 1) + b.trade(15_000, 13.0, 1)
    assert [(x.start_ms, x.gap) for x in closed] == [(0, True), (5_000, True), (10_000, True)]
    forming = b.forming
    assert forming is not None and forming.start_ms == 15_000 and not forming.gap


def test_from_market_data_events() -> None:
    b = BarBuilder(C, "1min")
    events = [
        md(C, updated=1_000, f31="100.5", f7059="2"),
        md(C, updated=2_000, f84="100.4"),  # a quote, not a trade
        md(C, updated=3_000, f31="C100.1"),  # prior close: not a trade
        md(C, updated=4_000, f31="101", f87="1,000"),  # no last size: no volume known yet
        md(C, updated=5_000, f31="99.5", f87="1,300"),  # day volume grew by 300
        md(999, updated=6_000, f31="1"),  # another contract
    ]
    for ev in events:
        assert b.on_event(ev) == []
    bar = b.forming
    assert bar is not None
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.ticks) == (
        100.5,
        101.0,
        99.5,
        99.5,
        302.0,
        3,
    )


def test_absurd_values_never_enter_a_bar() -> None:
    b = BarBuilder(C, "10t")
    assert b.trade(1, float("nan"), 1) == [] and b.forming is None
    b.trade(2, 5.0, float("inf"))
    assert b.forming is not None and b.forming.volume == 0.0


@pytest.mark.parametrize(
    ("text", "kind", "size", "shown"),
    [
        ("5s", "time", 5, "5s"),
        ("1min", "time", 60, "1min"),
        ("2h", "time", 7200, "2h"),
        ("1000v", "volume", 1000, "1000v"),
        ("100t", "tick", 100, "100t"),
    ],
)
def test_bar_size_grammar(text: str, kind: str, size: float, shown: str) -> None:
    parsed = BarSize.parse(text)
    assert (parsed.kind, parsed.size, str(parsed)) == (kind, size, shown)


@pytest.mark.parametrize("bad", ["", "5", "5x", "0s", "-1t", "2d", "1e9h"])
def test_bad_bar_sizes(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="bar"):
        BarSize.parse(bad)


@given(
    st.lists(st.tuples(st.integers(0, 10**7), st.floats(0.01, 1e6), st.floats(0, 1e4)), max_size=60)
)
def test_bars_conserve_ticks_and_volume(ticks: list[tuple[int, float, float]]) -> None:
    """Whatever the sequence: every tick lands in exactly one bar, highs bound lows."""
    for size in ("1s", "50v", "3t"):
        b = BarBuilder(C, size)
        bars: list[OHLCV] = []
        for t, price, qty in sorted(ticks):
            bars += b.trade(t, price, qty)
        bars += b.close()
        assert sum(x.ticks for x in bars) == len(ticks)
        assert sum(x.volume for x in bars) == pytest.approx(sum(q for _, _, q in ticks))
        assert all(x.low <= min(x.open, x.close) and x.high >= max(x.open, x.close) for x in bars)
