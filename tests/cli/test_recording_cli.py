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
