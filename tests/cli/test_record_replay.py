"""``ibstream record`` / ``replay`` / ``plot`` and ``sim --replay`` of a recording."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

import ibstream
from ibstream.aio.recorder import read_recording
from ibstream.cli.main import main

from .conftest import (
    Gateway,
    assert_one_line_error,
    cli_env,
    run_cli,
    start_gateway,
    stop_gateway,
)

pytestmark = pytest.mark.e2e

ACCOUNT = "DU1234567"


@pytest.fixture(scope="module")
def recording(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "session.jsonl"
    result = run_cli(
        "record",
        str(path),
        "md:AAPL",
        "md:272093:31,84,86",
        "orders",
        "pnl",
        "trades",
        f"summary:{ACCOUNT}",
        "--url",
        gateway.url,
        "--duration",
        "1.5",
    )
    assert result.code == 0, result.err
    assert "recorded " in result.err and " frames " in result.err
    return path


def test_record_file_has_opening_burst_and_timestamps(recording: Path) -> None:
    frames = list(read_recording(recording))
    incoming = [orjson.loads(f.data) for f in frames if f.direction == "in"]
    topics = [f.get("topic") for f in incoming]
    assert topics[:3] == ["system", "act", "sts"]  # attached before start()
    assert any(t == "smd+265598" for t in topics) and any(t == "smd+272093" for t in topics)
    assert {"spl", "str", "ssd+" + ACCOUNT} <= set(topics)
    outgoing = [f.text for f in frames if f.direction == "out"]
    assert any(o.startswith("smd+265598+") for o in outgoing)
    times = [f.t for f in frames]
    assert times == sorted(times) and times[-1] - times[0] > 1.0


def test_record_gzip_with_embedded_simulator(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    result = run_cli(
        "record", str(path), "md:MSFT", "mh:265598:1d:5min", "--sim", "--duration", "1"
    )
    assert result.code == 0, result.err
    with gzip.open(path, "rb") as fh:
        assert fh.readline().startswith(b'{"t":')
    replay = run_cli("replay", str(path), "--topic", "mh", "--json")
    assert replay.code == 0, replay.err
    events = [orjson.loads(line) for line in replay.out.splitlines()]
    assert events and all(e["type"] == "MarketHistory" for e in events)
    assert events[0]["conid"] == 265598 and events[0]["bars"]


def test_record_bad_spec_is_usage_error(gateway: Gateway, tmp_path: Path) -> None:
    """Specs are checked before anything connects (the grammar itself: test_specs.py)."""
    result = run_cli(
        "record", str(tmp_path / "x.jsonl"), "orders", "quotes:AAPL", "--url", "http://127.0.0.1:9"
    )
    assert result.code == 2
    assert_one_line_error(result, "unknown stream 'quotes'")
    assert not (tmp_path / "x.jsonl").exists()


def test_record_help_documents_the_grammar() -> None:
    result = run_cli("record", "--help")
    assert result.code == 0
    for example in (
        "md:INSTR[:FIELDS]",
        "mh:INSTR[:PERIOD[:BAR]]",
        "ladder:ACCOUNT:INSTR",
        "orders | trades | pnl",
        "summary:ACCOUNT",
        "ledger:ACCOUNT",
    ):
        assert example in result.out


def test_record_unknown_symbol_and_gateway_down(gateway: Gateway, tmp_path: Path) -> None:
    out = str(tmp_path / "x.jsonl")
    result = run_cli("record", out, "md:NOSUCH", "--url", gateway.url, "--duration", "1")
    assert result.code == 2
    assert_one_line_error(result, "unknown symbol 'NOSUCH'")
    result = run_cli("record", out, "orders", "--url", "http://127.0.0.1:9", "--duration", "1")
    assert result.code == 1
    assert_one_line_error(result, "unreachable")


def test_record_unwritable_file(gateway: Gateway, tmp_path: Path) -> None:
    out = str(tmp_path / "missing-dir" / "x.jsonl")
    result = run_cli("record", out, "orders", "--url", gateway.url, "--duration", "1")
    assert result.code == 2
    assert_one_line_error(result, "cannot write")


def _replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``ibstream replay`` in process (offline: no sockets, no event loop)."""
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_replay_table_and_filters(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _replay(capsys, str(recording))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["time", "event", "stream"]
    assert any(" SystemLogin " in line for line in lines)
    assert any(" MarketData " in line and " md:265598 " in line for line in lines)
    assert any(" Pnl " in line for line in lines)

    _, out, _ = _replay(capsys, str(recording), "--conid", "272093")
    rows = out.splitlines()[1:]
    assert rows and all(" md:272093 " in row for row in rows)

    _, out, _ = _replay(capsys, str(recording), "--topic", "pnl", "--topic", "Heartbeat")
    kinds = {row.split()[1] for row in out.splitlines()[1:]}
    assert "Pnl" in kinds and kinds <= {"Pnl", "Heartbeat"}

    # valid filters that match nothing: exit 1, saying what the recording does hold
    code, out, err = _replay(capsys, str(recording), "--conid", "1")
    assert code == 1 and out == ""
    assert "no matching events" in err and "md (" in err

    # an unknown topic is a usage error, not an empty result
    code, out, err = _replay(capsys, str(recording), "--topic", "quotes")
    assert code == 2 and out == ""
    assert "unknown topic or event type 'quotes'" in err


def test_replay_missing_and_empty_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _replay(capsys, str(tmp_path / "absent.jsonl"))
    assert code == 2 and out == ""  # no table header before the error
    assert "absent.jsonl: no such file" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, out, err = _replay(capsys, str(empty))
    assert code == 2 and out == ""
    assert "empty recording" in err


def test_replay_json_subprocess(recording: Path) -> None:
    result = run_cli("replay", str(recording), "--json", "--topic", "md")
    assert result.code == 0, result.err
    events = [orjson.loads(line) for line in result.out.splitlines()]
    assert events and {e["type"] for e in events} == {"MarketData"}
    assert all(isinstance(e["t"], float) and e["key"].startswith("md:") for e in events)
    assert "raw" not in events[0]
    assert "last" in events[0]["values"] or "bid" in events[0]["values"]  # names by default
    by_id = run_cli("replay", str(recording), "--json", "--topic", "md", "--ids")
    first = orjson.loads(by_id.out.splitlines()[0])
    assert set(first["values"]) == {
        str(ibstream.field_by_name(n).id)
        for n in events[0]["values"]  # type: ignore[union-attr]
    }


def test_replay_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = run_cli("replay", str(tmp_path / "nope.jsonl"))
    assert missing.code == 2
    assert_one_line_error(missing, "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "dir": "in", "frame": "{}"}\nnot json at all\n')
    code, _, err = _replay(capsys, str(bad))
    assert code == 2
    assert err.count("\n") == 1 and "line 2" in err
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00garbage")
    code, _, err = _replay(capsys, str(corrupt))
    assert code == 2
    assert err.count("\n") == 1 and "corrupt.jsonl.gz" in err


def test_sim_replay_serves_a_recording(recording: Path, tmp_path: Path) -> None:
    """``ibstream sim --replay`` plays our recording to a client that subscribes the same."""
    gw = start_gateway("--plain", "--replay", str(recording))
    try:
        again = tmp_path / "again.jsonl"
        result = run_cli(
            "record",
            str(again),
            "md:265598",
            "md:272093:31,84,86",
            "orders",
            "pnl",
            "trades",
            f"summary:{ACCOUNT}",
            "--url",
            gw.url,
            "--duration",
            "2.5",
        )
        assert result.code == 0, result.err
    finally:
        stop_gateway(gw)
    original = [f.data for f in read_recording(recording) if f.direction == "in"]
    replayed = [f.data for f in read_recording(again) if f.direction == "in"]
    smd = [d for d in original if b'"smd+265598"' in d]
    assert smd and all(d in replayed for d in smd)


def test_plot_png(recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "aapl.png"
    assert main(["plot", str(recording), "--conid", "265598", "-o", str(out)]) == 0
    assert "wrote " in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
    assert main(["plot", str(recording)]) == 0  # first conid, file beside the recording
    assert (recording.parent / "session-265598.png").exists()
    assert main(["plot", str(recording), "--conid", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no market data for conid 1" in err and "265598" in err


def test_plot_without_matplotlib(recording: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib')\n")
    env = cli_env()
    env["PYTHONPATH"] = str(fake) + ":" + env["PYTHONPATH"]
    result = run_cli("plot", str(recording), env=env)
    assert result.code != 0
    assert_one_line_error(result, "pip install 'ibstream[plot]'")


def test_record_progress_line_on_a_terminal(tmp_path: Path) -> None:
    from .conftest import run_in_pty

    path = tmp_path / "tty.jsonl"
    result = run_in_pty("record", str(path), "md:AAPL", "--sim", "--duration", "1.6")
    assert result.code == 0, result.text
    assert "recording " in result.text and " frames/s, " in result.text
    assert "\r" in result.text  # the progress line is rewritten in place
    assert "recorded " in result.text
    assert path.stat().st_size > 0


def test_record_parquet_rolling_then_replay(gateway: Gateway, tmp_path: Path) -> None:
    """``record --format parquet`` with rolling files; ``replay`` reads the set like JSON lines."""
    path = tmp_path / "day.parquet"
    result = run_cli(
        "record",
        str(path),
        "md:AAPL",
        "orders",
        "--url",
        gateway.url,
        "--duration",
        "1.5",
        "--roll-size",
        "0.001",
    )
    assert result.code == 0, result.err
    files = sorted(tmp_path.glob("day-*.parquet"))
    assert len(files) >= 2, files
    frames = list(read_recording(path))
    topics = [orjson.loads(f.data).get("topic") for f in frames if f.direction == "in"]
    assert topics[:3] == ["system", "act", "sts"] and "smd+265598" in topics
    replayed = run_cli("replay", str(path), "--json", "--topic", "md")
    assert replayed.code == 0, replayed.err
    events = [orjson.loads(line) for line in replayed.out.splitlines()]
    assert events and all(e["type"] == "MarketData" for e in events)


def test_record_rolling_needs_parquet(gateway: Gateway, tmp_path: Path) -> None:
    result = run_cli(
        "record", str(tmp_path / "x.jsonl"), "orders", "--url", gateway.url, "--roll-time", "5"
    )
    assert result.code == 2
    assert_one_line_error(result, "--format parquet")


def test_plot_candlesticks_from_a_recording(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bars.png"
    assert main(["plot", str(recording), "--conid", "265598", "--bars", "2t", "-o", str(out)]) == 0
    assert "bars, 0 spanning a gap" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(recording), "--bars", "5 parsecs"]) == 2
    assert "--bars: " in capsys.readouterr().err


def test_plot_bars_marks_gaps() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.patches import Rectangle

    from ibstream.plot import plot_bars
    from ibstream.state.bars import BarBuilder

    b = BarBuilder(265598, "1min")
    t0 = 1_764_399_960_000  # a whole minute
    bars = b.trade(t0, 10.0, 1) + b.trade(t0 + 30_000, 11.0, 1) + b.trade(t0 + 60_000, 12.0, 1)
    b.gap(t0 + 65_000, t0 + 70_000)  # inside the second bar
    for t, price in ((130_000, 9.0), (200_000, 9.5)):
        bars += b.trade(t0 + t, price, 1)
    bars += b.close()
    assert [x.gap for x in bars] == [False, True, False, False]
    fig = plot_bars(bars, title="t")
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
    assert len(hatched) == 1  # the one gap bar, hatched
    hollow = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_facecolor()[3] == 0]
    assert len(hollow) == 1  # the forming bar
    with pytest.raises(ValueError, match="no bars"):
        plot_bars([])


def test_replay_counts_openings_and_fills_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline replay applies the live protocol's rules (issue 20.1): the doubled opening
    snapshot is shown once, a fill is one Trade and its commission a TradeUpdated."""
    md = {"topic": "smd+265598", "conid": 265598, "server_id": "q1", "31": "271.5", "84": "271.4"}
    fill = {"execution_id": "E1", "symbol": "AAPL", "side": "B", "size": 1, "price": "271.5"}
    frames = [
        ("out", 'smd+265598+{"fields":["31","84"]}'),
        ("in", orjson.dumps(md).decode()),
        ("in", orjson.dumps(dict(reversed(list(md.items())))).decode()),
        ("in", orjson.dumps({"topic": "str", "args": [fill]}).decode()),
        ("in", orjson.dumps({"topic": "str", "args": [{**fill, "commission": "1.0"}]}).decode()),
    ]
    path = tmp_path / "doubled.jsonl"
    path.write_text(
        "".join(
            orjson.dumps({"t": 1.0 + n, "dir": d, "frame": f}).decode() + "\n"
            for n, (d, f) in enumerate(frames)
        )
    )
    code, out, _ = _replay(capsys, str(path), "--json")
    assert code == 0
    kinds = [orjson.loads(line)["type"] for line in out.splitlines() if line.startswith("{")]
    assert kinds == ["MarketData", "Trade", "TradeUpdated"]
