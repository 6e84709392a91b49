"""The plain endpoints (/stream WebSocket, /events SSE), sharing, tokens, faults, health.

Everything runs over real sockets: the simulator and the service on port 0, aiohttp clients.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import (
    AAPL,
    ACCOUNT,
    MSFT,
    TOKEN,
    GraphQLWS,
    StreamClosed,
    plain_ws,
    sse_events,
    wait_for,
)
from .rawws import raw_ws, ws_text

pytestmark = pytest.mark.e2e


def is_md(conid: int) -> Any:
    return lambda m: m["type"] == "MarketData" and m["conid"] == conid


async def test_plain_ws_subscribe_events_and_unsubscribe(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """subscribe -> Subscribed reply, MarketData as event_to_json; unsubscribe stops it."""
    c = await plain_ws(http, service)
    [reply] = await c.subscribe({"topic": "md", "conid": AAPL, "fields": ["31", "84", "86"]})
    assert reply["type"] == "Subscribed" and reply["key"] == f"md:{AAPL}"
    assert reply["spec"]["fields"] == ["31", "84", "86"]
    md = await c.until(is_md(AAPL))
    assert md["key"] == f"md:{AAPL}" and set(md["values"]) <= {"31", "84", "86", "6119", "55"}
    rid = await c.send("unsubscribe", key=f"md:{AAPL}")
    reply = await c.until(lambda m: m.get("id") == rid)
    assert reply == {"type": "Unsubscribed", "id": rid, "key": f"md:{AAPL}", "held": True}
    # Events queued before the detach came before the reply; after it, nothing of AAPL. A marker
    # stream makes that checkable: everything up to its first event must be free of AAPL.
    await c.send("subscribe", specs=[{"topic": "md", "conid": MSFT}])
    after: list[dict[str, Any]] = []
    while not is_md(MSFT)(m := await c.next()):
        after.append(m)
    assert not [m for m in after if m.get("type") == "MarketData" and m["conid"] == AAPL]
    await c.close()


async def test_plain_ws_errors_are_replies(service: Service, http: aiohttp.ClientSession) -> None:
    """Bad messages get an Error reply naming the problem; the socket stays open."""
    c = await plain_ws(http, service)
    await c.ws.send_str("not json")
    assert (await c.next())["type"] == "Error"
    rid = await c.send("subscribe", spec={"topic": "md"})
    err = await c.until(lambda m: m.get("id") == rid)
    assert err["type"] == "Error" and "conid" in err["message"]
    rid = await c.send("subscribe", spec={"topic": "zz", "conid": 1})
    assert "topic" in (await c.until(lambda m: m.get("id") == rid))["message"]
    rid = await c.send("subscribe", spec={"topic": "md", "conid": AAPL, "colour": "red"})
    assert "colour" in (await c.until(lambda m: m.get("id") == rid))["message"]
    rid = await c.send("dance")
    assert "unknown op" in (await c.until(lambda m: m.get("id") == rid))["message"]
    rid = await c.send("ping")
    assert (await c.until(lambda m: m.get("id") == rid))["type"] == "Pong"
    await c.close()


async def test_filters_per_consumer(service: Service, http: aiohttp.ClientSession) -> None:
    """A consumer's conid filter narrows what it receives; another consumer is unaffected."""
    a = await plain_ws(http, service)
    b = await plain_ws(http, service, "?conid=" + str(MSFT))
    for c in (a, b):
        await c.subscribe({"topic": "md", "conid": AAPL}, {"topic": "md", "conid": MSFT})
    await a.until(is_md(AAPL))
    await a.until(is_md(MSFT))
    for _ in range(20):
        m = await b.until(lambda m: m["type"] == "MarketData")
        assert m["conid"] == MSFT
    rid = await b.send("filter", conids=[AAPL])
    assert (await b.until(lambda m: m.get("id") == rid))["conids"] == [AAPL]
    await b.until(is_md(AAPL))
    rid = await b.send("filter", topics=["zz"])
    assert (await b.until(lambda m: m.get("id") == rid))["type"] == "Error"


