"""Fixtures for the service tests: a simulator and the service on port 0 (see helpers.py; the
``simulator`` and ``http`` fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from ibstream.service import Service, ServiceConfig
from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory

from .helpers import fast_client_config

ServiceFactory = Callable[..., Awaitable[Service]]


@pytest_asyncio.fixture
async def sim(simulator: SimulatorFactory) -> Simulator:
    return await simulator(heartbeat_interval=0.3)


@pytest_asyncio.fixture
async def make_service(sim: Simulator) -> AsyncIterator[ServiceFactory]:
    started: list[Service] = []

    async def make(**overrides: Any) -> Service:
        settings: dict[str, Any] = {"url": sim.base_url, "port": 0, "grace": 0.3}
        settings.update(overrides)
        service = Service(ServiceConfig(**settings), client_config=fast_client_config())
        await service.start()
        started.append(service)
        assert service.hub.authenticated
        return service

    yield make
    for service in started:
        await service.stop()


@pytest_asyncio.fixture
async def service(make_service: ServiceFactory) -> Service:
    return await make_service()
