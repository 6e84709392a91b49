"""REST endpoints of the simulated gateway (protocol.md §2, §9), over real HTTP."""

from __future__ import annotations

import re

import aiohttp
from tests.sim.conftest import open_ws, recv_json, sync

from ibstream.sim.testing import SimulatorFactory, wait_for


async def test_tickle_get_post_session_cookie_and_countdown(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """/tickle: 32-hex session, ssoExpires counts down, x-sess-uuid cookie, GET and POST."""
    sim = await simulator(time_scale=50)
    r1 = await http.post(sim.base_url + "/tickle")
    b1 = await r1.json()
    assert r1.status == 200 and re.fullmatch(r"[0-9a-f]{32}", b1["session"])
    assert b1["session"] == sim.session_id
    assert "x-sess-uuid" in r1.cookies
    assert b1["iserver"]["authStatus"]["authenticated"] is True
    assert b1["hmds"] == {"error": "no bridge"} and b1["collission"] is False
    await wait_for(lambda: sim.gateway.sso_expires_ms() < b1["ssoExpires"])
    r2 = await http.get(sim.base_url + "/tickle")
    assert (await r2.json())["session"] == b1["session"]
    assert r1.headers["cache-control"] == "max-age=0, no-cache, no-store"


async def test_auth_status_logout_login(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """Auth status per state; /logout -> {"status":true}, tickle 401, all-false status."""
    sim = await simulator()
    for method in ("GET", "POST"):
        r = await http.request(method, sim.base_url + "/iserver/auth/status")
        body = await r.json()
        assert body["authenticated"] and body["connected"] and not body["competing"]
    r = await http.post(sim.base_url + "/logout")
    assert await r.json() == {"status": True}
    assert (await http.post(sim.base_url + "/tickle")).status == 401
    assert (await http.get(sim.base_url + "/sso/validate")).status == 401
    body = await (await http.post(sim.base_url + "/iserver/auth/status")).json()
    assert body == {
        "authenticated": False,
        "established": False,
        "competing": False,
        "connected": False,
        "MAC": None,
    }
    old = sim.session_id
    assert sim.login() != old
    assert (await (await http.post(sim.base_url + "/tickle")).json())["session"] == sim.session_id


async def test_reauthenticate_and_ssodh_init_restore(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    await sim.lose_auth()
    body = await (await http.post(sim.base_url + "/iserver/auth/status")).json()
    assert body["authenticated"] is False and body["connected"] is True
    r = await http.post(sim.base_url + "/iserver/reauthenticate")
    assert await r.json() == {"message": "triggered"}
    assert sim.authenticated
    await sim.lose_auth()
    r = await http.post(
        sim.base_url + "/iserver/auth/ssodh/init", json={"publish": True, "compete": True}
    )
    assert (await r.json())["authenticated"] is True


async def test_accounts_same_as_act_and_sso_validate(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    accounts = await (await http.get(sim.base_url + "/iserver/accounts")).json()
    ws = await http.ws_connect(sim.ws_url, headers={"Cookie": f"api={sim.session_id}"})
    await recv_json(ws)
    act = await recv_json(ws)
    assert act["topic"] == "act" and act["args"] == accounts
    assert accounts["accounts"] == ["DU1234567"] and accounts["selectedAccount"] == "DU1234567"
    sso = await (await http.get(sim.base_url + "/sso/validate")).json()
    assert sso["RESULT"] is True and sso["USER_NAME"] == "simuser1" and sso["EXPIRES"] > 0
    await ws.close()


async def test_snapshot_preflight_and_unknown_conid(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """First call per conid returns only conid/conidEx; unknown -> 55 '-' / 31 'N/A' (§2.8)."""
    sim = await simulator()
    url = sim.base_url + "/iserver/marketdata/snapshot?conids=265598,104747&fields=31,84,86"
    first = await (await http.get(url)).json()
    assert first == [{"conid": 265598, "conidEx": "265598"}, {"conid": 104747, "conidEx": "104747"}]
    second = await (await http.get(url)).json()
    aapl, unknown = second
    assert isinstance(aapl["31"], str) and aapl["6119"] == aapl["server_id"]
    assert aapl["6119"].startswith("q") and "84" in aapl and "86" in aapl
    assert unknown["55"] == "-" and unknown["31"] == "N/A"


async def test_secdef_search_and_404(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    res = await (await http.get(sim.base_url + "/iserver/secdef/search?symbol=AAPL")).json()
    assert res[0]["conid"] == "265598" and res[0]["sections"][0]["secType"] == "STK"
    res = await (
        await http.post(sim.base_url + "/iserver/secdef/search", json={"symbol": "NVDA"})
    ).json()
    assert res[0]["conid"] == "4815747" and res[0]["companyName"] == "NVIDIA CORP"
    r = await http.get(sim.base_url + "/reauthenticate")
    assert r.status == 404 and r.content_type == "text/html"
    assert await r.text() == "<html><body><h1>Resource not found</h1></body></html>"


async def test_trsrv_symbols_lists_are_trimmed_upper_cased_and_skip_empty_entries(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    symbols = {"symbols": " aapl,,MSFT , "}
    stocks = await (await http.get(sim.base_url + "/trsrv/stocks", params=symbols)).json()
    assert sorted(stocks) == ["AAPL", "MSFT"] and stocks["AAPL"][0]["assetClass"] == "STK"
    futures = await (
        await http.get(sim.base_url + "/trsrv/futures", params={"symbols": "es,, "})
    ).json()
    assert list(futures) == ["ES"] and futures["ES"]


async def test_rate_limit_on_iserver_only(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """HTTP 429 past 10 req/s on /iserver paths; /tickle is never limited (§2.9)."""
    sim = await simulator(rate_limit=10.0)
    statuses = [(await http.get(sim.base_url + "/iserver/accounts")).status for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    tickles = [(await http.get(sim.base_url + "/tickle")).status for _ in range(15)]
    assert set(tickles) == {200}


async def test_idle_timeout_time_scaled(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """No request for 5 simulated minutes -> authenticated:false, sts pushed (§3.2)."""
    sim = await simulator(time_scale=600)  # 5 min = 0.5 s
    ws = await open_ws(http, sim)
    frame = await recv_json(ws, timeout=3)
    while frame.get("topic") != "sts":
        frame = await recv_json(ws, timeout=3)
    assert frame["args"]["authenticated"] is False
    body = await (await http.get(sim.base_url + "/iserver/auth/status")).json()
    assert body["authenticated"] is False and body["connected"] is True
    await ws.close()


async def test_orders_rest_place_cancel_and_filter_mute(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """POST/DELETE orders; filtered /orders mutes sor until force=true (§4.4)."""
    sim = await simulator()
    ws = await open_ws(http, sim)
    await ws.send_str("sor+{}")
    await wait_for(lambda: ["or"] in sim.active_subscriptions().values())
    far = round(sim.last_price(265598) * 0.5, 2)
    # a price this far from the market asks o163 (sim.entry): suppress it for the session
    r = await http.post(sim.base_url + "/iserver/questions/suppress", json={"messageIds": ["o163"]})
    assert (await r.json()) == {"status": "submitted"}
    r = await http.post(
        sim.base_url + "/iserver/account/DU1234567/orders",
        json={
            "orders": [
                {
                    "conid": 265598,
                    "orderType": "LMT",
                    "side": "BUY",
                    "quantity": 3,
                    "price": far,
                    "tif": "DAY",
                }
            ]
        },
    )
    placed = await r.json()
    oid = int(placed[0]["order_id"])
    frame = await recv_json(ws)
    assert frame["topic"] == "sor" and frame["args"][0]["orderId"] == oid
    listing = await (await http.get(sim.base_url + "/iserver/account/orders")).json()
    assert any(o["orderId"] == oid for o in listing["orders"])
    await http.get(sim.base_url + "/iserver/account/orders?filters=Submitted")
    r = await http.delete(f"{sim.base_url}/iserver/account/DU1234567/order/{oid}")
    assert (await r.json())["order_id"] == oid
    await wait_for(lambda: sim.gateway.book.orders[oid].status == "Cancelled")
    seen = await sync(ws)  # a marker after the cancel: a sor frame would come before it
    assert not any(
        f.get("topic") == "sor" and f["args"][0].get("status") == "Cancelled" for f in seen
    )
    await http.get(sim.base_url + "/iserver/account/orders?force=true")
    assert sim.gateway.sor_muted is False
    await ws.close()
