"""Issue 20 point 7: the dashboard formats prices with the instrument's price increment (the
contract rules through ``/api/increments``), in headless Chromium, and falls back to the
decimals it infers when the increment is unknown; the endpoint itself over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .helpers import AAPL, cell
from .test_service_dashboard_trading import EURUSD

pytestmark = pytest.mark.e2e


async def dataset(page: Any, conid: int) -> dict[str, str]:
    found: dict[str, str] = await page.evaluate(
        f"Object.assign({{}}, document.querySelector('#t-{conid}').dataset)"
    )
    return found


async def test_fx_shows_the_decimals_of_its_increment(
    service: Service, sim: Simulator, tmp_path: Path, chromium: Any
) -> None:
    page = await chromium.new_page(viewport={"width": 1400, "height": 800})
    await page.goto(f"{service.url}/?conids={AAPL},{EURUSD}")
    for conid in (AAPL, EURUSD):
        await page.wait_for_function(
            "(r => r && r.dataset.decSource === 'increment'"
            " && [2, 6, 7].every(i => r.cells[i].textContent !== '-'))"
            f"(document.querySelector('#t-{conid}'))",
            timeout=30_000,
        )
    shot = tmp_path / "increments.png"
    await page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # EUR.USD moves by 0.00005: five decimals (1.08615); AAPL by 0.01: two
    fx = await dataset(page, EURUSD)
    assert fx["decSource"] == "increment" and fx["decimals"] == "5"
    for cls in ("last", "bid", "ask"):
        assert re.fullmatch(r"1\.\d{5}", await cell(page, EURUSD, cls)), cls
    stock = await dataset(page, AAPL)
    assert stock["decSource"] == "increment" and stock["decimals"] == "2"
    assert re.fullmatch(r"[\d,]+\.\d{2}", await cell(page, AAPL, "last"))


async def test_unknown_increments_fall_back_to_inferred_decimals(
    service: Service, sim: Simulator, chromium: Any
) -> None:
    """The increments endpoint fails: the page never waits for it, prices keep showing with
    the decimals their values carry."""
    page = await chromium.new_page()
    failed: list[str] = []

    async def refuse(route: Any) -> None:
        failed.append(route.request.url)
        await route.fulfill(status=502, json={"error": "gateway down"})

    await page.route("**/api/increments*", refuse)
    await page.goto(f"{service.url}/?conids={EURUSD}")
    await page.wait_for_function(
        f"/^1\\.\\d{{4,}}$/.test(document.querySelector('#t-{EURUSD} td.last')?.textContent || '')",
        timeout=30_000,
    )
    assert failed and "conids=" in failed[0]
    assert (await dataset(page, EURUSD))["decSource"] == "inferred"


async def test_increments_endpoint(
    service: Service, sim: Simulator, http: aiohttp.ClientSession
) -> None:
    url = f"{service.url}/api/increments"
    async with http.get(url, params={"conids": f"{EURUSD},{AAPL},{EURUSD},1"}) as r:
        body = await r.json()
    assert r.status == 200, body
    assert body["increments"][str(EURUSD)] == {
        "increment": 0.00005,
        "decimals": 5,
        "ladder": [[0.0, 0.00005, 5]],
    }
    assert body["increments"][str(AAPL)]["decimals"] == 2
    assert body["unknown"] == [1] and body["pending"] == []
    for bad in ("", "abc", "0", "-5", ",".join(["1"] * 51), "99999999999"):
        async with http.get(url, params={"conids": bad}) as r:
            assert r.status == 400 and "conids:" in (await r.json())["error"], bad
    # cached per conid: the gateway gone, known increments still answer, new ones are unknown
    await sim.stop()
    async with http.get(url, params={"conids": f"{EURUSD},{AAPL + 1}"}) as r:
        body = await r.json()
    assert body["increments"][str(EURUSD)]["decimals"] == 5 and body["unknown"] == [AAPL + 1]
