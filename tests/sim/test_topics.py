"""Every topic of protocol.md §4-§5 with its confirmation behaviour, over real sockets."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from tests.sim.conftest import collect, open_ws, recv_json, recv_until, sync, topic_is

from ibstream.sim.testing import SimulatorFactory, wait_for


async def test_smd_duplicate_first_then_deltas(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(update_interval=0.05)
    ws = await open_ws(http, sim)
    await ws.send_str('smd+265598+{"fields":["31","84","86","83","87","88","6509"]}')
    a = await recv_json(ws)
    b = await recv_json(ws)
    assert a == b and list(a) != list(b)  # same content, different key order (§8.19)
    assert a["topic"] == "smd+265598" and a["conid"] == 265598 and a["conidEx"] == "265598"
    assert a["server_id"] == a["6119"] and re.fullmatch(r"q\d+", a["6119"])
    assert isinstance(a["83"], float) and isinstance(a["31"], str) and a["6509"] == "RpB"
    assert re.fullmatch(r"[\d.]+[KM]?", a["87"]) and re.fullmatch(r"[\d,]+", a["88"])
    assert len(str(a["_updated"])) == 13
    deltas = [f for f in await collect(ws, 0.5) if f.get("topic") == "smd+265598"]
    assert deltas and all(
        set(d) - {"topic", "conid", "conidEx", "_updated", "server_id", "6119"} <= set(a)
        for d in deltas
    )
    assert any(len(d) < len(a) for d in deltas)
    await ws.send_str("umd+265598+{}")
    await sync(ws)  # frames sent before umd was handled are read up to here
    tail = await collect(ws, 0.3)
    assert not any(f.get("topic") == "smd+265598" for f in tail)
    assert sim.received_count('smd+265598+{"fields":["31","84","86","83","87","88","6509"]}') == 1
    await ws.close()


async def test_smd_server_ids_increase_across_sockets_and_resend_adds_fields(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(update_interval=5)
    ws = await open_ws(http, sim)
    await ws.send_str('smd+265598+{"fields":["31"]}')
    first = await recv_json(ws)
    await recv_json(ws)
    await ws.send_str('smd+265598+{"fields":["84","86"]}')
    again = await recv_json(ws)
    assert {"31", "84", "86"} <= set(again)  # re-send adds fields (§4.1)
    assert int(again["6119"][1:]) > int(first["6119"][1:])
    await ws.close()
    ws2 = await open_ws(http, sim)
    await ws2.send_str("smd+272093@NASDAQ+{}")
    msft = await recv_json(ws2)
    assert msft["topic"] == "smd+272093@NASDAQ" and msft["conidEx"] == "272093@NASDAQ"
    assert int(msft["6119"][1:]) > int(again["6119"][1:])
    await ws2.send_str('smd+999999+{"fields":["31"]}')
    unknown, _ = await recv_until(ws2, topic_is("smd+999999"))
    assert unknown["55"] == "-" and unknown["31"] == "N/A"
    await ws2.close()


async def test_smd_silent_expiry_and_empty_frames(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(
        update_interval=0.02, md_expiry=600, time_scale=2000, empty_smd_probability=0.5
    )
    ws = await open_ws(http, sim)
    await ws.send_str('smd+265598+{"fields":["31","84","86"]}')
    frames = [f for f in await collect(ws, 0.25) if str(f.get("topic", "")).startswith("smd")]
    assert {"topic": "smd+265598"} in frames  # empty update (§8.3)
    late = [f for f in await collect(ws, 0.4) if str(f.get("topic", "")).startswith("smd")]
    assert late == []  # 10 simulated minutes passed: stream ended silently (§8.4)
    await ws.close()


async def test_market_closed_and_halted_prefixes(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(market_state="closed")
    ws = await open_ws(http, sim)
    await ws.send_str('smd+265598+{"fields":["31","6509"]}')
    f = await recv_json(ws)
    assert f["31"].startswith("C") and f["6509"] == "ZB"
    sim.set_market_state("halted")
    await ws.send_str('smd+272093+{"fields":["31"]}')
    f, _ = await recv_until(ws, topic_is("smd+272093"))
    assert f["31"].startswith("H")
    await ws.close()


async def test_smh_server_id_limit_and_umh(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(history_update_interval=0.1)
    ws = await open_ws(http, sim)
    conids = [265598, 272093, 76792991, 4815747, 756733, 3691937]
    await ws.send_str(
        'smh+265598+{"exchange":"ISLAND","period":"2h","bar":"5min","outsideRth":false,'
        '"source":"trades","format":"%o/%c/%h/%l"}'
    )
    first, _ = await recv_until(ws, topic_is("smh+265598"))
    assert first["serverId"].isdigit() and first["points"] == 24 == len(first["data"])
    assert set(first["data"][0]) == {"o", "c", "h", "l", "v", "t"} and first["barLength"] == 300
    update, _ = await recv_until(ws, topic_is("smh+265598"))
    assert update["serverId"] == first["serverId"] and len(update["data"]) == 1
    for c in conids[1:5]:
        await ws.send_str(f"smh+{c}+{{}}")
        await recv_until(ws, topic_is(f"smh+{c}"))
    await ws.send_str("smh+3691937+{}")
    err, _ = await recv_until(ws, lambda f: f.get("topic") == "smh+3691937")
    assert "error" in err
    await ws.send_str(f"umh+{first['serverId']}")
    msg, _ = await recv_until(ws, lambda f: "message" in f)
    assert msg == {"message": f"Unsubscribed {first['serverId']}"}
    await ws.send_str("smh+3691937+{}")
    ok, _ = await recv_until(ws, topic_is("smh+3691937"))
    assert "serverId" in ok
    await ws.close()


async def test_umh_reply_none_variant(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(umh_reply="none")
    ws = await open_ws(http, sim)
    await ws.send_str("smh+265598+{}")
    first, _ = await recv_until(ws, topic_is("smh+265598"))
    await ws.send_str(f"umh+{first['serverId']}")
    assert not any("message" in f for f in await collect(ws, 0.3))
    await ws.close()


async def test_sbd_ladder_rows_and_ubd(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    await ws.send_str("sbd+DU1234567+265598+ARCA")
    f, _ = await recv_until(ws, topic_is("sbd+DU1234567+265598+ARCA"))
    assert isinstance(f["data"], list) and sum(r["focus"] for r in f["data"]) == 1
    assert all({"row", "focus", "price"} <= set(r) for r in f["data"])
    await ws.send_str("ubd+DU1234567")
    await sync(ws)
    assert not any(str(x.get("topic", "")).startswith("sbd") for x in await collect(ws, 0.3))
    await ws.close()


def _sor_entries(frames: list[Any]) -> list[dict[str, Any]]:
    return [e for f in frames if f.get("topic") == "sor" for e in f["args"]]


async def test_sor_silent_and_life_cycle_with_fills(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """sor: no initial frame; full snapshot, marker, status hops, partial fills (§4.4)."""
    sim = await simulator(update_interval=0.02)
    ws = await open_ws(http, sim)
    await ws.send_str('sor+{"filters": ["inactive"]}')
    await ws.send_str("uor+{}")
    await ws.send_str("sor+{}")
    assert not any(f.get("topic") == "sor" for f in await collect(ws, 0.2))
    order = await sim.place_order(265598, "BUY", 10, "MKT")
    entries = _sor_entries(await collect(ws, 0.3))
    assert entries[0]["status"] == "Inactive" and entries[0]["orderDesc"].startswith("Buy 10")
    assert set(entries[1]) == {"acct", "conidex", "conid", "orderId", "isEventTrading"}
    statuses = [e.get("status") for e in entries if "status" in e]
    assert statuses[:4] == ["Inactive", "PendingSubmit", "PreSubmitted", "Submitted"]
    assert statuses[-1] == "Filled" and entries[-1]["filledQuantity"] == 10.0
    assert all("fgColor" in e for e in entries if "status" in e)
    assert sim.gateway.book.orders[order.order_id].status == "Filled"
    last = sim.last_price(265598)
    lmt = await sim.place_order(265598, "SELL", 4, "LMT", price=round(last * 0.9, 2))
    entries = _sor_entries(await collect(ws, 0.4))
    assert any(e.get("status") == "Filled" for e in entries)
    assert any("sizeAndFills" in e for e in entries)
    assert lmt.status == "Filled"
    far = await sim.place_order(265598, "BUY", 1, "LMT", price=round(last * 0.5, 2))
    await wait_for(lambda: sim.gateway.book.orders[far.order_id].status == "Submitted")
    await sim.cancel_order(far.order_id)

    def cancelled(f: Any) -> bool:
        return any(
            e.get("orderId") == far.order_id and e.get("status") == "Cancelled"
            for e in _sor_entries([f])
        )

    last_frame, before = await recv_until(ws, cancelled)
    entries = [e for e in _sor_entries([*before, last_frame]) if e.get("orderId") == far.order_id]
    pending = [e for e in entries if e.get("status") == "PendingCancel"]
    assert pending and "orderDesc" in pending[0]  # full snapshot re-sent (§8.7)
    assert entries[-1]["status"] == "Cancelled"
    await ws.close()


async def test_str_opener_and_duplicated_executions(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(historic_executions=2)
    ws = await open_ws(http, sim)
    await ws.send_str("str+{}")
    opener = await recv_json(ws)
    assert opener == {"topic": "str", "args": []}
    hist = [await recv_json(ws) for _ in range(4)]
    ids = [h["args"][0]["execution_id"] for h in hist]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert "commission" not in hist[0]["args"][0] and "commission" in hist[1]["args"][0]
    e = hist[1]["args"][0]
    assert e["side"] == "B" and isinstance(e["size"], float) and isinstance(e["price"], str)
    await ws.send_str("utr")
    for spelling in ("realtimeUpdatesOnly", "realtime_updates_only"):
        await ws.send_str(f'str+{{"{spelling}":true}}')
        assert await recv_json(ws) == {"topic": "str", "args": []}
        assert [f for f in await collect(ws, 0.15) if f.get("topic") == "str"] == []
        await ws.send_str("utr+{}")
    await ws.send_str('str+{"realtimeUpdatesOnly":true}')
    await recv_json(ws)
    await sim.place_order(272093, "BUY", 2, "MKT")
    trades = [f for f in await collect(ws, 0.3) if f.get("topic") == "str"]
    assert len(trades) >= 2 and len(trades) % 2 == 0
    await ws.close()


async def test_spl_forms_and_upl(simulator: SimulatorFactory, http: aiohttp.ClientSession) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    for sub, unsub in (("spl", "upl"), ("spl+{}", "upl+{}")):
        await ws.send_str(sub)
        f, _ = await recv_until(ws, topic_is("spl"))
        row = f["args"]["DU1234567.Core"]
        assert row["rowType"] == 1 and {"dpl", "nl", "upl", "uel", "mv"} <= set(row)
        await ws.send_str(unsub)
        await sync(ws)
        assert not any(x.get("topic") == "spl" for x in await collect(ws, 0.25))
    await ws.close()


async def test_ssd_usd_and_sld_uld(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(ledger_interval=0.1)
    ws = await open_ws(http, sim)
    await ws.send_str('ssd+DU1234567+{"keys":["NetLiquidation-S"],"fields":[]}')
    f, _ = await recv_until(ws, topic_is("ssd+DU1234567"))
    assert f["result"][0] == {
        "key": "AccountCode",
        "value": "DU1234567",
        "timestamp": f["result"][0]["timestamp"],
    }
    assert [r["key"] for r in f["result"][2:]] == ["NetLiquidation"]
    await ws.send_str("usd+DU1234567")
    msg, _ = await recv_until(ws, lambda x: "topic" not in x)
    assert msg == {"result": "unsubscribed from summary"}
    await ws.send_str("sld+DU1234567+{}")
    raw = await ws.receive(timeout=3)
    while b'"sld+' not in raw.data:  # binary frames by default (gateway mode)
        raw = await ws.receive(timeout=3)
    assert re.search(rb'"cashbalance":\d\.\d+E\d', raw.data)  # Java exponent form (§4.7)
    nxt, _ = await recv_until(ws, topic_is("sld+DU1234567"))
    assert all(set(e) == {"key", "timestamp"} for e in nxt["result"])  # blank entries
    await ws.send_str("uld+DU1234567+{}")
    msg, _ = await recv_until(ws, lambda x: "topic" not in x)
    assert msg == {"result": "unsubscribed from ledger"}
    await ws.close()


async def test_blt_ntf_error_on_demand(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    assert sim.send_bulletin("Exchange closed early") == 1
    assert await recv_json(ws) == {  # recorded form: a list, numeric id, exchanges
        "topic": "blt",
        "args": [{"id": 1, "exchanges": None, "message": "Exchange closed early"}],
    }
    sim.with_config(blt_form="object")
    sim.send_bulletin("again")
    assert (await recv_json(ws))["args"] == {"id": "1", "message": "again"}
    sim.send_notification("CFD quotes reference the underlying")
    ntf = await recv_json(ws)
    assert ntf["topic"] == "ntf" and isinstance(ntf["args"], list)
    sim.with_config(ntf_form="object")
    sim.send_notification("x")
    assert isinstance((await recv_json(ws))["args"], dict)
    sim.send_order_prompt(1883733600, "Use the Price Management Algo?")
    prompt = await recv_json(ws)
    assert prompt["args"]["orderId"] == 1883733600 and prompt["args"]["prompt"] is True
    sim.send_error("test error")
    assert await recv_json(ws) == {"topic": "error", "args": {"code": 500}, "error": "test error"}
    await ws.close()
