"""Fixtures for order entry: the simulator on port 0 and a started client with trading on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient, connect
from ibstream.backoff import ReconnectPolicy
from ibstream.orders import TradingConfig
from ibstream.sim import SimConfig, Simulator
from toolkit import FAST

AAPL = 265598
MSFT = 272093
ACCOUNT = "DU1234567"


def make_client(sim: Simulator, trading: TradingConfig | None = None) -> StreamClient:
    config = ClientConfig(
        protocol=FAST,
        reconnect=lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        start_timeout=10.0,
        request_timeout=2.0,
        trading=trading or TradingConfig(enabled=True, lookup_delay=0.05),
    )
    return connect(sim.base_url, config=config)


def sim_config(**overrides: Any) -> SimConfig:
    """The order tests' simulator: port 0, plain HTTP, fast updates, no rate limit."""
    base: dict[str, Any] = dict(
        port=0, tls=False, seed=5, update_interval=0.05, heartbeat_interval=0.3, rate_limit=None
    )
    return SimConfig(**{**base, **overrides})


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(sim_config()) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[StreamClient]:
    c = make_client(sim)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()
