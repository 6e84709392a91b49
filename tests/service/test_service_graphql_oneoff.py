"""Issue 20.3: one-off GraphQL queries get the current value with no subscriber around, say so
when they cannot, and ``status.frames`` is an integer."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .helpers import AAPL, ACCOUNT, MSFT, gql, wait_for

pytestmark = pytest.mark.e2e


async def test_tickers_query_without_a_subscriber(
    service: Service, http: aiohttp.ClientSession
) -> None:
    assert not service.hub.upstreams and not service.hub.consumers
    body = await gql(
        http,
        service,
        "query($c: [Int!]) { tickers(conids: $c) { conid symbol last bid } }",
        c=[AAPL, MSFT],
    )
    assert "errors" not in body, body
    got = {t["conid"]: t for t in body["data"]["tickers"]}
    assert set(got) == {AAPL, MSFT}
    assert got[AAPL]["symbol"] == "AAPL" and got[AAPL]["last"] > 0 and got[MSFT]["bid"] > 0
    # The query's consumer is gone; the streams stay for the grace period, then go.
    assert not [c for c in service.hub.consumers if c.startswith("query")]
    await wait_for(lambda: not service.hub.upstreams)


async def test_orders_and_pnl_queries_without_a_subscriber(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    order = await sim.place_order(AAPL, "BUY", 2, "LMT", price=1.0)
    body = await gql(
        http,
        service,
        "{ orders(openOnly: false) { orderId conid } pnl { account row } }",
    )
    assert "errors" not in body, body
    assert str(order.order_id) in [o["orderId"] for o in body["data"]["orders"]]
    assert body["data"]["pnl"] and body["data"]["pnl"][0]["account"] == ACCOUNT


async def test_a_query_says_when_it_cannot(service: Service, http: aiohttp.ClientSession) -> None:
    body = await gql(http, service, '{ pnl(account: "DU0000000", wait: 0.5) { row } }')
    assert body["data"] is None
    message = body["errors"][0]["message"]
    assert "pnl of DU0000000" in message and "within 0.5 s" in message
    body = await gql(http, service, "{ tickers(conids: [265598], wait: 99) { conid } }")
    assert "wait: must be 0..30" in body["errors"][0]["message"]


async def test_status_frames_is_an_integer(service: Service, http: aiohttp.ClientSession) -> None:
    body = await gql(http, service, "{ status { frames } }")
    frames = body["data"]["status"]["frames"]
    assert type(frames) is int and frames > 0
    body = await gql(
        http,
        service,
        '{ __type(name: "SessionStatus") { fields { name type { ofType { name } } } } }',
    )
    [frames_type] = [f["type"] for f in body["data"]["__type"]["fields"] if f["name"] == "frames"]
    assert frames_type["ofType"]["name"] == "Long"


async def test_query_respects_the_service_limits(
    make_service: Any, http: aiohttp.ClientSession
) -> None:
    service = await make_service(max_market_data_per_consumer=1)
    body = await gql(
        http, service, "query($c: [Int!]) { tickers(conids: $c) { conid } }", c=[AAPL, MSFT]
    )
    assert body["data"] is None and "max_market_data_per_consumer" in str(body["errors"])
    await wait_for(lambda: not service.hub.consumers)


@pytest.mark.parametrize("sim", [{"rate_limit": 10.0}], indirect=True, ids=["rate_limited"])
async def test_orders_queries_share_one_read_of_the_gateway(
    sim: Simulator, service: Service, http: aiohttp.ClientSession
) -> None:
    """Twenty concurrent orders queries (one document, aliases) and more right after: one read
    of the order list, so the gateway's rate limit (10 requests/s, as IBKR's) is never hit."""
    await sim.place_order(AAPL, "BUY", 1, "LMT", price=1.0)
    fields = " ".join(f"o{n}: orders(openOnly: false) {{ orderId }}" for n in range(20))
    for _ in range(3):
        body = await gql(http, service, "{ " + fields + " }")
        assert "errors" not in body, body
        assert all(len(v) == 1 for v in body["data"].values())