async def test_joining_a_live_stream_gets_the_current_state_first(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """IBKR sends deltas after the first frame: a late consumer first gets a full snapshot."""
    a = await plain_ws(http, service)
    await a.subscribe({"topic": "md", "conid": AAPL})
    await a.until(is_md(AAPL))
    for _ in range(3):  # deltas only from here on upstream
        await a.until(is_md(AAPL))
    b = await plain_ws(http, service)
    await b.subscribe({"topic": "md", "conid": AAPL})
    first = await b.until(is_md(AAPL))
    assert {"31", "55", "84", "86"} <= set(first["values"])
    assert first["values"]["55"] == "AAPL"


async def test_n_consumers_one_upstream_subscription_then_grace(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """5 consumers over 3 protocols -> one smd upstream; the last leaving unsubscribes after
    the grace period; a re-subscribe within the grace period reuses the live stream."""
    service = await make_service(grace=0.5)
    plain = [await plain_ws(http, service) for _ in range(3)]
    for c in plain:
        await c.subscribe({"topic": "md", "conid": AAPL})
    sse = await http.get(f"{service.url}/events?topic=md&conid={AAPL}")
    gql = await GraphQLWS.connect(http, f"{service.url}/graphql")
    sid = await gql.subscribe(
        "subscription S($c: [Int!]!) { marketData(conids: $c) { ... on Ticker { conid } } }",
        {"c": [AAPL]},
    )
    for c in plain:
        await c.until(is_md(AAPL))
    assert any(d["type"] == "MarketData" for _, d in await sse_events(sse, 6))
    await gql.data_until(sid, lambda d: d["marketData"].get("conid") == AAPL)
    assert len(sim.received_matching(f"smd+{AAPL}")) == 1
    assert service.hub.upstreams[next(iter(service.hub.upstreams))].consumers
    assert len(service.hub.upstreams) == 1
    # everybody leaves ...
    for c in plain:
        await c.close()
    sse.close()
    await gql.complete(sid)
    await gql.close()
    await wait_for(lambda: not service.hub.consumers)
    assert sim.received_count(f"umd+{AAPL}+{{}}") == 0  # still within the grace period
    # ... one comes back within the grace period: the live stream is reused
    again = await plain_ws(http, service)
    await again.subscribe({"topic": "md", "conid": AAPL})
    await again.until(is_md(AAPL))
    assert len(sim.received_matching(f"smd+{AAPL}")) == 1
    await again.close()
    await wait_for(lambda: sim.received_count(f"umd+{AAPL}+{{}}") == 1, timeout=3)
    assert not service.hub.upstreams
    assert service.hub.counts["grace_reuses"] == 1


async def test_sse_endpoint_with_filters(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """/events subscribes from the query; account filters apply to account streams."""
    async with http.get(f"{service.url}/events?topic=md&conid={AAPL},{MSFT}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await sse_events(resp, 12)
        assert events[0][1]["type"] == "Status"
        conids = {d["conid"] for _, d in events if d["type"] == "MarketData"}
        assert conids <= {AAPL, MSFT} and conids
    async with http.get(f"{service.url}/events?topic=pl&account={ACCOUNT}") as resp:
        pnl = [d for _, d in await sse_events(resp, 6) if d["type"] == "Pnl"]
        assert pnl and all(d["account"] == ACCOUNT for d in pnl)
    async with http.get(f"{service.url}/events?topic=pl&account=DU0000000") as resp:
        got = await sse_events(resp, 4, timeout=1.0, exact=False)
        assert not [d for _, d in got if d["type"] == "Pnl"]
    async with http.get(f"{service.url}/events?topic=md") as resp:
        assert resp.status == 400
        assert "conid" in (await resp.json())["error"]


async def test_orders_and_trades_reach_consumers(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Order updates and executions flow to the plain stream."""
    c = await plain_ws(http, service)
    await c.subscribe({"topic": "or"}, {"topic": "tr"})
    await wait_for(lambda: bool(sim.received_matching("sor") and sim.received_matching("str")))
    order = await sim.place_order(AAPL, "BUY", 5, "MKT")
    upd = await c.until(lambda m: m["type"] == "OrderUpdate" and m["order_id"] == order.order_id)
    assert upd["key"] == "or"
    await c.until(lambda m: m["type"] == "Trade")


async def test_token_enforced_on_every_request(
    make_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    """Missing or wrong token: 401 on HTTP, WebSocket and SSE; right token: through."""
    service = await make_service(token=TOKEN)
    base = service.url
    for path in ("/readyz", "/livez", "/metrics", "/", "/events?topic=or"):
        async with http.get(base + path) as r:
            assert r.status == 401, path
            assert "missing" in (await r.json())["error"]
        async with http.get(base + path, headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401 and "invalid" in (await r.json())["error"]
    async with http.post(base + "/graphql", json={"query": "{ accounts }"}) as r:
        assert r.status == 401
    for url in (f"{base}/stream", f"{base}/graphql", f"{base}/stream?token=nope"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, protocols=("graphql-transport-ws",))
        assert info.value.status == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    async with http.get(base + "/readyz", headers=good) as r:
        assert r.status == 200
    async with http.post(base + "/graphql", json={"query": "{ accounts }"}, headers=good) as r:
        assert (await r.json())["data"]["accounts"] == [ACCOUNT]
    c = await plain_ws(http, service, f"?token={TOKEN}")
    await c.subscribe({"topic": "md", "conid": AAPL})
    await c.until(is_md(AAPL))
    gql = await GraphQLWS.connect(http, f"{base}/graphql", headers=good)
    await gql.close()


async def test_foreign_browser_origin_rejected(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """A page on another origin cannot open the stream (WebSockets are not covered by CORS)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(f"{service.url}/stream", headers={"Origin": "https://evil.test"})
    assert info.value.status == 403
    c = await plain_ws(http, service, headers={"Origin": service.url})
    await c.close()


async def test_upstream_drop_reaches_every_consumer_as_gap_then_recovers(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """sim.drop_connections: plain WS, SSE and GraphQL consumers each get a Gap, then data."""
    c = await plain_ws(http, service)
    await c.subscribe({"topic": "md", "conid": AAPL})
    sse = await http.get(f"{service.url}/events?topic=md&conid={AAPL}")
    gql = await GraphQLWS.connect(http, f"{service.url}/graphql")
    sid = await gql.subscribe(
        "subscription S($c: [Int!]!) { marketData(conids: $c) { __typename "
        "... on StreamGap { key start end } ... on Ticker { conid } } }",
        {"c": [AAPL]},
    )
    await c.until(is_md(AAPL))
    await gql.data_until(sid, lambda d: d["marketData"]["__typename"] == "Ticker")
    assert await sse_events(sse, 3)
    await sim.drop_connections()
    gap = await c.until(lambda m: m["type"] == "Gap", timeout=8)
    assert gap["key"] == f"md:{AAPL}" and gap["end"] >= gap["start"]
    await c.until(is_md(AAPL))
    g = await gql.data_until(sid, lambda d: d["marketData"]["__typename"] == "StreamGap", 8)
    assert g["marketData"]["key"] == f"md:{AAPL}"
    await gql.data_until(sid, lambda d: d["marketData"]["__typename"] == "Ticker")
    names: list[str] = []
    async with asyncio.timeout(8):
        while "Gap" not in names:
            names += [d["type"] for _, d in await sse_events(sse, 1)]
    sse.close()
    assert service.hub.authenticated
    assert service.client is not None and service.client.metrics()["gaps"] >= 1


async def test_readyz_reflects_upstream(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """/readyz is 200 when authenticated, 503 with a reason while upstream is down."""
    async with http.get(f"{service.url}/readyz") as r:
        assert r.status == 200 and (await r.json())["session"] == "AUTHENTICATED"
    sim.logout()
    await sim.drop_connections()
    await wait_for(lambda: not service.hub.authenticated)
    async with http.get(f"{service.url}/readyz") as r:
        body = await r.json()
        assert r.status == 503 and "upstream session is" in body["reason"]
    sim.login(new_session=False)
    await wait_for(lambda: service.hub.authenticated, timeout=8)
    async with http.get(f"{service.url}/readyz") as r:
        assert r.status == 200
    async with http.get(f"{service.url}/livez") as r:
        assert r.status == 200


async def test_metrics_exposition(service: Service, http: aiohttp.ClientSession) -> None:
    """/metrics: client counters plus consumer figures per kind, in Prometheus text format."""
    c = await plain_ws(http, service)
    await c.subscribe({"topic": "md", "conid": AAPL})
    for _ in range(5):
        await c.until(is_md(AAPL))
    async with http.get(f"{service.url}/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    for name in (
        "ibstream_upstream_frames_total",
        "ibstream_upstream_reconnects_total",
        'ibstream_upstream_session_state{state="AUTHENTICATED"} 1',
        'ibstream_consumer_queue_depth{kind="ws"}',
        'ibstream_consumer_sent_events_total{kind="ws"}',
        'ibstream_consumer_conflated_total{kind="ws"}',
        "ibstream_service_slow_consumer_disconnects_total 0.0",
        'ibstream_service_stream_consumers{pinned="false",topic="md"} 1.0',
        "process_cpu_seconds_total",
    ):
        assert name in text, name
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


async def test_slow_consumer_does_not_slow_a_fast_one_and_is_cut_off_on_orders(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """A consumer that never reads conflates market data, then overflows on an order update
    and is disconnected; a fast consumer of the same streams keeps its pace and gets the order.
    """
    service = await make_service(buffer_size=100, slow_consumer_timeout=0.5, send_buffer=8192)
    sim.set_update_interval(None, 0.002)
    fast = await plain_ws(http, service)
    await fast.subscribe(
        *({"topic": "md", "conid": i.conid} for i in sim.config.instruments), {"topic": "or"}
    )
    await fast.until(lambda m: m["type"] == "MarketData")
    [fast_consumer] = service.hub.consumers.values()
    slow_sock, _ = await raw_ws(service.url)
    loop = asyncio.get_running_loop()
    for spec in [*({"topic": "md", "conid": i.conid} for i in sim.config.instruments)]:
        await loop.sock_sendall(slow_sock, ws_text({"op": "subscribe", "spec": spec}))
    await loop.sock_sendall(slow_sock, ws_text({"op": "subscribe", "spec": {"topic": "or"}}))
    await wait_for(lambda: len(service.hub.consumers) == 2)
    [slow] = [c for c in service.hub.consumers.values() if c is not fast_consumer]
    await wait_for(lambda: len(slow.keys) == 11)

    # Market data: the slow consumer's queue fills and conflates; the fast one keeps up.
    start = time.monotonic()
    count = 0
    while time.monotonic() - start < 3.0 and slow.queue.conflated < 50:
        m = await fast.next()
        count += m["type"] == "MarketData"
    assert slow.queue.conflated >= 50, slow.queue
    assert len(slow.queue) <= 100
    lag_start = time.monotonic()
    for _ in range(200):
        m = await fast.until(lambda m: m["type"] == "MarketData")
    recent = m["updated_ms"] / 1000.0
    assert time.time() - recent < 1.0  # the fast consumer reads fresh data
    assert time.monotonic() - lag_start < 2.0
    assert fast_consumer.queue.conflated <= slow.queue.conflated // 10

    # An order update cannot be conflated: the slow consumer overflows and is cut off.
    order = await sim.place_order(AAPL, "BUY", 1, "LMT", price=1.0)
    await fast.until(lambda m: m["type"] == "OrderUpdate" and m["order_id"] == order.order_id)
    await wait_for(lambda: slow.id not in service.hub.consumers, timeout=3)
    assert service.hub.disconnected_slow == 1
    assert slow.queue.overflowed and "never dropped" in slow.close_reason
    slow_sock.close()
    for _ in range(20):  # and the fast consumer still flows
        await fast.until(lambda m: m["type"] == "MarketData")


async def test_slow_consumer_is_told_before_it_is_disconnected(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """A consumer that reads late gets what was queued, then a SlowConsumer notice and 4008."""
    service = await make_service(buffer_size=3)
    c = await plain_ws(http, service)
    await c.subscribe({"topic": "or"})
    consumer = next(iter(service.hub.consumers.values()))
    # Push more never-dropped events than fit, in one round: a round that fits an empty queue
    # would be written to the socket at once (the consumer keeps up); one that does not is
    # queued event by event under the policy.
    service.hub.rounds.max_events = 100
    from ibstream.protocol.events import OrderUpdate
    from ibstream.protocol.specs import StreamKey, Topic

    for i in range(10):
        ev = OrderUpdate(
            key=StreamKey(Topic.ORDERS, ""),
            account=ACCOUNT,
            order_id=1000 + i,
            conid=AAPL,
            status="Submitted",
            changes={},
            raw={},
        )
        service.hub.client.router.dispatch([ev])
    service.hub.rounds.flush()  # the round of these 10 events, now (no writer ran between)
    assert consumer.queue.overflowed
    seen = []
    with pytest.raises(StreamClosed) as info:
        while True:
            seen.append(await c.next())
    assert info.value.code == 4008
    assert seen[-1]["type"] == "SlowConsumer" and "never dropped" in seen[-1]["reason"]
    assert [m["order_id"] for m in seen if m["type"] == "OrderUpdate"] == [1000, 1001, 1002]
