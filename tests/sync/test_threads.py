"""Cleanup (forgotten stop, Ctrl-C), use from inside a running event loop, thread safety."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ibstream.exceptions import InvalidState
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import SessionState, SessionStateChanged
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim.testing import SimThread, wait_until
from ibstream.sinks import CallbackSink
from ibstream.sync import Client
from ibstream.sync.loop import LoopThread
from toolkit import assert_nothing_left, fast_client_config, ibstream_threads, waiting

pytestmark = pytest.mark.e2e

CONIDS = [265598, 272093, 76792991, 4815747, 756733, 3691937]
HERE = Path(__file__).resolve().parent


def test_forgotten_client_is_stopped_by_the_finaliser(sim: SimThread) -> None:
    """Dropping the last reference to a running client closes its socket and threads."""
    sink = CallbackSink()
    client = Client(sim.url, config=fast_client_config(), sink=sink)
    client.start()
    handle = client.subscribe(MarketDataSpec(CONIDS[0]))
    assert handle.wait(5)
    assert sorted(ibstream_threads()) == ["ibstream-loop", "ibstream-sinks"]
    del client, handle
    gc.collect()
    assert_nothing_left(sim)


def test_stop_from_a_loop_thread_callback_then_from_another_thread(sim: SimThread) -> None:
    """stop() from a callback on the loop thread (``positions.on_change``) cannot wait for its
    own loop; a later stop() from another thread must: it returns once the threads are gone,
    and the sinks got the session's last states before being closed (the hand-off used to be
    closed before the session was, and the second stop() returned at once)."""
    events: list[Any] = []
    closed = threading.Event()

    class Sink:
        def emit(self, event: Any) -> None:
            events.append(event)

        def close(self) -> None:
            closed.set()

    client = Client(sim.url, config=fast_client_config(), sink=Sink())
    client.start()
    client.positions.start()
    stopped = threading.Event()
    errors: list[BaseException] = []

    def on_change(change: object) -> None:
        if not stopped.is_set():
            try:
                client.stop()
            except BaseException as exc:
                errors.append(exc)
            stopped.set()

    client.positions.on_change(on_change)
    sim.run(sim.sim.place_order(CONIDS[0], "BUY", 3, "MKT"))
    assert stopped.wait(10)
    assert errors == []
    client.stop()
    assert ibstream_threads() == []
    assert closed.is_set()
    states = [e.current for e in events if isinstance(e, SessionStateChanged)]
    assert states[-1] is SessionState.CLOSED
    assert_nothing_left(sim)


def test_blocking_call_racing_the_loop_shutdown_raises_instead_of_hanging() -> None:
    """A blocking call that passed its "running" check just as the loop stopped (a sink
    callback calling the client during stop()) gets InvalidState: its work used to be scheduled
    on a loop that then closed with it pending, and the caller waited forever."""
    lt = LoopThread(name="ibstream-test-loop")
    lt.start()
    stopping, proceed = threading.Event(), threading.Event()

    def stop_and_hold() -> None:  # the loop is stopping but has not returned yet
        lt.loop.stop()
        stopping.set()
        proceed.wait(10)

    lt.call_soon(stop_and_hold)
    assert stopping.wait(10)
    outcome: list[BaseException] = []

    def caller() -> None:
        try:
            lt.run(asyncio.sleep(3600))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    wait_until(lambda: waiting(thread))
    proceed.set()
    lt.thread.join(10)
    thread.join(10)
    assert not thread.is_alive(), "the blocking call never returned"
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidState)


def test_usable_from_inside_a_running_event_loop(sim: SimThread) -> None:
    """Called from a coroutine (as in Jupyter or uvicorn): the caller's loop is left alone."""

    async def main() -> tuple[int, bool]:
        outer = asyncio.get_running_loop()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            ticks += 1

        pending = asyncio.ensure_future(tick())
        with Client(sim.url, config=fast_client_config()) as client:
            handle = client.subscribe(MarketDataSpec(CONIDS[0]))
            assert handle.wait(5)
            assert isinstance(handle.get(5), object)
            assert asyncio.get_running_loop() is outer
            assert ticks == 0  # the outer loop did not run meanwhile: no nesting
        await pending
        return ticks, pending.done()

    assert asyncio.run(main()) == (1, True)
    assert_nothing_left(sim)


