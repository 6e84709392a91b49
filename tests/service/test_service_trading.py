"""Order mutations over GraphQL: only with the service trading and the trading token."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.service import Service, ServiceConfig
from ibstream.service.trading import READ, TRADE, token_scopes
from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import AAPL, wait_for

pytestmark = pytest.mark.e2e

READ_TOKEN = "read-token-123456"
TRADING_TOKEN = "trading-token-abcdefghij"

PLACE = """mutation P($o: PlaceOrderInput!) {
  placeOrder(order: $o) { orderId coid account status } }"""


async def gql(
    http: aiohttp.ClientSession, service: Service, query: str, token: str | None, **variables: Any
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(
        f"{service.url}/graphql", json={"query": query, "variables": variables}, headers=headers
    ) as r:
        return r.status, await r.json()


def order(sim: Simulator, factor: float = 0.98, **extra: Any) -> dict[str, Any]:
    price = round(sim.last_price(AAPL) * factor, 2)
    return {"conid": AAPL, "side": "BUY", "orderType": "LMT", "quantity": 2, "price": price} | extra


async def test_trading_token_places_modifies_and_cancels(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """The trading token places, modifies and cancels; the read token reads but cannot trade."""
    service = await make_service(token=READ_TOKEN, trading=True, trading_token=TRADING_TOKEN)
    status, body = await gql(http, service, PLACE, READ_TOKEN, o=order(sim))
    assert status == 200 and "cannot trade" in body["errors"][0]["message"]
    assert sim.entry.counters.placed == 0
    status, body = await gql(http, service, PLACE, TRADING_TOKEN, o=order(sim, coid="svc-1"))
    assert "errors" not in body, body
    placed = body["data"]["placeOrder"]
    assert placed["coid"] == "svc-1" and placed["orderId"] in sim.gateway.book.orders
    oid = placed["orderId"]
    await wait_for(lambda: sim.gateway.book.orders[oid].status == "Submitted")
    new_price = round(sim.last_price(AAPL) * 0.97, 2)
    _, body = await gql(
        http,
        service,
        f"mutation {{ modifyOrder(orderId: {oid}, price: {new_price}) {{ orderId status }} }}",
        TRADING_TOKEN,
    )
    assert "errors" not in body, body
    assert sim.gateway.book.orders[oid].price == new_price
    _, body = await gql(
        http,
        service,
        f"mutation {{ cancelOrder(orderId: {oid}) {{ orderId status }} }}",
        READ_TOKEN,
    )
    assert "cannot trade" in body["errors"][0]["message"]
    _, body = await gql(
        http,
        service,
        f"mutation {{ cancelOrder(orderId: {oid}) {{ orderId status }} }}",
        TRADING_TOKEN,
    )
    assert "errors" not in body, body
    await wait_for(lambda: sim.gateway.book.orders[oid].status == "Cancelled")
    # reads work with either token; a wrong token is refused
    for token in (READ_TOKEN, TRADING_TOKEN):
        status, body = await gql(http, service, "{ accounts }", token)
        assert status == 200 and body["data"]["accounts"]
    status, _ = await gql(http, service, "{ accounts }", "wrong-token-000000")
    assert status == 401


async def test_prompts_need_accept_prompts(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """A reply prompt is declined unless acceptPrompts lists its message id."""
    service = await make_service(trading=True, trading_token=TRADING_TOKEN)
    _, body = await gql(http, service, PLACE, TRADING_TOKEN, o=order(sim, 0.5))
    assert "o163" in body["errors"][0]["message"]
    _, body = await gql(
        http, service, PLACE, TRADING_TOKEN, o=order(sim, 0.5, acceptPrompts=["o163"])
    )
    assert "errors" not in body, body
    # no token on loopback reads, but cannot trade
    _, body = await gql(http, service, PLACE, None, o=order(sim))
    assert "cannot trade" in body["errors"][0]["message"]


async def test_service_without_trading_refuses_every_mutation(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    _, body = await gql(http, service, PLACE, None, o=order(sim))
    assert "trading is off" in body["errors"][0]["message"]
    assert service.client is not None and service.client.trading.config.read_only
    assert sim.entry.counters.placed == 0


def test_trading_config_needs_its_own_token() -> None:
    with pytest.raises(InvalidArgument, match="trading needs its own token"):
        ServiceConfig(trading=True).check()
    with pytest.raises(InvalidArgument, match="trading needs its own token"):
        ServiceConfig(trading=True, trading_token="short").check()
    with pytest.raises(InvalidArgument, match="differ"):
        ServiceConfig(trading=True, token=TRADING_TOKEN, trading_token=TRADING_TOKEN).check()
    assert ServiceConfig(trading=True, trading_token=TRADING_TOKEN).check() is None


def test_token_scopes() -> None:
    assert token_scopes(TRADING_TOKEN, READ_TOKEN, TRADING_TOKEN) == TRADE
    assert token_scopes(READ_TOKEN, READ_TOKEN, TRADING_TOKEN) == READ
    assert token_scopes("nope", READ_TOKEN, TRADING_TOKEN) is None
    assert token_scopes(None, None, TRADING_TOKEN) == READ
    assert token_scopes("nope", None, TRADING_TOKEN) is None
    assert token_scopes(None, READ_TOKEN, None) is None
    assert token_scopes(READ_TOKEN, READ_TOKEN, None) == READ
