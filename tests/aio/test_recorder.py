"""Frame recording: the client's raw-frame tap writes what the simulator replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibstream.aio.client import connect
from ibstream.aio.recorder import FrameRecorder, read_recording
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim import Simulator
from ibstream.sim.testing import fast_config, wait_for


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_roundtrip_text_binary_and_invalid_utf8(tmp_path: Path, suffix: str) -> None:
    """Text, binary and non-UTF-8 frames survive a write/read round trip."""
    path = tmp_path / f"rec{suffix}"
    with FrameRecorder(path) as rec:
        rec("in", b'{"topic":"system","hb":1}', 10.0, False)
        rec("out", "tic", 10.5, False)
        rec("in", b'{"topic":"blt","args":{"message":"\x99"}}', 11.0, False)
        rec("in", b'{"topic":"system","hb":2}', 12.0, True)
    frames = list(read_recording(path))
    assert [f.direction for f in frames] == ["in", "out", "in", "in"]
    assert frames[2].data == b'{"topic":"blt","args":{"message":"\x99"}}'
    assert frames[3].binary and frames[1].text == "tic"
    assert rec.frames == 4 and rec.duration == 2.0


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    """A missing or malformed recording raises InvalidArgument naming the problem."""
    with pytest.raises(InvalidArgument, match="cannot read"):
        list(read_recording(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "frame": "x"}\nnot json\n')
    with pytest.raises(InvalidArgument, match="line 2"):
        list(read_recording(bad))


@pytest.mark.usefixtures("ws_backend")  # once per client WebSocket library
async def test_record_live_then_replay_in_simulator(tmp_path: Path) -> None:
    """Frames recorded from the client replay through the simulator and decode the same."""
    path = tmp_path / "live.jsonl"
    config = fast_config(update_interval=0.02)
    with FrameRecorder(path) as rec:
        async with Simulator(config) as sim:
            client = connect(sim.base_url)
            client.on_frame(rec)  # before start: the recording includes the opening burst
            await client.start()
            handle = client.subscribe(MarketDataSpec(265598))
            await handle.ready(5)
            await wait_for(lambda: client.metrics()["events"].get("MarketData", 0) >= 10)
            await client.stop()
    recorded = [f for f in read_recording(path) if f.direction == "in"]
    assert any(f.text.startswith('{"') and "smd+265598" in f.text for f in recorded)
    assert any(f.text.startswith("smd+265598") for f in read_recording(path))

    replay_config = fast_config(replay=str(path), replay_speed=None)
    got: list[MarketData] = []
    async with Simulator(replay_config) as sim:
        client = connect(sim.base_url)
        client.on(MarketData, got.append)  # before start: the replay begins at authentication
        async with client:
            await wait_for(lambda: len(got) >= 5, timeout=10)
    expected = [e for f in recorded for e in decode(f.data) if isinstance(e, MarketData)]
    assert len(expected) >= 5
    assert [e.values for e in got[:5]] == [e.values for e in expected[:5]]


async def test_simulator_replays_gzip_recordings(tmp_path: Path) -> None:
    """A .gz recording replays like a plain one."""
    path = tmp_path / "rec.jsonl.gz"
    with FrameRecorder(path) as rec:
        # a recording starts with the opening burst: the replayed socket authenticates from it
        rec("in", b'{"topic":"system","success":"u1"}', 0.9, False)
        rec("in", b'{"topic":"sts","args":{"authenticated":true,"connected":true}}', 0.9, False)
        rec("in", b'{"topic":"smd+265598","conid":265598,"31":"101.5"}', 1.0, False)
        rec("in", b'{"topic":"smd+265598","conid":265598,"31":"101.6"}', 1.1, False)
    got: list[MarketData] = []
    config = fast_config(replay=str(path), replay_speed=None)
    async with Simulator(config) as sim:
        client = connect(sim.base_url)
        client.on(MarketData, got.append)
        async with client:
            await wait_for(lambda: len(got) >= 2, timeout=10)
    assert [e.values[31] for e in got] == [101.5, 101.6]