async def test_usable_from_an_async_test(sim: SimThread) -> None:
    """The same from a pytest-asyncio test (a loop is running in this thread)."""
    client = Client(sim.url, config=fast_client_config())
    client.start()
    try:
        assert client.subscribe(MarketDataSpec(CONIDS[1])).wait(5)
        assert client.ticker_snapshot(CONIDS[1]).conid == CONIDS[1]
    finally:
        client.stop()
    assert_nothing_left(sim)


def test_concurrent_subscribe_unsubscribe(client: Client, sim: SimThread) -> None:
    """Eight threads subscribing and leaving streams at once leave a consistent client."""
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for n in range(15):
                handle = client.subscribe(MarketDataSpec(CONIDS[(i + n) % len(CONIDS)]))
                if n % 5 == 0:
                    assert handle.wait(5)
                    handle.get(5)
                handle.unsubscribe()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    wait_until(lambda: client.metrics()["subscriptions"] == {})
    assert client.metrics()["consumers"] == 0
    wait_until(lambda: not any(sim.call(sim.sim.active_subscriptions).values()))
    # still healthy
    handle = client.subscribe(MarketDataSpec(CONIDS[0]))
    assert handle.wait(5)


def test_several_threads_read_one_handle(client: Client) -> None:
    """Readers sharing a handle each get distinct events (no duplicates, no loss)."""
    handle = client.subscribe(MarketDataSpec(CONIDS[0]), maxsize=100_000)
    assert handle.wait(5)
    seen: list[list[object]] = [[], [], []]

    def read(i: int) -> None:
        for ev in handle:
            seen[i].append(ev)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: sum(isinstance(e, MarketData) for s in seen for e in s) >= 3)
    handle.unsubscribe()
    for t in threads:
        t.join(5)
    everything = [id(e) for s in seen for e in s]
    assert len(everything) == len(set(everything))
    assert sum(isinstance(e, MarketData) for s in seen for e in s) >= 3


SCRIPT = """
import sys, threading
from ibstream.protocol.specs import MarketDataSpec, TradesSpec
from ibstream.sim.testing import SimThread, wait_until
from ibstream.sync import Client
from toolkit import fast_client_config, waiting


ARMED = []  # set once the main thread is past Thread.start() (which waits too)


def announce() -> None:
    wait_until(lambda: ARMED and waiting(threading.main_thread()), timeout=10)
    print("READY", flush=True)


mode = sys.argv[1]
with SimThread() as sim:
    client = Client(sim.url, config=fast_client_config())
    client.start()
    if mode == "iterate":
        handle = client.subscribe(MarketDataSpec(265598))
    elif mode == "wait":
        sim.call(sim.sim.ignore_subscriptions, "smd+272093", 100)
        handle = client.subscribe(MarketDataSpec(272093))
    else:
        handle = client.subscribe(TradesSpec())
        handle.wait(5)
        while handle.get_nowait() is not None:
            pass
    threading.Thread(target=announce, daemon=True).start()
    try:
        ARMED.append(True)
        if mode == "iterate":
            for ev in handle:
                pass
        elif mode == "wait":
            handle.wait()
        else:
            while True:
                handle.get()
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    print("STATE", client.state.name, flush=True)
    again = client.subscribe(MarketDataSpec(76792991))
    print("WAIT", again.wait(5), type(again.get(5)).__name__, flush=True)
    client.stop()
    names = [t.name for t in threading.enumerate() if t.name.startswith("ibstream-")]
    print("THREADS", names, "SOCKETS", sim.connections, flush=True)
"""


@pytest.mark.parametrize("mode", ["iterate", "wait", "get"])
def test_ctrl_c_while_blocked(mode: str) -> None:
    """SIGINT while blocked in iteration / wait() / get(): the client stays usable and stop()
    leaves no thread or socket. The script says READY once its main thread is blocked."""
    path = os.pathsep.join(
        [str(HERE.parents[1] / "src"), str(HERE.parent), os.environ.get("PYTHONPATH", "")]
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line + (proc.stderr.read() if proc.stderr else "")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "INTERRUPTED" in out
    assert "STATE AUTHENTICATED" in out
    assert "WAIT True" in out
    assert "THREADS [] SOCKETS 0" in out
