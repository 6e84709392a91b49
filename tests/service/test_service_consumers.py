"""Consumers as untrusted input: what one of them can make the service hold or do.

Real sockets: the simulator and the service on port 0, a raw WebSocket that never reads. Each
test failed before its fix (see CHANGELOG.md, "Fixed").
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import AAPL, GraphQLWS, gql, plain_ws, wait_for
from .rawws import raw_ws, ws_text

pytestmark = pytest.mark.e2e

TRADING = "trading-token-abcdefghij"


async def test_requests_whose_replies_are_never_read_cut_the_consumer_off(
    make_service: ServiceFactory,
) -> None:
    """A consumer that sends requests and never reads the replies: they were queued without
    bound (a ``status`` reply is many times its request), now it is a slow consumer."""
    service = await make_service(buffer_size=50, slow_consumer_timeout=0.5, send_buffer=4096)
    sock, _ = await raw_ws(service.url)
    loop = asyncio.get_running_loop()
    await wait_for(lambda: len(service.hub.consumers) == 1)
    [consumer] = service.hub.consumers.values()
    frame = ws_text({"op": "status", "id": "s" * 200})
    deepest = 0
    try:
        for _ in range(20_000):
            if consumer.closed:
                break
            await loop.sock_sendall(sock, frame)
            deepest = max(deepest, len(consumer.queue))
    except OSError:
        pass  # the service cut the socket
    finally:
        sock.close()
    await wait_for(lambda: consumer.closed, timeout=5)
    assert consumer.queue.overflowed and "never dropped" in consumer.close_reason
    assert deepest <= 2 * 50, deepest
    assert service.hub.disconnected_slow == 1


async def test_query_lists_of_events_and_stream_are_bounded_before_any_work(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """``max_list_items`` bounds the conid/account lists of an ``/events`` or ``/stream``
    query as it bounds a ``filter`` message. An ``/events`` query of 1,000 conids and 1,000
    accounts for ``bd`` once built its million specs (seconds of the event loop every
    consumer shares, hundreds of MB) before counting them."""
    many = ",".join(["1"] * 1000)
    accounts = ",".join(["a"] * 1000)
    async with http.get(f"{service.url}/events?topic=bd&conid={many}&account={accounts}") as r:
        assert r.status == 400
        assert "max_list_items" in (await r.json())["error"]
    # within the list bound, the product is counted before a spec is built
    conids = ",".join(str(i) for i in range(1, 201))
    accounts = ",".join(f"a{i}" for i in range(200))
    async with http.get(f"{service.url}/events?topic=bd&conid={conids}&account={accounts}") as r:
        assert r.status == 400
        assert "40000 specs in one request" in (await r.json())["error"]
    async with http.get(f"{service.url}/stream?conid={many}") as r:
        assert r.status == 400
        assert "max_list_items" in (await r.json())["error"]
    assert service.hub.counts["refused_list_items"] == 2
    assert not service.hub.consumers


async def test_plain_get_of_stream_leaves_no_consumer_behind(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """``GET /stream`` without a WebSocket upgrade (a browser tab, a health checker, curl) once
    left a consumer registered for good: listed by /metrics and queued session events."""
    for _ in range(3):
        async with http.get(f"{service.url}/stream") as r:
            assert r.status == 400
    assert not service.hub.consumers
    assert service.hub.counts["opened_ws"] == 3  # each was opened, and closed


async def test_trading_token_in_a_url_does_not_trade(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """The trading scope comes only from ``Authorization: Bearer`` (docs/service.md): a URL
    ends up in shell histories, proxy logs and ``Referer`` headers. ``?token=<trading token>``
    once placed orders; now it reads, as the query token exists for browsers that read."""
    service = await make_service(token="read-token-123456", trading=True, trading_token=TRADING)
    price = round(sim.last_price(AAPL) * 0.98, 2)
    order = {"conid": AAPL, "side": "BUY", "orderType": "LMT", "quantity": 1, "price": price}
    query = "mutation P($o: PlaceOrderInput!) { placeOrder(order: $o) { orderId } }"
    body = {"query": query, "variables": {"o": order}}
    async with http.post(f"{service.url}/graphql?token={TRADING}", json=body) as r:
        assert r.status == 200
        reply = await r.json()
    assert "cannot trade" in reply["errors"][0]["message"], reply
    assert sim.entry.counters.placed == 0
    async with http.post(
        f"{service.url}/graphql?token={TRADING}", json={"query": "{ accounts }"}
    ) as r:
        assert (await r.json())["data"]["accounts"]
    headers = {"Authorization": f"Bearer {TRADING}"}
    async with http.post(f"{service.url}/graphql", json=body, headers=headers) as r:
        reply = await r.json()
    assert "errors" not in reply, reply
    assert sim.entry.counters.placed == 1


async def test_snapshot_of_more_instruments_than_allowed_is_an_error(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """``snapshot`` takes at most 100 instruments: a 101st was dropped silently (100 rows
    back, no error), so a consumer could not tell its last quotes were missing."""
    q = "query S($i: [String!]!) { snapshot(instruments: $i) { conid } }"
    body = await gql(http, service, q, i=[str(AAPL)] * 101)
    assert body["data"] is None
    assert "at most 100 instruments, got 101" in body["errors"][0]["message"], body
    body = await gql(http, service, q, i=[str(AAPL)] * 2)
    assert [row["conid"] for row in body["data"]["snapshot"]] == [AAPL, AAPL]


async def test_concurrent_first_positions_queries_all_see_the_positions(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """The first ``positions`` query starts tracking and reads them over REST; queries that
    came meanwhile answered at once from the still empty book (``[]``: no position held), so
    of two dashboards opened together, one showed a flat account."""
    book = sim.gateway.book
    held = book.positions[AAPL].quantity if AAPL in book.positions else 0
    await sim.place_order(AAPL, "BUY", 4, "MKT")
    await wait_for(lambda: AAPL in book.positions and book.positions[AAPL].quantity == held + 4)
    q = "{ positions { conid quantity } }"
    bodies = await asyncio.gather(*(gql(http, service, q) for _ in range(4)))
    for body in bodies:
        assert "errors" not in body, body
        assert {p["conid"]: p["quantity"] for p in body["data"]["positions"]}.get(AAPL) == held + 4
    assert bodies[0] == bodies[-1]


async def test_unsubscribe_with_keys_not_a_list_names_the_problem(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """``{"op":"unsubscribe","keys":"md:265598"}`` was answered "subscribe needs 'spec'...":
    the wrong op and the wrong argument."""
    c = await plain_ws(http, service)
    rid = await c.send("unsubscribe", keys="md:265598")
    err = await c.until(lambda m: m.get("id") == rid)
    assert err["type"] == "Error" and "'keys' must be a list" in err["message"], err
    await c.close()


async def test_graphql_json_nested_too_deeply_is_a_bad_request(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """A GraphQL body or graphql-ws message nested 100,000 deep hit Python's recursion limit in
    the JSON decoder: a 500 with a traceback in the service's log, a WebSocket dropped without a
    close code. It is now what any JSON that cannot be parsed is: 400, close 4400."""
    deep = "[" * 100_000 + "]" * 100_000
    body = '{"query":"{ accounts }","variables":{"x":' + deep + "}}"
    headers = {"Content-Type": "application/json"}
    async with http.post(f"{service.url}/graphql", data=body, headers=headers) as r:
        assert r.status == 400, await r.text()
    g = await GraphQLWS.connect(http, f"{service.url}/graphql")
    await g.ws.send_str('{"id":"1","type":"subscribe","payload":' + body + "}")
    msg = await g.ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4400, msg
    assert (await gql(http, service, "{ accounts }"))["data"]["accounts"]


async def test_streams_of_one_consumer_are_bounded_for_every_topic(
    make_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    """Only market data was bounded: one consumer held 500 historical-data streams (``mh``;
    IBKR serves a handful at once), each one a request on the shared session. Every topic now
    counts toward ``max_streams_per_consumer`` (default 200)."""
    service = await make_service()
    c = await plain_ws(http, service)
    replies: list[dict[str, object]] = []
    for k in range(3):
        replies += await c.subscribe(
            *({"topic": "mh", "conid": 1000 + 100 * k + i} for i in range(100))
        )
    assert sum(r["type"] == "Subscribed" for r in replies) == 200
    refused = [r for r in replies if r["type"] == "Error"]
    assert len(refused) == 100 and "max_streams_per_consumer" in str(refused[0]["message"])
    assert len(service.hub.upstreams) == 200
    assert service.hub.counts["refused_streams_per_consumer"] == 100
    # a stream it already holds is not a new one
    [again] = await c.subscribe({"topic": "mh", "conid": 1000})
    assert again["type"] == "Subscribed"
    await c.close()
