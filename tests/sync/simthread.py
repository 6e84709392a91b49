"""A gateway simulator on its own thread and event loop, for tests of the blocking client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ibstream.aio.client import ClientConfig
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.connection import ProtocolConfig
from ibstream.sim import SimConfig, Simulator

T = TypeVar("T")

FAST = ProtocolConfig(
    heartbeat_timeout=1.5,
    tic_interval=1.0,
    tickle_interval=2.0,
    auth_poll_interval=0.1,
    auth_timeout=3.0,
    auth_lost_reconnect_after=30.0,
    subscribe_timeout=0.5,
    subscribe_attempts=3,
    md_renew_after=60.0,
)


def fast_config(**overrides: Any) -> ClientConfig:
    return ClientConfig(
        protocol=FAST,
        reconnect=lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        start_timeout=10.0,
        **overrides,
    )


def ibstream_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ibstream-")]


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def assert_nothing_left(sim: SimThread) -> None:
    """No ibstream thread is alive and the gateway sees no open socket."""
    wait_for(lambda: not ibstream_threads() and sim.connections == 0)


class SimThread:
    """``Simulator`` started on port 0 in a daemon thread; ``run(coro)`` drives it from tests."""

    def __init__(self, **overrides: Any) -> None:
        base: dict[str, Any] = {
            "port": 0,
            "tls": False,
            "seed": 3,
            "rate_limit": None,
            "update_interval": 0.05,
            "heartbeat_interval": 0.3,
            "pnl_interval": 0.1,
            "summary_interval": 0.2,
            "ledger_interval": 0.2,
            "open_burst_delay": 0.01,
        }
        base.update(overrides)
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(SimConfig(**base))
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-sim", daemon=True)

    def __enter__(self) -> SimThread:
        self._thread.start()
        self.run(self.sim.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        async def go() -> Any:
            return fn(*args)

        return self.run(go())

    @property
    def url(self) -> str:
        return self.sim.base_url

    @property
    def connections(self) -> int:
        return int(self.call(lambda: self.sim.connections))
