"""Price increments from the simulator's contract rules over real sockets: FX at 5 decimals, a
stock at 2, the POST form, unknown conids as NotFound, and PriceDecimals on a live client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from ibstream.aio.client import StreamClient
from ibstream.aio.decimals import PriceDecimals
from ibstream.exceptions import NotFound
from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory, wait_for
from toolkit import AAPL, fast_client_config

pytestmark = pytest.mark.e2e

EURUSD = 12087792


@pytest.fixture
async def sim(simulator: SimulatorFactory) -> Simulator:
    return await simulator()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[StreamClient]:
    c = StreamClient(sim.base_url, config=fast_client_config())
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def test_fx_and_stock_increments(client: StreamClient, sim: Simulator) -> None:
    fx = await client.contracts.price_rules(EURUSD)
    assert fx.increment == 0.00005 and fx.decimals() == 5 and fx.digits == 5
    assert fx.ladder == ((0.0, 0.00005),) and fx.raw["symbol"] == "EUR"
    stock = await client.contracts.price_rules(AAPL)
    assert stock.increment == 0.01 and stock.decimals(271.5) == 2
    # the simulated prices move by that increment
    last = sim.last_price(EURUSD)
    assert abs(round(last / 0.00005) * 0.00005 - last) < 1e-9
    with pytest.raises(NotFound):
        await client.contracts.price_rules(1)


async def test_the_post_form_answers_the_rules_alone(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    url = f"{sim.base_url}/iserver/contract/rules"
    async with http.post(url, json={"conid": EURUSD, "isBuy": True}) as r:
        body = await r.json()
    assert r.status == 200 and body["increment"] == 0.00005 and body["incrementDigits"] == 5
    async with http.post(url, json={"conid": "x"}) as r:
        assert r.status == 400 and "invalid conid" in (await r.json())["error"]


async def test_price_decimals_on_a_live_client(client: StreamClient) -> None:
    decimals = PriceDecimals(client.contracts)
    assert decimals.decimals(EURUSD, 1.0861, fallback=4) == 4  # inferred until known
    await wait_for(lambda: decimals.get(EURUSD) == 5 and decimals.get(AAPL) == 2)
    await decimals.close()
