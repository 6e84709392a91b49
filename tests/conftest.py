"""Fixtures shared by every test directory (helpers: toolkit.py and ibstream.sim.testing)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from ibstream.sim.testing import SimThread, SimulatorFactory, Simulators


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorFactory]:
    """``await simulator(**overrides)``: a started simulator (fast config, port 0); all stopped
    at teardown."""
    async with Simulators() as make:
        yield make


@pytest.fixture
def sim_thread() -> Iterator[SimThread]:
    """A simulator on its own thread, for blocking clients."""
    with SimThread() as gateway:
        yield gateway


@pytest.fixture(params=["aiohttp", "picows"])
def ws_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once per client WebSocket library: ``ClientConfig.ws_backend="auto"`` (and
    every ``GatewayRest`` built without one) resolves through ``IBSTREAM_WS_BACKEND``."""
    backend: str = request.param
    monkeypatch.setenv("IBSTREAM_WS_BACKEND", backend)
    return backend


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session
