"""Sinks fed by the blocking client against the simulator over real sockets."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ibstream.aio.recorder import read_recording
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import LifecycleEvent, SessionStateChanged
from ibstream.protocol.specs import MarketDataSpec, StreamKey, Topic
from ibstream.sim.testing import SimThread, wait_until
from ibstream.sinks import (
    CallbackSink,
    CompositeSink,
    LogSink,
    QueueSink,
    RecorderSink,
    key_by_stream,
)
from ibstream.sync import Client
from toolkit import assert_nothing_left, fast_client_config

pytestmark = pytest.mark.e2e

AAPL = 265598
MSFT = 272093


class Plain:
    """A user object with emit() and no base class."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed = False

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


def test_every_sink_gets_events_from_start_to_stop(
    sim: SimThread, caplog: pytest.LogCaptureFixture
) -> None:
    """A composite of callback, queue, log and plain sinks sees lifecycle and data; stop()
    closes them (queue readers end)."""
    callbacks = CallbackSink()
    lifecycle: list[Any] = []
    callbacks.on(LifecycleEvent, lifecycle.append)
    queue = QueueSink(key=key_by_stream)
    plain = Plain()
    sink = CompositeSink(callbacks, queue, LogSink(level=logging.DEBUG), plain)
    client = Client(sim.url, config=fast_client_config(), sink=sink)
    with caplog.at_level(logging.DEBUG, logger="ibstream.events"):
        client.start()
        assert client.subscribe(MarketDataSpec(AAPL)).wait(5)
        reader = queue.reader(StreamKey(Topic.MARKET_DATA, str(AAPL)))
        while not isinstance(reader.get(5), MarketData):
            pass
        client.stop()
    assert isinstance(lifecycle[0], SessionStateChanged)
    assert any(isinstance(e, MarketData) for e in plain.events)
    assert plain.closed
    assert list(reader) is not None  # drained, then ends: the sink was closed
    assert '"type":"MarketData"' in caplog.text and "DU1234567" not in caplog.text
    assert_nothing_left(sim)


def test_failing_callback_is_isolated(sim: SimThread) -> None:
    """A callback that raises on every event: counted, logged, and delivery goes on."""
    good: list[Any] = []

    def boom(event: Any) -> None:
        raise RuntimeError("boom")

    with Client(sim.url, config=fast_client_config()) as client:
        client.on(MarketData, boom)
        remove = client.on(MarketData, good.append)
        handle = client.subscribe(MarketDataSpec(AAPL))
        assert handle.wait(5)
        wait_until(lambda: len(good) >= 3)
        metrics = client.metrics()
        assert metrics["sinks"]["callback_errors"] >= 3
        assert metrics["sinks"]["error"] is None
        remove()
        assert isinstance(handle.get(5), object)
    assert_nothing_left(sim)


def test_slow_sink_never_stalls_the_reader(sim: SimThread) -> None:
    """A sink blocked for a second: handles and the live ticker keep moving; the events wait in
    the bounded hand-off and reach the sink once it resumes."""
    gate = threading.Event()
    armed = threading.Event()

    class Stuck:
        def emit(self, event: Any) -> None:
            if armed.is_set():
                gate.wait(5)

    with Client(sim.url, config=fast_client_config(buffer_size=500), sink=Stuck()) as client:
        handle = client.subscribe(MarketDataSpec(AAPL), maxsize=10_000)
        other = client.subscribe(MarketDataSpec(MSFT))
        assert client.wait_all([handle, other], 5) == []
        armed.set()
        ticker = client.ticker(AAPL)
        before = ticker.update_count
        t0 = time.monotonic()
        got = 0
        while time.monotonic() - t0 < 1.0:
            if isinstance(handle.get(1), MarketData):
                got += 1
        assert got >= 5 and ticker.update_count >= before + 5
        sinks = client.metrics()["sinks"]
        assert sinks["buffered"] >= 5
        gate.set()
        wait_until(lambda: client.metrics()["sinks"]["buffered"] == 0)
        assert not client.metrics()["sinks"]["overflowed"]
    assert_nothing_left(sim)


def test_record_raw_frames_in_replay_format(sim: SimThread, tmp_path: Path) -> None:
    """record() writes both directions as JSON lines that read_recording (the simulator's
    replay reader) accepts."""
    path = tmp_path / "session.jsonl"
    with Client(sim.url, config=fast_client_config()) as client:
        recorder = client.record(path)
        assert client.subscribe(MarketDataSpec(AAPL)).wait(5)
        wait_until(lambda: recorder.frames >= 5)
    assert recorder.closed
    frames = list(read_recording(path))
    assert any(f.direction == "out" and f.text.startswith(f"smd+{AAPL}") for f in frames)
    assert any(f.direction == "in" and '"smd+' in f.text for f in frames)
    assert_nothing_left(sim)


def test_recorder_sink_given_as_the_client_sink_records_frames(
    sim: SimThread, tmp_path: Path
) -> None:
    """``Client(url, sink=RecorderSink(path))`` (the README lists it among the sinks) records the
    session like ``record(path)``: it used to get only decoded events, which it ignores, and
    left an empty file without a word."""
    path = tmp_path / "session.jsonl"
    recorder = RecorderSink(path)
    with Client(sim.url, config=fast_client_config(), sink=recorder) as client:
        assert client.subscribe(MarketDataSpec(AAPL)).wait(5)
        wait_until(lambda: recorder.frames >= 5)
    assert recorder.closed
    frames = list(read_recording(path))
    assert any(f.direction == "in" and '"smd+' in f.text for f in frames)
    assert_nothing_left(sim)


def test_recorder_sink_inside_a_composite_is_refused(sim: SimThread, tmp_path: Path) -> None:
    """A RecorderSink in a CompositeSink would only see events, never frames: refused at once."""
    recorder = RecorderSink(tmp_path / "session.jsonl")
    with pytest.raises(InvalidArgument, match="record"):
        Client(sim.url, config=fast_client_config(), sink=CompositeSink(LogSink(), recorder))
    recorder.close()


def test_stop_from_a_callback(sim: SimThread) -> None:
    """A callback on the dispatcher thread may stop the client; nothing is left behind."""
    done = threading.Event()
    client = Client(sim.url, config=fast_client_config())

    def stop_on_data(event: Any) -> None:
        client.stop()
        done.set()

    client.on(MarketData, stop_on_data)
    client.start()
    client.subscribe(MarketDataSpec(AAPL))
    assert done.wait(5)
    assert not client.running
    assert_nothing_left(sim)
