"""Test support for code that talks to the gateway: a fast simulator config, simulators started on
port 0 (in the test's event loop or on a thread of their own), and condition waits.

Nothing here imports a test framework, so it can be imported anywhere. A pytest fixture is three
lines (the repository's own is in ``tests/conftest.py``)::

    @pytest.fixture
    async def simulator():
        async with Simulators() as make:
            yield make          # sim = await simulator(update_interval=0.05)

For blocking code (threads, ``ibstream.sync``)::

    with SimThread(seed=3) as gateway:
        client = Client(gateway.url)
        ...
        wait_until(lambda: gateway.connections == 0)

Wait for conditions, never for time: :func:`wait_for` (async) and :func:`wait_until` (blocking)
poll a predicate until it holds and fail with a message when the deadline passes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ibstream.sim.config import SimConfig
from ibstream.sim.simulator import Simulator

__all__ = [
    "FAST_SIM",
    "SimThread",
    "SimulatorFactory",
    "Simulators",
    "fast_config",
    "wait_for",
    "wait_until",
]

T = TypeVar("T")

SimulatorFactory = Callable[..., Awaitable[Simulator]]
"""``await make(**config_overrides) -> Simulator`` (started)."""

FAST_SIM: dict[str, Any] = {
    "port": 0,
    "tls": False,
    "seed": 1,
    "heartbeat_interval": 0.5,
    "update_interval": 0.05,
    "open_burst_delay": 0.01,
    "rate_limit": None,
    "endpoint_limits": False,
    "pnl_interval": 0.1,
    "summary_interval": 0.2,
    "ledger_interval": 0.2,
    "ladder_interval": 0.1,
}
"""The settings of :func:`fast_config`: port 0, plain HTTP/WS, seed 1, short intervals, no rate
limit (do not mutate: pass overrides instead)."""


def fast_config(**overrides: Any) -> SimConfig:
    """The one test config of the simulator: :data:`FAST_SIM` with ``overrides``."""
    return SimConfig(**{**FAST_SIM, **overrides})


def _failed(what: str | Callable[[], str] | None, timeout: float) -> AssertionError:
    detail = what() if callable(what) else what
    suffix = f": {detail}" if detail else ""
    return AssertionError(f"condition not met within {timeout} s{suffix}")


async def wait_for(
    cond: Callable[[], object],
    timeout: float = 5.0,
    *,
    interval: float = 0.01,
    what: str | Callable[[], str] | None = None,
) -> None:
    """Poll ``cond()`` in the running loop until it is true; ``AssertionError`` after ``timeout``
    (naming ``what``, or what it returns, when given)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise _failed(what, timeout)
        await asyncio.sleep(interval)


def wait_until(
    cond: Callable[[], object],
    timeout: float = 5.0,
    *,
    interval: float = 0.01,
    what: str | Callable[[], str] | None = None,
) -> None:
    """:func:`wait_for` for blocking code: poll ``cond()`` from this thread."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise _failed(what, timeout)
        time.sleep(interval)


class Simulators:
    """``async with Simulators() as make``: ``await make(**overrides)`` starts a simulator with
    :func:`fast_config`; all of them are stopped when the block ends."""

    def __init__(self) -> None:
        self.started: list[Simulator] = []

    async def make(self, **overrides: Any) -> Simulator:
        sim = Simulator(fast_config(**overrides))
        await sim.start()
        self.started.append(sim)
        return sim

    async def __aenter__(self) -> SimulatorFactory:
        return self.make

    async def __aexit__(self, *exc: object) -> None:
        while self.started:
            await self.started.pop().stop()


class SimThread:
    """A simulator (:func:`fast_config` plus ``overrides``) on its own event loop thread.

    ``with SimThread() as gateway`` starts it; ``gateway.run(coro)`` and ``gateway.call(fn, ...)``
    run code on its loop from the calling thread and return the result.
    """

    def __init__(self, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(fast_config(**overrides))
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-sim", daemon=True)

    def __enter__(self) -> SimThread:
        self._thread.start()
        self.run(self.sim.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.sim.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the simulator's loop (awaited when it returns an awaitable)."""

        async def go() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            return result

        return self.run(go())

    @property
    def url(self) -> str:
        return self.sim.base_url

    @property
    def connections(self) -> int:
        return int(self.call(lambda: self.sim.connections))
