"""Fixtures for the service tests: a simulator and the service on port 0 (see helpers.py; the
``simulator`` and ``http`` fixtures are in tests/conftest.py), and a headless Chromium for the
dashboard's tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from ibstream.service import Service, ServiceConfig
from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory

from .helpers import fast_client_config

ServiceFactory = Callable[..., Awaitable[Service]]


@pytest_asyncio.fixture
async def sim(simulator: SimulatorFactory, request: pytest.FixtureRequest) -> Simulator:
    """The simulator; a test changes its options with
    ``@pytest.mark.parametrize("sim", [{"rate_limit": 10.0}], indirect=True)``."""
    options: dict[str, Any] = {"heartbeat_interval": 0.3, **getattr(request, "param", {})}
    return await simulator(**options)


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


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[Any]:
    """A headless Debian chromium driven by Playwright (a ``playwright.async_api.Browser``),
    closed after the test: list it after the service fixtures, so it closes before they stop.
    Skips only when chromium (``/usr/bin/chromium``) or the ``playwright`` package is missing;
    CI installs both."""
    if not HAVE_CHROMIUM:  # pragma: no cover - CI installs chromium
        pytest.skip("chromium is not installed (apt-get install chromium)")
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="playwright is not installed (pip install playwright)"
    )
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
