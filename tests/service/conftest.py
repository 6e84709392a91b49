"""Fixtures for the service tests: a simulator and the service on port 0 (see helpers.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest_asyncio

from ibstream.service import Service, ServiceConfig
from ibstream.sim import Simulator
from ibstream.sim.testing import fast_config

from .helpers import fast_client_config

ServiceFactory = Callable[..., Awaitable[Service]]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(fast_config(update_interval=0.05, heartbeat_interval=0.3)) as s:
        yield s


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
    await asyncio.sleep(0)


@pytest_asyncio.fixture
async def service(make_service: ServiceFactory) -> Service:
    return await make_service()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
