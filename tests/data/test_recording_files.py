"""Recording files on disk: re-recording over an earlier set, Parquet under any file name."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ibstream.aio.recorder import ParquetFrameRecorder, read_recording

pytest.importorskip("pyarrow")

T0 = 1_764_400_000.0  # epoch s


def _record(path: Path, n: int, roll_seconds: float | None = None) -> ParquetFrameRecorder:
    rec = ParquetFrameRecorder(path, roll_seconds=roll_seconds)
    for i in range(n):
        rec("in", orjson.dumps({"topic": "system", "hb": i}), T0 + i, False)
    rec.close()
    return rec


def _hbs(path: Path) -> list[int]:
    return [orjson.loads(f.data)["hb"] for f in read_recording(path)]


def test_rolling_again_replaces_the_earlier_set(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    first = _record(path, 50, roll_seconds=10)
    assert len(first.paths) == 5
    second = _record(path, 15, roll_seconds=10)
    assert len(second.paths) == 2
    # the files day-00002..00004 of the first run are not part of the second recording
    assert _hbs(path) == list(range(15))
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in second.paths]


def test_rolling_over_a_single_file_recording(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    _record(path, 3)
    assert path.exists()
    _record(path, 15, roll_seconds=10)
    assert _hbs(path) == list(range(15))  # not the 3 frames of the earlier single file


def test_parquet_under_another_name_reads_back(tmp_path: Path) -> None:
    # ``ibstream record day.rec --format parquet`` writes Parquet to day.rec
    single = tmp_path / "day.rec"
    _record(single, 4)
    assert _hbs(single) == [0, 1, 2, 3]
    # ... and with --roll-time, day-00000.parquet, day-00001.parquet next to day.rec
    rolled = tmp_path / "roll.rec"
    _record(rolled, 25, roll_seconds=10)
    assert _hbs(rolled) == list(range(25))


def test_a_cut_off_or_mislabelled_gzip_recording_is_invalid_argument(tmp_path: Path) -> None:
    """``read_recording`` (and the data functions on it) promise ``InvalidArgument`` naming the
    file: a ``.gz`` cut off by a crash yields its frames, then says so."""
    from ibstream.aio.recorder import FrameRecorder
    from ibstream.data import recording_market_data
    from ibstream.exceptions import InvalidArgument

    whole = tmp_path / "whole.jsonl.gz"
    with FrameRecorder(whole) as rec:
        for i in range(200):
            rec("in", orjson.dumps({"topic": "system", "hb": i}), T0 + i, False)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole.read_bytes()[:-12])  # no end-of-stream marker
    got: list[int] = []
    with pytest.raises(InvalidArgument, match=r"cut\.jsonl\.gz: unreadable"):
        for frame in read_recording(cut):
            got.append(orjson.loads(frame.data)["hb"])
    assert got == list(range(len(got))) and got
    with pytest.raises(InvalidArgument, match=r"cut\.jsonl\.gz"):
        recording_market_data(cut)
    plain = tmp_path / "plain.jsonl.gz"  # not gzip at all
    plain.write_bytes(b'{"t": 1, "frame": "{}"}\n')
    with pytest.raises(InvalidArgument, match=r"plain\.jsonl\.gz: unreadable"):
        list(read_recording(plain))


def test_a_set_past_99999_files_reads_every_file_in_order(tmp_path: Path) -> None:
    """Rolling every second for 28 hours passes file 99999: the writer names the next one
    day-100000.parquet, and the reader must neither skip it nor sort it before day-99999."""
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    rec = _record(src / "x.parquet", 3, roll_seconds=1)  # three files of one frame each
    names = ["day-99998.parquet", "day-99999.parquet", "day-100000.parquet"]
    for made, name in zip(rec.paths, names, strict=True):
        shutil.copy(made, tmp_path / name)
    assert _hbs(tmp_path / "day.parquet") == [0, 1, 2]
    assert _hbs(tmp_path) == [0, 1, 2]  # a directory: numbers in names sort as numbers
    again = _record(tmp_path / "day.parquet", 2, roll_seconds=1)  # replaces all three
    assert sorted(p.name for p in tmp_path.glob("day-*")) == [p.name for p in again.paths]
