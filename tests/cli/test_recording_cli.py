"""Recording files through the CLI: Parquet under any name, ``sim --replay`` errors, SIGHUP."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from ibstream.cli.main import main
from ibstream.sim.testing import wait_until

from .conftest import Gateway, cli_argv, cli_env

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


@pytest.mark.e2e
def test_record_closes_the_file_on_sighup(gateway: Gateway, tmp_path: Path) -> None:
    """A closed terminal or dropped ssh session (SIGHUP) ends the recording like Ctrl-C: the
    Parquet file gets its footer (without it the whole file is unreadable), exit 0."""
    from ibstream.aio.recorder import read_recording

    path = tmp_path / "day.parquet"
    argv = [str(path), "md:AAPL", "orders", "--url", gateway.url, "--roll-size", "0.0002"]
    proc = subprocess.Popen(
        cli_argv("record", *argv),
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # a second rolled file: frames are flowing and the recorder is open
        wait_until(lambda: (tmp_path / "day-00001.parquet").exists(), timeout=30.0)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=30.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    frames = list(read_recording(path))  # every file, the last one too, has its footer
    topics = [orjson.loads(f.data).get("topic") for f in frames if f.direction == "in"]
    assert topics[:3] == ["system", "act", "sts"], topics[:5]
