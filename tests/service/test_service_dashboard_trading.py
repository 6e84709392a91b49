"""Issue 20 (dashboard): the trading screen in headless Chromium — FX at the decimals its prices
carry, bid/ask sizes, a live chart per ticker, the symbol box (``/api/symbols``), and the
reconnecting state when the service socket drops and recovers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import AAPL, cell

pytestmark = pytest.mark.e2e

EURUSD = 12087792


async def test_symbol_box_fx_decimals_sizes_and_chart(
    service: Service, sim: Simulator, tmp_path: Path, chromium: Any
) -> None:
    page = await chromium.new_page(viewport={"width": 1400, "height": 800})
    await page.goto(f"{service.url}/?conids={AAPL}")
    await page.wait_for_function("document.body.dataset.state === 'ok'", timeout=10_000)
    # Add EUR.USD by name through the symbol box.
    await page.fill("#symbol", "EUR.USD")  # "EUR" alone: EUR.USD, EUR.GBP... a choice
    await page.click("#addsym button[type=submit]")
    await page.wait_for_selector(f"#t-{EURUSD} td.sym:text('EUR')", timeout=10_000)
    assert f"conids={AAPL}%2C{EURUSD}" in page.url
    await page.wait_for_function(
        f"/\\.\\d{{4,}}$/.test(document.querySelector('#t-{EURUSD} td.last').textContent)",
        timeout=10_000,
    )
    await page.wait_for_function(
        f"Number(document.querySelector('#t-{AAPL}').dataset.points) >= 2", timeout=10_000
    )
    shot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The screen's content at the screenshot: FX at 4+ decimals, a stock at 2.
    fx_last, fx_bid = await cell(page, EURUSD, "last"), await cell(page, EURUSD, "bid")
    assert re.fullmatch(r"1\.\d{4,}", fx_last) and re.fullmatch(r"1\.\d{4,}", fx_bid)
    assert re.fullmatch(r"[\d,]+\.\d{2}", await cell(page, AAPL, "last"))
    for cls in ("bsz", "asz"):
        assert re.fullmatch(r"[\d,]+", await cell(page, AAPL, cls)), cls
    points = await page.locator(f"#t-{AAPL} polyline").get_attribute("points")
    assert points and len(points.split()) >= 2
    # An unknown symbol is said so; a symbol with several contracts offers a choice.
    await page.fill("#symbol", "ZZZQ")
    await page.click("#addsym button[type=submit]")
    await page.wait_for_selector("#symres:text('no contract found for ZZZQ')")
    # AAPL has two listings (NASDAQ and Mexico): a choice, not a guess
    await page.fill("#symbol", "AAPL")
    await page.click("#addsym button[type=submit]")
    await page.wait_for_selector("#symres button[data-conid='38708077']")
    assert await page.locator("#symres button").count() == 2
    await page.click("#symres button[data-conid='38708077']")
    await page.wait_for_selector("#t-38708077 td.sym:text('AAPL')", timeout=10_000)
    await page.fill("#symbol", str(AAPL))
    await page.click("#addsym button[type=submit]")
    await page.wait_for_selector("#symres:text('already shown')")


async def test_symbols_endpoint(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    async with http.get(f"{service.url}/api/symbols", params={"q": "MSFT"}) as r:
        body = await r.json()
    assert r.status == 200 and body["results"][0]["symbol"] == "MSFT"
    assert body["results"][0]["conid"] == 272093 and body["results"][0]["sec_type"] == "STK"
    for bad in ("", "<script>", "x" * 40):
        async with http.get(f"{service.url}/api/symbols", params={"q": bad}) as r:
            assert r.status == 400 and "q:" in (await r.json())["error"]
    await sim.stop()  # the gateway is gone: the search fails loudly
    async with http.get(f"{service.url}/api/symbols", params={"q": "MSFT"}) as r:
        assert r.status == 502 and "symbol search failed" in (await r.json())["error"]


async def test_reconnecting_state_when_the_service_socket_drops_and_recovers(
    make_service: ServiceFactory, sim: Simulator, chromium: Any
) -> None:
    service = await make_service()
    port = urlsplit(service.url).port
    page = await chromium.new_page()
    await page.goto(f"{service.url}/?conids={AAPL}")
    await page.wait_for_function("document.body.dataset.state === 'ok'", timeout=10_000)
    await page.wait_for_selector(f"#t-{AAPL} td.sym:text('AAPL')", timeout=10_000)
    assert await page.evaluate("document.body.dataset.reconnects") == "0"
    await service.stop()
    await page.wait_for_function("document.body.dataset.state === 'disconnected'", timeout=10_000)
    await page.wait_for_selector("#banner:text('attempt')", timeout=10_000)
    banner = await page.locator("#banner").inner_text()
    assert "Disconnected from the service" in banner and "next try in" in banner
    assert await page.locator(f"#t-{AAPL}.stale").count() == 1
    # The service comes back on the same address: the page recovers by itself.
    await make_service(port=port)
    await page.wait_for_function("document.body.dataset.state === 'ok'", timeout=15_000)
    assert await page.evaluate("document.body.dataset.reconnects") == "1"
    assert not await page.locator("#banner").is_visible()
    seen = int(await cell(page, AAPL, "n"))
    await page.wait_for_function(
        f"Number(document.querySelector('#t-{AAPL} td.n').textContent) > {seen}",
        timeout=10_000,
    )
    assert await page.locator(f"#t-{AAPL}.stale").count() == 0
    assert "reconnected to the service" in await page.locator("#log").inner_text()
