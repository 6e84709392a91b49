"""PriceLadderState: sbd frames replace the ladder rows (protocol.md §4.3)."""

from __future__ import annotations

from state_builders import ladder

from ibstream.state import PriceLadders, PriceLadderState

ROWS = (
    (101.0, None, 5.0, False),
    (100.5, None, 3.0, False),
    (100.25, 2.0, 1.0, True),
    (100.0, 12.0, None, False),
    (99.5, 4.0, 0.0, False),
    (None, 1.0, 1.0, False),  # no price: cannot be placed
)


def test_frame_replaces_rows() -> None:
    state = PriceLadderState("DU12345", 265598)
    assert state.apply(ladder(rows=ROWS, exchange="ARCA")) is True
    assert state.exchange == "ARCA"
    assert [row.price for row in state.rows] == [101.0, 100.5, 100.25, 100.0, 99.5]
    assert len(state) == 5 and 100.0 in state.by_price
    assert state.last_price == 100.25
    bid, ask = state.best_bid, state.best_ask
    assert bid is not None and bid.price == 100.25
    assert ask is not None and ask.price == 100.25
    assert repr(state) == (
        "<PriceLadderState DU12345 265598@ARCA rows=5 bid=100.25 ask=100.25 last=100.25>"
    )
    # The same frame again changes nothing; a new frame replaces every row.
    assert state.apply(ladder(rows=ROWS)) is False
    assert state.apply(ladder(rows=((50.0, 1.0, None, False), (50.0, 2.0, None, False)))) is True
    assert [row.bid_size for row in state.rows] == [2.0]  # later row for one price wins
    assert state.focus is None and state.last_price is None and state.best_ask is None
    assert state.exchange == "ARCA"


def test_empty_ladder() -> None:
    state = PriceLadderState("DU1", None)
    state.apply(ladder("DU1", None))
    assert state.rows == () and state.best_bid is None and state.best_ask is None
    assert repr(state) == "<PriceLadderState DU1 None rows=0 bid=None ask=None last=None>"


def test_registry() -> None:
    ladders = PriceLadders()
    assert ladders.apply("not a ladder") is None
    first = ladders.apply(ladder(rows=ROWS))
    assert first is ladders[("DU12345", 265598)]
    touched = ladders.apply_all([ladder(rows=ROWS), 1, ladder("DU2", 8314), ladder(rows=())])
    assert touched == [first, ladders[("DU2", 8314)]]
    assert list(ladders) == [("DU12345", 265598), ("DU2", 8314)] and len(ladders) == 2
    assert first.update_count == 3
    assert ladders.remove("DU2", 8314) is not None and ladders.remove("DU2", 8314) is None
    assert repr(ladders) == "<PriceLadders 1 ladders>"
