"""Ticker: merging smd frames (protocol.md §4.1)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from state_builders import md, smd

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.fields import Availability
from ibstream.state import Ticker, Tickers, TickerSnapshot, field_id

# protocol.md §4.1, S9 smd-single.jsonl: the first frame twice, then deltas.
FIRST = {
    "6509": "DPB",
    "conidEx": "265598",
    "topic": "smd+265598",
    "conid": 265598,
    "_updated": 1777552110061,
    "6119": "q1",
    "83": 0.56,
    "server_id": "q1",
    "84": "271.55",
    "31": "271.67",
    "86": "271.66",
}
FIRST_AGAIN = {
    "server_id": "q1",
    "conidEx": "265598",
    "conid": 265598,
    "_updated": 1777552110061,
    "6119": "q1",
    "84": "271.55",
    "6509": "DPB",
    "31": "271.67",
    "86": "271.66",
    "83": 0.56,
    "topic": "smd+265598",
}
DELTA_LATE = {
    "server_id": "q1",
    "conidEx": "265598",
    "conid": 265598,
    "_updated": 1777552129156,
    "6119": "q1",
    "84": "271.70",
    "86": "271.80",
    "topic": "smd+265598",
}
DELTA_EARLY = {
    "server_id": "q1",
    "conidEx": "265598",
    "conid": 265598,
    "_updated": 1777552119103,
    "6119": "q1",
    "84": "271.68",
    "31": "271.68",
    "86": "271.70",
    "6508": "&serviceID1=122&serviceID2=123&serviceID3=203&serviceID4=775",
    "topic": "smd+265598",
}


def test_first_frame_is_complete_and_duplicate_is_harmless() -> None:
    """The duplicated first frame changes nothing and apply() says so."""
    ticker = Ticker(265598)
    assert ticker.apply(smd(FIRST)) is True
    assert ticker.apply(smd(FIRST_AGAIN)) is False
    assert (ticker.last, ticker.bid, ticker.ask) == (271.67, 271.55, 271.66)
    assert ticker.change_percent == 0.56
    assert ticker.server_id == "q1"
    assert ticker.updated_ms == 1777552110061
    assert ticker.update_count == 2
    assert ticker.raw[84] == "271.55"
    assert ticker.raw[83] == 0.56
    availability = ticker.availability
    assert isinstance(availability, Availability) and availability.delayed


def test_deltas_keep_absent_fields() -> None:
    """A delta carries only changed fields; the others keep their value."""
    ticker = Ticker(265598)
    ticker.apply(smd(FIRST))
    assert ticker.apply(smd(DELTA_LATE)) is True
    assert (ticker.last, ticker.bid, ticker.ask) == (271.67, 271.70, 271.80)
    assert ticker.change_percent == 0.56
    assert ticker.updated_ms == 1777552129156


def test_stale_updated_merges_fields_but_keeps_time() -> None:
    """A frame with an older _updated is merged, updated_ms does not move backwards."""
    ticker = Ticker(265598)
    ticker.apply(smd(FIRST))
    ticker.apply(smd(DELTA_LATE))
    assert ticker.apply(smd(DELTA_EARLY)) is True
    assert (ticker.last, ticker.bid, ticker.ask) == (271.68, 271.68, 271.70)
    assert ticker.updated_ms == 1777552129156
    assert ticker.stale_updates == 1
    assert ticker.get(6508) == ticker.raw[6508]


def test_explicit_none_values_set_none() -> None:
    """N/A, '-' and empty strings clear a field (the decoder parses them to None)."""
    ticker = Ticker(104747)
    ticker.apply(md(104747, f31="271.00", f55="AAPL"))
    assert ticker.apply(md(104747, f31="N/A", f55="-")) is True
    assert ticker.last is None and ticker.symbol is None
    assert 31 in ticker.values and ticker.values[31] is None
    assert ticker.raw[31] == "N/A"


def test_empty_frame_changes_nothing() -> None:
    """{"topic":"smd+X"} frames exist; they only count."""
    ticker = Ticker(265598)
    assert ticker.apply(smd({"topic": "smd+265598"})) is False
    assert ticker.updated_ms is None and ticker.server_id is None
    assert ticker.update_count == 1
    assert ticker.values == {}


def test_closed_and_halted_prefixes() -> None:
    """C/H prefixes of field 31 set the flags; frames without 31 keep them."""
    ticker = Ticker(265598)
    ticker.apply(md(f31="C271.20", f84="271.00"))
    assert ticker.closed and not ticker.halted and ticker.last == 271.20
    assert ticker.raw[31] == "C271.20"
    ticker.apply(md(updated=2, f84="271.10"))
    assert ticker.closed
    assert ticker.apply(md(updated=3, f31="H271.20")) is True
    assert ticker.halted and not ticker.closed and ticker.last == 271.20
    assert "halted" in repr(ticker)
    assert ticker.apply(md(updated=4, f31="271.30")) is True
    assert not ticker.closed and not ticker.halted
    # Flag change alone is a change.
    assert ticker.apply(md(updated=5, f31="C271.30")) is True
    assert "closed" in repr(ticker)


def test_typed_accessors() -> None:
    """Every typed property reads its field id."""
    ticker = Ticker(265598)
    ticker.apply(
        md(
            f31="271.67",
            f84="271.55",
            f86="271.66",
            f88="1,300",
            f85="6",
            f7059="100",
            f87="24.2M",
            f82="1.50",
            f83=0.56,
            f70="272.00",
            f71="268.10",
            f7295="269.00",
            f7296="270.17",
            f55="AAPL",
            f6509="RpB",
        )
    )
    assert ticker.bid_size == 1300.0
    assert ticker.ask_size == 6.0
    assert ticker.last_size == 100.0
    assert ticker.volume == 24_200_000.0
    assert ticker.change == 1.5
    assert (ticker.high, ticker.low, ticker.open) == (272.0, 268.1, 269.0)
    assert ticker.close == 270.17
    assert ticker.symbol == "AAPL"
    assert ticker.mid == pytest.approx(271.605)
    assert ticker.spread == pytest.approx(0.11)
    # 7741 (prior close) wins over 7296 when both are known.
    ticker.apply(md(updated=2, f7741="270.00"))
    assert ticker.close == 270.0


def test_missing_values_give_none() -> None:
    """Unknown fields, text in numeric slots and half quotes give None."""
    ticker = Ticker(1)
    assert ticker.mid is None and ticker.spread is None and ticker.close is None
    assert ticker.symbol is None and ticker.availability is None
    ticker.apply(md(1, f84="100", f6509="-"))
    assert ticker.mid is None and ticker.spread is None and ticker.availability is None
    ticker.apply(md(1, f86="oops"))  # unparseable price kept as text, not a number
    assert ticker.ask is None and ticker.get(86) == "oops"


def test_get_by_id_name_and_alias() -> None:
    """get() accepts ids, numeric strings, property aliases and catalogue names."""
    ticker = Ticker(265598)
    ticker.apply(smd(FIRST))
    assert ticker.get(31) == ticker.get("31") == ticker.get("last") == 271.67
    assert ticker.get("last_price") == 271.67
    assert ticker.get(7295, default=0.0) == 0.0
    assert field_id("bid") == 84 and field_id("prior_close") == 7741
    with pytest.raises(InvalidArgument, match="field"):
        ticker.get("no_such_field")
    with pytest.raises(InvalidArgument):
        field_id(True)


def test_wrong_conid_is_rejected() -> None:
    ticker = Ticker(1)
    with pytest.raises(InvalidArgument, match="conid 2"):
        ticker.apply(md(2, f31="1"))


def test_snapshot_is_immutable_copy() -> None:
    """snapshot() is frozen and does not follow later updates."""
    ticker = Ticker(265598)
    ticker.apply(md(f31="271.67", f84="271.55", f86="271.66", f55="AAPL"))
    snap = ticker.snapshot()
    assert isinstance(snap, TickerSnapshot)
    ticker.apply(md(updated=2, f31="272.00"))
    assert snap.last == 271.67 and ticker.last == 272.0
    assert snap.symbol == "AAPL" and snap.mid == pytest.approx(271.605)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.conid = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.values[31] = 1.0  # type: ignore[index]
    assert repr(snap) == "<TickerSnapshot 265598 AAPL last=271.67 bid=271.55 ask=271.66 updated=1>"
    assert repr(ticker) == "<Ticker 265598 AAPL last=272 bid=271.55 ask=271.66 updated=2>"


def test_tickers_registry() -> None:
    """Tickers creates on first data, ignores other events, coalesces batches."""
    tickers = Tickers()
    assert tickers.apply(object()) is None
    first = tickers.apply(smd(FIRST))
    assert first is tickers[265598] and len(tickers) == 1 and list(tickers) == [265598]
    changed = tickers.apply_all(
        [smd(FIRST_AGAIN), md(8314, f31="1"), "noise", smd(DELTA_LATE), md(8314, f31="2")]
    )
    assert changed == [tickers[8314], tickers[265598]]
    assert tickers.get_or_create(1).conid == 1 and 1 in tickers
    assert set(tickers.snapshot()) == {1, 8314, 265598}
    assert tickers.remove(1) is not None and tickers.remove(1) is None
    assert repr(tickers) == "<Tickers 2 conids>"
    tickers.clear()
    assert len(tickers) == 0


# -- property: after any sequence of deltas, each field holds the last value seen ----------

_PRICE_IDS = (31, 84, 86, 70, 71, 7295)
_PRICES = st.one_of(
    st.decimals(min_value=0, max_value=10_000, places=2).map(str),
    st.sampled_from(["N/A", "-", ""]),
)


@st.composite
def _frames(draw: st.DrawFn) -> list[dict[str, Any]]:
    frames = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        ids = draw(st.sets(st.sampled_from((*_PRICE_IDS, 83, 55, 87))))
        frame: dict[str, Any] = {
            "topic": "smd+265598",
            "conid": 265598,
            "_updated": draw(st.integers(1, 10**13)),
        }
        for fid in ids:
            if fid == 83:
                frame["83"] = draw(st.floats(-100, 100, allow_nan=False))
            elif fid == 55:
                frame["55"] = draw(st.sampled_from(["AAPL", "MSFT", "-"]))
            elif fid == 87:
                frame["87"] = draw(st.sampled_from(["1.2M", "3K", "1,000", "N/A"]))
            else:
                frame[str(fid)] = draw(_PRICES)
        frames.append(frame)
    return frames


@given(_frames())
def test_ticker_equals_last_value_seen_per_field(frames: list[dict[str, Any]]) -> None:
    ticker = Ticker(265598)
    expected: dict[int, Any] = {}
    expected_raw: dict[int, Any] = {}
    for frame in frames:
        event = smd(frame)
        ticker.apply(event)
        expected.update(event.values)
        expected_raw.update({int(k): v for k, v in frame.items() if k.isdigit()})
    assert dict(ticker.values) == expected
    assert dict(ticker.raw) == expected_raw
    assert ticker.update_count == len(frames)
    stamps = [f["_updated"] for f in frames]
    assert ticker.updated_ms == (max(stamps) if stamps else None)
    snap = ticker.snapshot()
    assert dict(snap.values) == expected and snap.last == ticker.last


@given(_frames())
def test_merge_equals_apply(frames: list[dict[str, Any]]) -> None:
    """merge() (the client's hot path) leaves the same state as apply()."""
    a, b = Ticker(265598), Ticker(265598)
    for frame in frames:
        event = smd(frame)
        a.apply(event)
        b.merge(event)
    assert dict(a.values) == dict(b.values) and dict(a.raw) == dict(b.raw)
    assert (a.closed, a.halted, a.updated_ms, a.update_count, a.server_id) == (
        b.closed,
        b.halted,
        b.updated_ms,
        b.update_count,
        b.server_id,
    )
