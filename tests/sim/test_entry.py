"""The simulator's order entry over raw HTTP: the gateway's shapes, prompts, cOIDs, faults."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory, wait_for

AAPL = 265598
ACCT = "DU1234567"


async def call(
    http: aiohttp.ClientSession, sim: Simulator, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with http.request(method, sim.base_url + path, json=body) as r:
        return r.status, await r.json()


def lmt(sim: Simulator, factor: float, **extra: Any) -> dict[str, Any]:
    price = round(sim.last_price(AAPL) * factor, 2)
    return {"conid": AAPL, "side": "BUY", "orderType": "LMT", "quantity": 1, "price": price} | extra


async def place(
    http: aiohttp.ClientSession, sim: Simulator, *orders: dict[str, Any]
) -> tuple[int, Any]:
    return await call(
        http, sim, "POST", f"/iserver/account/{ACCT}/orders", {"orders": list(orders)}
    )


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"conid": 1, "side": "BUY", "orderType": "MKT", "quantity": 1}, "not found"),
        ({"conid": AAPL, "side": "HOLD", "orderType": "MKT", "quantity": 1}, "side"),
        ({"conid": AAPL, "side": "BUY", "orderType": "LMT", "quantity": 1}, "price missing"),
        ({"conid": AAPL, "side": "BUY", "orderType": "STP", "quantity": 1}, "auxPrice missing"),
        ({"conid": AAPL, "side": "BUY", "orderType": "MKT", "quantity": -2}, "positive"),
        ({"conid": AAPL, "side": "BUY", "orderType": "MKT"}, "quantity"),
        ({"conid": AAPL, "side": "BUY", "orderType": "MOC", "quantity": 1, "tif": "GTC"}, "DAY"),
        ({"conid": AAPL, "side": "BUY", "orderType": "FOO", "quantity": 1}, "order type"),
    ],
)
async def test_validation_errors(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, spec: dict[str, Any], fragment: str
) -> None:
    """Invalid orders: HTTP 400 with {"error": ...}; nothing is created."""
    sim = await simulator()
    status, body = await place(http, sim, spec)
    assert status == 400 and fragment in body["error"]
    assert not sim.gateway.book.orders


async def test_prompt_chain_reply_suppress_and_coid(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """Prompts one at a time, single-use reply ids, suppression, cOID uniqueness."""
    sim = await simulator()
    sim.set_order_prompts([["p9", "Extra question"]])
    _, body = await place(http, sim, lmt(sim, 0.5, cOID="c1", quantity=600))
    assert body[0]["messageIds"] == ["o163"] and body[0]["isSuppressed"] is False
    first = body[0]["id"]
    _, body = await call(http, sim, "POST", f"/iserver/reply/{first}", {"confirmed": True})
    assert body[0]["messageIds"] == ["o383"]
    second = body[0]["id"]
    status, body = await call(http, sim, "POST", f"/iserver/reply/{first}", {"confirmed": True})
    assert status == 400 and "not valid" in body["error"]  # single use
    _, body = await call(http, sim, "POST", f"/iserver/reply/{second}", {"confirmed": True})
    assert body[0]["messageIds"] == ["p9"]
    _, body = await call(http, sim, "POST", f"/iserver/reply/{body[0]['id']}", {"confirmed": True})
    assert body[0]["local_order_id"] == "c1" and int(body[0]["order_id"]) in sim.gateway.book.orders
    status, body = await place(http, sim, lmt(sim, 0.99, cOID="c1"))
    assert status == 400 and "already registered" in body["error"]
    # declined: nothing placed
    _, body = await place(http, sim, lmt(sim, 0.99, cOID="c2"))
    _, body = await call(http, sim, "POST", f"/iserver/reply/{body[0]['id']}", {"confirmed": False})
    assert "not confirmed" in body["error"] and ("DU1234567", "c2") not in sim.entry.coids
    _, body = await call(
        http, sim, "POST", "/iserver/questions/suppress", {"messageIds": ["p9", "o163"]}
    )
    assert body == {"status": "submitted"}
    _, body = await place(http, sim, lmt(sim, 0.5, cOID="c3"))
    assert body[0]["local_order_id"] == "c3"
    await call(http, sim, "POST", "/iserver/questions/suppress/reset")
    _, body = await place(http, sim, lmt(sim, 0.5, cOID="c4"))
    assert body[0]["messageIds"] == ["o163"]


async def test_modify_cancel_status_whatif_trades_positions(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """Modify and cancel a working order; fills move positions, P&L inputs and trades."""
    sim = await simulator()
    _, body = await place(http, sim, lmt(sim, 0.98, cOID="w1", quantity=4))
    oid = int(body[0]["order_id"])
    order = sim.gateway.book.orders[oid]
    await wait_for(lambda: order.status == "Submitted", what="order working")
    new = round(sim.last_price(AAPL) * 0.97, 2)
    _, body = await call(
        http, sim, "POST", f"/iserver/account/{ACCT}/order/{oid}", {"price": new, "quantity": 6}
    )
    assert body[0]["order_id"] == str(oid)
    _, st = await call(http, sim, "GET", f"/iserver/account/order/status/{oid}")
    assert (
        st["limit_price"] == f"{new:.2f}" and st["total_size"] == "6.0" and st["order_ref"] == "w1"
    )
    _, body = await call(http, sim, "DELETE", f"/iserver/account/{ACCT}/order/{oid}")
    assert body["msg"] == "Request was submitted"
    await wait_for(lambda: order.status == "Cancelled", what="order cancelled")
    status, body = await call(
        http, sim, "POST", f"/iserver/account/{ACCT}/order/{oid}", {"price": new}
    )
    assert status == 400
    _, w = await call(
        http, sim, "POST", f"/iserver/account/{ACCT}/orders/whatif", {"orders": [lmt(sim, 0.99)]}
    )
    assert "USD" in w["amount"]["commission"] and w["position"]["change"] == "1"
    before = sim.gateway.book.positions.get(AAPL)
    held = before.quantity if before else 0.0
    cash = sim.gateway.book.cash
    _, body = await place(
        http, sim, {"conid": AAPL, "side": "BUY", "orderType": "MKT", "quantity": 3, "cOID": "m1"}
    )
    market = sim.gateway.book.orders[int(body[0]["order_id"])]
    await wait_for(lambda: market.status == "Filled", what="market order filled")
    assert sim.gateway.book.positions[AAPL].quantity == held + 3 and sim.gateway.book.cash < cash
    _, trades = await call(http, sim, "GET", "/iserver/account/trades?days=1")
    assert sum(t["size"] for t in trades if t.get("order_ref") == "m1") == 3
    _, live = await call(http, sim, "GET", "/iserver/account/orders")
    assert {o.get("order_ref") for o in live["orders"]} >= {"w1", "m1"}


async def test_faults_from_the_admin_api(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """order_fault via /sim/admin/fault: a lost response still creates the order."""
    sim = await simulator()
    async with http.post(
        sim.base_url.removesuffix("/v1/api") + "/sim/admin/fault",
        json={"action": "order_fault", "step": "place", "kind": "lose_response"},
    ) as r:
        assert (await r.json())["ok"] is True
    with pytest.raises(aiohttp.ClientError):
        await place(http, sim, lmt(sim, 0.99, cOID="lost-1"))
    assert ("DU1234567", "lost-1") in sim.entry.coids
    sim.order_fault("place", "error_500")
    status, _ = await place(http, sim, lmt(sim, 0.99, cOID="e1"))
    assert status == 500 and ("DU1234567", "e1") not in sim.entry.coids
    sim.order_fault("place", "error_500_after")
    status, _ = await place(http, sim, lmt(sim, 0.99, cOID="e2"))
    assert status == 500 and ("DU1234567", "e2") in sim.entry.coids
    with pytest.raises(ValueError):
        sim.order_fault("nowhere", "lose_response")
