"""Offline bars and the gaps passed in: only bars whose span meets a gap are marked."""

from __future__ import annotations

from pathlib import Path

import orjson

from ibstream.aio.recorder import FrameRecorder
from ibstream.bars import bars_from_recording

T0 = 1_764_400_000.0  # epoch s, a multiple of 5 s


def _trade(price: float) -> bytes:
    return orjson.dumps({"topic": "smd+265598", "conid": 265598, "31": str(price), "7059": "10"})


def test_a_gap_after_a_bar_ended_does_not_mark_it(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FrameRecorder(path) as rec:
        rec("in", _trade(1.0), T0 + 1, False)
        rec("in", _trade(2.0), T0 + 2, False)  # the bar [T0, T0+5 s) is whole
        rec("in", _trade(3.0), T0 + 120, False)  # after the gap [T0+100 s, T0+110 s)
        rec("in", _trade(4.0), T0 + 131, False)
    bars = bars_from_recording(path, 265598, "5s", gaps=[(T0 + 100, T0 + 110)])
    assert [(b.start_ms, b.close, b.gap, b.complete) for b in bars] == [
        (round(T0 * 1000), 2.0, False, True),
        (round((T0 + 120) * 1000), 3.0, False, True),
        (round((T0 + 130) * 1000), 4.0, False, False),
    ]
    # a gap inside the first bar's span marks it, and only it
    bars = bars_from_recording(path, 265598, "5s", gaps=[(T0 + 1.5, T0 + 1.8)])
    assert [b.gap for b in bars] == [True, False, False]
    # a gap after the last trade: the forming bar ended before it
    bars = bars_from_recording(path, 265598, "5s", gaps=[(T0 + 200, T0 + 210)])
    assert [b.gap for b in bars] == [False, False, False]


def test_the_duplicated_opening_snapshot_counts_once(tmp_path: Path) -> None:
    """The gateway sends a stream's first ``smd`` frame twice (protocol.md §1); the live client
    delivers it once, and so must the offline readers: the first trade is not doubled."""
    from ibstream.data import recording_market_data

    path = tmp_path / "r.jsonl"
    snapshot = _trade(1.0)
    with FrameRecorder(path) as rec:
        rec("out", 'smd+265598+{"fields":["31","7059"]}', T0, False)
        rec("in", snapshot, T0 + 0.5, False)
        rec("in", snapshot, T0 + 0.6, False)  # the duplicate
        rec("in", _trade(2.0), T0 + 1, False)
        rec("in", _trade(3.0), T0 + 2, False)
    bars = bars_from_recording(path, 265598, "2t")
    assert [(b.open, b.close, b.volume, b.ticks, b.complete) for b in bars] == [
        (1.0, 2.0, 20.0, 2, True),
        (3.0, 3.0, 10.0, 1, False),
    ]
    assert recording_market_data(path).column("last").to_pylist() == [1.0, 2.0, 3.0]
