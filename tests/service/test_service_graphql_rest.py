"""GraphQL queries of the REST features over real HTTP: contracts of every type, snapshots,
history, portfolio and live positions, typed errors."""

from __future__ import annotations

import aiohttp
import pytest

from ibstream.service import Service
from ibstream.sim import Simulator

from .helpers import AAPL, ACCOUNT, gql, wait_for

pytestmark = pytest.mark.e2e


async def test_contracts_of_every_type(service: Service, http: aiohttp.ClientSession) -> None:
    q = """query($i: String!) { contract(instrument: $i) {
        conid conidex secType symbol description currency multiplier legs } }"""
    out = {}
    for text in ("AAPL", "ES", "EUR.USD", "SPX", "AAPL CFD", "28812380;;;265598/1,272093/-1"):
        body = await gql(http, service, q, i=text)
        assert "errors" not in body, body
        out[text] = body["data"]["contract"]
    assert out["AAPL"]["conid"] == AAPL and out["AAPL"]["secType"] == "STK"
    assert out["ES"]["secType"] == "FUT" and out["ES"]["multiplier"] == 50
    assert out["EUR.USD"]["conid"] == 12087792 and out["EUR.USD"]["secType"] == "CASH"
    assert out["SPX"]["secType"] == "IND"
    assert out["AAPL CFD"]["secType"] == "CFD"
    combo = out["28812380;;;265598/1,272093/-1"]
    assert combo["secType"] == "BAG" and combo["legs"] == [
        {"conid": 265598, "ratio": 1},
        {"conid": 272093, "ratio": -1},
    ]
    body = await gql(
        http,
        service,
        """{ futures(symbol: "ES") { conid expirationDate }
             optionMonths(symbol: "AAPL") }""",
    )
    assert len(body["data"]["futures"]) == 4
    month = body["data"]["optionMonths"][0]
    strikes_q = 'query($m: String!) { optionStrikes(symbol: "AAPL", month: $m) { call put } }'
    body = await gql(http, service, strikes_q, m=month)
    assert body["data"]["optionStrikes"]["call"]


async def test_snapshot_and_history(service: Service, http: aiohttp.ClientSession) -> None:
    body = await gql(
        http,
        service,
        """{ snapshot(instruments: ["AAPL", "EUR.USD"], fields: ["31", "84", "86", "55"]) {
               conid symbol last bid ask hasData fields } }""",
    )
    assert "errors" not in body, body
    aapl, eur = body["data"]["snapshot"]
    assert aapl["conid"] == AAPL and aapl["hasData"] and aapl["last"] > 0
    assert aapl["bid"] <= aapl["ask"] and aapl["fields"]["55"] == "AAPL"
    assert eur["conid"] == 12087792 and eur["last"] > 0
    body = await gql(
        http,
        service,
        """{ history(instrument: "AAPL", period: "1d", bar: "1h") {
               conid symbol bars { timeMs open high low close volume } } }""",
    )
    hist = body["data"]["history"]
    assert hist["conid"] == AAPL and len(hist["bars"]) == 24
    assert all(b["low"] <= b["high"] for b in hist["bars"])


async def test_portfolio_and_live_positions(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    body = await gql(
        http,
        service,
        """{ portfolioAccounts { accountId currency }
             portfolioSummary { key amount currency }
             portfolioLedger { currency cashBalance }
             positions { account conid quantity } }""",
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["portfolioAccounts"] == [{"accountId": ACCOUNT, "currency": "USD"}]
    keys = {i["key"] for i in data["portfolioSummary"]}
    assert "netliquidation" in keys
    assert {c["currency"] for c in data["portfolioLedger"]} == {"USD", "BASE"}
    before = {p["conid"]: p["quantity"] for p in data["positions"]}
    await sim.place_order(AAPL, "BUY", 4, "MKT")
    live = service.hub.client.positions
    await wait_for(lambda: live.quantity(AAPL) == before.get(AAPL, 0) + 4, timeout=10)
    body = await gql(http, service, "{ positions { conid quantity } }")
    after = {p["conid"]: p["quantity"] for p in body["data"]["positions"]}
    assert after[AAPL] == before.get(AAPL, 0) + 4


async def test_errors_carry_the_endpoint(service: Service, http: aiohttp.ClientSession) -> None:
    body = await gql(http, service, '{ contract(instrument: "NOSUCH") { conid } }')
    (err,) = body["errors"]
    assert (
        "unknown symbol 'NOSUCH'" in err["message"] and "/iserver/secdef/search" in err["message"]
    )
    body = await gql(http, service, '{ contract(instrument: "999999999") { conid } }')
    assert "/iserver/contract/999999999/info" in body["errors"][0]["message"]
    body = await gql(http, service, '{ history(instrument: "AAPL", bar: "7min") { conid } }')
    assert "bar" in body["errors"][0]["message"]


async def test_pacing_state_in_prometheus(service: Service, http: aiohttp.ClientSession) -> None:
    await gql(http, service, '{ history(instrument: "AAPL", period: "1h", bar: "5min") { conid } }')
    async with http.get(f"{service.url}/metrics") as r:
        text = await r.text()
    assert 'ibstream_rest_granted_total{limit="history"} 1.0' in text
    assert 'ibstream_rest_throttled_total{limit="snapshot"} 0.0' in text
    assert 'ibstream_rest_in_flight{limit="history"} 0.0' in text
    assert "ibstream_rest_queued 0.0" in text
    granted = [
        ln
        for ln in text.splitlines()
        if ln.startswith('ibstream_rest_granted_total{limit="global"}')
    ]
    assert granted and float(granted[0].rsplit(" ", 1)[1]) >= 3  # tickle, search, history...
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2
