"""Pytest support: a ``simulator`` fixture factory on port 0.

In a ``conftest.py``::

    from ibstream.sim.testing import simulator  # noqa: F401  (re-export the fixture)

    async def test_x(simulator):
        sim = await simulator(update_interval=0.05)   # plain HTTP/WS, port 0, seed 1
        ...

Every simulator the factory made is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from ibstream.sim.config import SimConfig
from ibstream.sim.simulator import Simulator

__all__ = ["SimulatorFactory", "fast_config", "simulator"]

SimulatorFactory = Callable[..., Awaitable[Simulator]]


def fast_config(**overrides: Any) -> SimConfig:
    """A test-friendly config: port 0, plain, seed 1, short intervals, no rate limits."""
    base: dict[str, Any] = {
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
    base.update(overrides)
    return SimConfig(**base)


@pytest_asyncio.fixture
async def simulator() -> AsyncIterator[SimulatorFactory]:
    """Factory fixture: ``await simulator(**config_overrides) -> Simulator`` (started)."""
    started: list[Simulator] = []

    async def make(**overrides: Any) -> Simulator:
        sim = Simulator(fast_config(**overrides))
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()
