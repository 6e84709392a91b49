"""``ibstream replay`` of recordings on disk: a Parquet set under any name."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ibstream.cli.main import main

pytest.importorskip("pyarrow")

T0 = 1_764_400_000.0  # epoch s


def test_replay_a_rolled_parquet_set_not_named_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``record day.rec --format parquet --roll-time S`` writes day-00000.parquet, ...; the
    name ``day.rec`` is what ``replay`` takes for the set."""
    from ibstream.aio.recorder import ParquetFrameRecorder

    path = tmp_path / "day.rec"
    with ParquetFrameRecorder(path, roll_seconds=5) as rec:
        for i in range(12):
            rec("in", orjson.dumps({"topic": "system", "hb": i}), T0 + i, False)
    assert not path.exists() and len(rec.paths) == 3
    assert main(["replay", str(path), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [orjson.loads(line)["hb_ms"] for line in lines] == list(range(12))


def _sim_replay_error(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["sim", "--plain", "--port", "0", "--no-admin", "--replay", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_sim_replay_of_a_missing_or_unservable_file_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.jsonl"
    code, err = _sim_replay_error(missing, capsys)
    assert code == 2 and "typo.jsonl" in err and "No such file" in err, err
    # a recording cut off by a crash: gzip without its end marker
    import gzip

    cut = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(b'{"t": 1.0, "dir": "in", "frame": "{}"}\n' * 50)
    cut.write_bytes(whole[:-12])
    code, err = _sim_replay_error(cut, capsys)
    assert code == 2 and "cut.jsonl.gz" in err and "unreadable" in err, err
    # Parquet is for replay/plot/data; the simulator serves JSON lines
    from ibstream.aio.recorder import ParquetFrameRecorder

    with ParquetFrameRecorder(tmp_path / "day.parquet") as rec:
        rec("in", b"{}", T0, False)
    code, err = _sim_replay_error(tmp_path / "day.parquet", capsys)
    assert code == 2 and "Parquet" in err and "JSON lines" in err, err
