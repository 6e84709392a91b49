"""The dashboard in a real headless browser: Debian chromium driven by Playwright.

Skipped only when chromium (``/usr/bin/chromium``) or the ``playwright`` package is missing
(the ``chromium`` fixture, conftest.py); CI installs both. Set ``IBSTREAM_SCREENSHOT=path.png``
to keep a screenshot of the page.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import AAPL, TOKEN, cell, wait_for

pytestmark = pytest.mark.e2e


async def test_dashboard_shows_ticks_and_the_disconnected_state(
    make_service: ServiceFactory, sim: Simulator, chromium: Any
) -> None:
    """The page loads, a ticker updates, and an upstream outage shows the reconnecting banner,
    which clears when the session is back."""
    service: Service = await make_service(token=TOKEN)
    page = await chromium.new_page(viewport={"width": 1200, "height": 760})
    await page.goto(f"{service.url}/?token={TOKEN}&conids={AAPL},272093,756733")
    await page.wait_for_function("document.body.dataset.state === 'ok'", timeout=10_000)
    await page.wait_for_selector(f"#t-{AAPL} td.sym:text('AAPL')", timeout=10_000)
    first = await cell(page, AAPL, "n")
    await page.wait_for_function(
        f"Number(document.querySelector('#t-{AAPL} td.n').textContent) > {first}",
        timeout=10_000,
    )
    assert (await cell(page, AAPL, "last")) not in ("", "-")
    await sim.place_order(AAPL, "BUY", 10, "LMT", price=1.0)  # works, never fills
    await page.wait_for_selector("#orders tbody tr", timeout=10_000)
    # positions: the panel follows a fill (GraphQL positions, live on the service)
    await page.wait_for_selector("#positions tbody tr", timeout=10_000)
    before = service.hub.client.positions.quantity(AAPL)
    await sim.place_order(AAPL, "BUY", 3, "MKT")
    await page.wait_for_function(
        f"(document.querySelector('#p-{AAPL} td:nth-child(3)') || {{}}).textContent"
        f" === '{before + 3:,.0f}'",
        timeout=10_000,
    )
    if path := os.environ.get("IBSTREAM_SCREENSHOT"):
        await page.screenshot(path=path)

    # Upstream outage: logged out (/tickle 401) and the socket dropped, so the session
    # cannot come back until the login.
    sim.logout()
    await sim.drop_connections()
    await page.wait_for_function("document.body.dataset.state === 'upstream-down'", timeout=10_000)
    banner = await page.locator("#banner").inner_text()
    assert "reconnecting" in banner
    if path:
        await page.screenshot(path=path.replace(".png", "-down.png"))
    # still down after two more failed reconnect attempts (the login has not happened)
    client = service.client
    assert client is not None
    tries = client.metrics()["reconnects"]
    await wait_for(lambda: client.metrics()["reconnects"] >= tries + 2, timeout=10)
    assert await page.evaluate("document.body.dataset.state") == "upstream-down"
    sim.login(new_session=False)
    await page.wait_for_function("document.body.dataset.state === 'ok'", timeout=15_000)
    assert not await page.locator("#banner").is_visible()

    # The page's own socket: stopping the service shows the disconnected banner.
    await service.stop()
    await page.wait_for_function("document.body.dataset.state === 'disconnected'", timeout=10_000)
    assert "Disconnected from the service" in await page.locator("#banner").inner_text()
