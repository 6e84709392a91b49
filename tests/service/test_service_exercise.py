"""Option exercise over GraphQL: only with the service trading and the trading token; the final
question is answered only with confirmFinal: true."""

from __future__ import annotations

import aiohttp
import pytest

from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import wait_for
from .test_service_trading import PLACE, READ_TOKEN, TRADING_TOKEN, gql

pytestmark = pytest.mark.e2e

NVDA = 4815747
EXERCISE = """mutation E($c: Int!, $q: Int!, $f: Boolean!) {
  exerciseOption(conid: $c, quantity: $q, confirmFinal: $f) {
    conid quantity confirmed question orderId status } }"""


async def test_exercise_option_mutation(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    service = await make_service(token=READ_TOKEN, trading=True, trading_token=TRADING_TOKEN)
    buy = {"conid": NVDA, "side": "BUY", "orderType": "MKT", "quantity": 3}
    _, body = await gql(http, service, PLACE, TRADING_TOKEN, o=buy)
    assert "errors" not in body, body
    await wait_for(lambda: sim.gateway.book.positions.get(NVDA) is not None)
    await wait_for(lambda: sim.gateway.book.positions[NVDA].quantity == 3)

    _, body = await gql(http, service, EXERCISE, READ_TOKEN, c=NVDA, q=1, f=True)
    assert "cannot trade" in body["errors"][0]["message"]

    _, body = await gql(http, service, EXERCISE, TRADING_TOKEN, c=NVDA, q=1, f=False)
    assert "errors" not in body, body
    dry = body["data"]["exerciseOption"]
    assert dry["confirmed"] is False and dry["orderId"] is None
    assert "final and irreversible" in dry["question"]

    _, body = await gql(http, service, EXERCISE, TRADING_TOKEN, c=NVDA, q=2, f=True)
    assert "errors" not in body, body
    done = body["data"]["exerciseOption"]
    assert done["confirmed"] is True and done["quantity"] == 2 and done["orderId"] > 0

    _, body = await gql(http, service, EXERCISE, TRADING_TOKEN, c=NVDA, q=50, f=True)
    assert "exceeds the position" in body["errors"][0]["message"]


async def test_exercise_refused_when_the_service_does_not_trade(
    make_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    service = await make_service()
    _, body = await gql(http, service, EXERCISE, None, c=NVDA, q=1, f=True)
    assert "trading is off" in body["errors"][0]["message"]
