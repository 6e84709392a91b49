"""GraphQL at /graphql: queries, mutations, graphql-transport-ws subscriptions, limits, errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .helpers import AAPL, ACCOUNT, MSFT, GraphQLWS, gql, plain_ws, wait_for

pytestmark = pytest.mark.e2e


async def test_queries(service: Service, http: aiohttp.ClientSession, sim: Simulator) -> None:
    """status, accounts, tickers, orders, trades, pnl, summary, ledger, subscriptions."""
    c = await plain_ws(http, service)
    await c.subscribe(
        {"topic": "md", "conid": AAPL},
        {"topic": "or"},
        {"topic": "tr"},
        {"topic": "pl"},
        {"topic": "sd", "account": ACCOUNT},
        {"topic": "ld", "account": ACCOUNT},
    )
    await sim.place_order(AAPL, "BUY", 2, "LMT", price=1.0)
    client = service.client
    assert client is not None
    await wait_for(
        lambda: (
            AAPL in client.tickers
            and len(client.orders) > 0
            and len(client.trades) > 0
            and bool(client.account.pnl)
            and bool(client.account.summary(ACCOUNT))
            and bool(client.account.ledger(ACCOUNT))
        )
    )
    body = await gql(
        http,
        service,
        """query Q($conids: [Int!], $account: String!) {
          status { state authenticated ready gateway accounts consumers upstreamSubscriptions }
          accounts
          tickers(conids: $conids, fields: ["last", "84"]) {
            conid symbol last bid ask fields { id name value } }
          orders(openOnly: false) { orderId conid side status fields }
          trades(limit: 5) { executionId conid price size }
          pnl { account row dailyPnl netLiquidity }
          accountSummary(account: $account) { account values { key value currency } }
          ledger(account: $account) { currency values }
          subscriptions { key state consumers pinned spec }
        }""",
        conids=[AAPL],
        account=ACCOUNT,
    )
    assert "errors" not in body, body
    d = body["data"]
    assert d["status"]["state"] == "AUTHENTICATED" and d["status"]["ready"] is True
    assert d["status"]["upstreamSubscriptions"] == 6
    assert d["accounts"] == [ACCOUNT]
    [t] = d["tickers"]
    assert t["conid"] == AAPL and t["symbol"] == "AAPL" and t["last"] > 0
    assert {f["id"] for f in t["fields"]} <= {31, 84} and t["fields"][0]["name"]
    assert d["orders"] and d["orders"][0]["conid"] == AAPL
    assert d["trades"] and d["pnl"][0]["account"] == ACCOUNT
    assert d["accountSummary"]["values"] and d["ledger"]
    keys = {s["key"]: s for s in d["subscriptions"]}
    assert keys[f"md:{AAPL}"]["consumers"] == 1 and keys[f"md:{AAPL}"]["state"] == "ACTIVE"


async def test_errors_are_graphql_errors(service: Service, http: aiohttp.ClientSession) -> None:
    """Bad arguments come back as GraphQL errors with a clear message."""
    body = await gql(http, service, '{ tickers(fields: ["no_such_field"]) { conid } }')
    assert "no_such_field" in body["errors"][0]["message"]
    body = await gql(
        http,
        service,
        'mutation { subscribeUpstream(spec: {topic: "md"}) { key } }',
    )
    assert "conid: is required" in body["errors"][0]["message"]
    body = await gql(http, service, "{ nope }")
    assert "nope" in body["errors"][0]["message"]


async def test_depth_alias_and_token_limits(make_service: Any, http: aiohttp.ClientSession) -> None:
    """Documents deeper than the limit, with too many aliases or tokens are refused."""
    service = await make_service(max_query_depth=1)
    body = await gql(http, service, "{ tickers { fields { id } } }")
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    body = await gql(http, service, "{ accounts }")
    assert body == {"data": {"accounts": [ACCOUNT]}}
    huge = "{ " + " ".join(f"a{i}: accounts" for i in range(1500)) + " }"
    body = await gql(http, service, huge)
    assert body["errors"] and body.get("data") is None
    aliases = "{ " + " ".join(f"a{i}: accounts" for i in range(40)) + " }"
    body = await gql(http, service, aliases)
    assert "aliases" in body["errors"][0]["message"].lower()


UNPIN = "mutation U($key: String!) { unsubscribeUpstream(key: $key) }"


async def test_mutations_pin_and_release_upstream(
    make_service: Any, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """subscribeUpstream holds a stream without consumers; unsubscribeUpstream releases it
    (after the grace period)."""
    service = await make_service(grace=0.2)
    body = await gql(
        http,
        service,
        'mutation M($c: Int!) { subscribeUpstream(spec: {topic: "md", conid: $c, '
        'fields: ["31"]}) { key state pinned consumers } }',
        c=MSFT,
    )
    assert body["data"]["subscribeUpstream"]["pinned"] is True
    await wait_for(lambda: len(sim.received_matching(f"smd+{MSFT}")) == 1)
    # A marker: an unpinned stream opened and left after the pin; its grace period ends later
    # than an unpinned MSFT's would, so its umd proves MSFT outlived a grace period.
    c = await plain_ws(http, service)
    await c.subscribe({"topic": "md", "conid": AAPL})
    await c.close()
    await wait_for(lambda: sim.received_count(f"umd+{AAPL}+{{}}") == 1)
    assert sim.received_count(f"umd+{MSFT}+{{}}") == 0
    body = await gql(http, service, UNPIN, key=f"md:{MSFT}")
    assert body["data"]["unsubscribeUpstream"] is True
    await wait_for(lambda: sim.received_count(f"umd+{MSFT}+{{}}") == 1)
    body = await gql(http, service, UNPIN, key=f"md:{MSFT}")
    assert body["data"]["unsubscribeUpstream"] is False


async def test_market_data_subscription_many_conids_chosen_fields(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """graphql-transport-ws: next messages for several conids, only the chosen fields."""
    ws = await GraphQLWS.connect(http, f"{service.url}/graphql")
    sid = await ws.subscribe(
        """subscription S($conids: [Int!]!) {
             marketData(conids: $conids, fields: ["31", "bid"]) {
               __typename
               ... on Ticker { conid last bid fields { id value } changed { id } }
               ... on StreamState { key state }
             } }""",
        {"conids": [AAPL, MSFT]},
    )
    seen: set[int] = set()
    while seen != {AAPL, MSFT}:
        data = await ws.data_until(sid, lambda d: d["marketData"]["__typename"] == "Ticker")
        t = data["marketData"]
        seen.add(t["conid"])
        assert {f["id"] for f in t["fields"]} <= {31, 84}
    assert any('"fields":["31","84"]' in m for m in sim.received_matching(f"smd+{AAPL}"))
    await ws.complete(sid)
    await wait_for(lambda: not service.hub.consumers)
    await ws.close()


async def test_account_subscriptions_and_lifecycle(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """orders, trades, pnl, summary, ledger and lifecycle subscriptions deliver."""
    ws = await GraphQLWS.connect(http, f"{service.url}/graphql")
    subs = {
        "orders": await ws.subscribe(
            "subscription { orders { ... on OrderChange { orderId status order { side } } } }"
        ),
        "trades": await ws.subscribe(
            "subscription { trades { ... on Execution { executionId price } } }"
        ),
        "pnl": await ws.subscribe("subscription { pnl { ... on PnlRow { account dailyPnl } } }"),
        "accountSummary": await ws.subscribe(
            "subscription S($a: String!) { accountSummary(account: $a) "
            "{ ... on AccountSummaryValues { account values { key } } } }",
            {"a": ACCOUNT},
        ),
        "accountLedger": await ws.subscribe(
            "subscription L($a: String!) { accountLedger(account: $a) "
            "{ ... on LedgerBalance { currency } } }",
            {"a": ACCOUNT},
        ),
        "lifecycle": await ws.subscribe(
            "subscription { lifecycle { __typename ... on SessionChange { state } "
            "... on StreamGap { key } ... on StreamState { key state } } }"
        ),
    }
    first = await ws.data_until(subs["lifecycle"], lambda d: True)
    assert first["lifecycle"] == {"__typename": "SessionChange", "state": "AUTHENTICATED"}
    await wait_for(lambda: bool(sim.received_matching("sor") and sim.received_matching("str")))
    order = await sim.place_order(AAPL, "SELL", 3, "MKT")
    o = await ws.data_until(
        subs["orders"], lambda d: d["orders"].get("orderId") == str(order.order_id)
    )
    assert o["orders"]["status"]
    for name in ("trades", "pnl", "accountSummary", "accountLedger"):
        await ws.data_until(subs[name], lambda d, n=name: bool(d[n]), timeout=5)
    await sim.drop_connections()
    gap = await ws.data_until(
        subs["lifecycle"], lambda d: d["lifecycle"]["__typename"] == "StreamGap", timeout=8
    )
    assert gap["lifecycle"]["key"]
    await ws.close()
    await wait_for(lambda: not service.hub.consumers)


async def test_subscription_argument_error(service: Service, http: aiohttp.ClientSession) -> None:
    """A bad subscription argument is an error message on the subscription, not a crash."""
    ws = await GraphQLWS.connect(http, f"{service.url}/graphql")
    sid = await ws.subscribe("subscription { marketData(conids: []) { __typename } }")
    msg = await ws.next(sid)
    assert msg["type"] in ("error", "next"), msg
    text = str(msg["payload"])
    assert "at least one contract id" in text
    sid = await ws.subscribe(
        'subscription H($c: Int!) { marketHistory(conid: $c, bar: "7min") { __typename } }',
        {"c": AAPL},
    )
    msg = await ws.next(sid)
    assert "bar" in str(msg["payload"])
    await ws.close()


async def test_history_and_ladder_subscriptions(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """marketHistory and priceLadder: one upstream spec each, built from the arguments."""
    ws = await GraphQLWS.connect(http, f"{service.url}/graphql")
    hist = await ws.subscribe(
        """subscription H($c: Int!) { marketHistory(conid: $c, period: "2d", bar: "1h") {
             __typename ... on MarketHistoryUpdate { conid bars { close } } } }""",
        {"c": AAPL},
    )
    ladder = await ws.subscribe(
        """subscription L($a: String!, $c: Int!) { priceLadder(account: $a, conid: $c) {
             __typename ... on PriceLadderUpdate { account rows { price } } } }""",
        {"a": ACCOUNT, "c": AAPL},
    )
    h = await ws.data_until(
        hist, lambda d: d["marketHistory"]["__typename"] == "MarketHistoryUpdate"
    )
    assert h["marketHistory"]["conid"] == AAPL and h["marketHistory"]["bars"]
    lad = await ws.data_until(
        ladder, lambda d: d["priceLadder"]["__typename"] == "PriceLadderUpdate"
    )
    assert lad["priceLadder"]["account"] == ACCOUNT and lad["priceLadder"]["rows"]
    [sent] = sim.received_matching(f"smh+{AAPL}")
    assert '"period":"2d"' in sent and '"bar":"1h"' in sent
    assert sim.received_matching(f"sbd+{ACCOUNT}+{AAPL}")
    await ws.close()
    await wait_for(lambda: not service.hub.consumers)
