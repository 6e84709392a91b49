"""Issue 20.1 in the service: the plain stream, SSE and the GraphQL ``trades`` subscription see
one opening snapshot per market-data stream and one ``Trade`` per execution; the re-send with the
commission comes as ``TradeUpdated`` (``updated: true`` in GraphQL)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .helpers import AAPL, GraphQLWS, plain_ws, sse_events, wait_for

pytestmark = pytest.mark.e2e


async def test_plain_stream_counts_once(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    c = await plain_ws(http, service)
    await c.subscribe({"topic": "md", "conid": AAPL}, {"topic": "tr"})
    await wait_for(lambda: bool(sim.received_matching("str")))
    await sim.place_order(AAPL, "BUY", 5, "MKT")
    seen: list[dict[str, Any]] = []

    def record(m: dict[str, Any]) -> bool:
        seen.append(m)
        return m["type"] == "TradeUpdated" and "commission" in m["changed"]

    update = await c.until(record, timeout=10)
    assert update["trade"]["commission"] == update["changed"]["commission"]
    assert update["trade"]["execution_id"] == update["execution_id"]
    trades = Counter(m["execution_id"] for m in seen if m["type"] == "Trade")
    assert trades[update["execution_id"]] == 1 and max(trades.values()) == 1
    market = [m["values"] for m in seen if m["type"] == "MarketData"]
    assert market and (len(market) < 2 or market[0] != market[1])
    async with http.get(f"{service.url}/metrics") as r:
        text = await r.text()
    counts = dict(re.findall(r'ibstream_upstream_suppressed_total\{kind="(\w+)"\} (\d+)', text))
    assert int(counts["opening_snapshots"]) >= 1 and int(counts["trade_updates"]) >= 1


async def test_sse_delivers_trade_updated(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    async with http.get(f"{service.url}/events?topic=tr") as resp:
        await wait_for(lambda: bool(sim.received_matching("str")))
        await sim.place_order(AAPL, "BUY", 1, "MKT")
        got: list[tuple[str, dict[str, Any]]] = []
        while not any(d["type"] == "TradeUpdated" for _, d in got):
            got += await sse_events(resp, 1, timeout=10.0)
    per_id = Counter(d["execution_id"] for _, d in got if d["type"] == "Trade")
    assert per_id and max(per_id.values()) == 1


async def test_graphql_trades_subscription_marks_updates(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    ws = await GraphQLWS.connect(http, f"{service.url}/graphql")
    sid = await ws.subscribe(
        "subscription { trades { ... on Execution { executionId commission updated changed } } }"
    )
    await wait_for(lambda: bool(sim.received_matching("str")))
    await sim.place_order(AAPL, "BUY", 1, "MKT")
    seen: list[dict[str, Any]] = []

    def record(d: dict[str, Any]) -> bool:
        seen.append(d["trades"])
        return bool(d["trades"].get("updated"))

    update = (await ws.data_until(sid, record, timeout=10))["trades"]
    assert update["changed"] == ["commission"] and update["commission"] is not None
    firsts = Counter(t["executionId"] for t in seen if t.get("updated") is False)
    assert firsts[update["executionId"]] == 1 and max(firsts.values()) == 1
    await ws.close()
