"""The local gateway's behaviour (default) vs direct mode; combos, exercise, history updates and
the recorded REST shapes (docs/gateway-fidelity.md)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from tests.sim.conftest import collect, cookie, open_ws, recv_json, recv_until, topic_is

from ibstream.sim.testing import SimulatorFactory

COMBO = "28812380;;;265598/1,272093/-1"


async def test_gateway_mode_authenticates_a_socket_without_cookie_and_sends_binary(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    assert sim.config.mode == "gateway"
    ws = await http.ws_connect(sim.ws_url)  # no cookie, no session message
    msgs = [await ws.receive(timeout=3) for _ in range(3)]
    assert [m.type for m in msgs] == [aiohttp.WSMsgType.BINARY] * 3
    assert [orjson.loads(m.data)["topic"] for m in msgs] == ["system", "act", "sts"]
    await ws.close()


async def test_gateway_mode_waits_for_a_session_when_nobody_is_logged_in(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    sim.gateway.logout()
    ws = await http.ws_connect(sim.ws_url)
    assert await recv_json(ws) == {"message": "waiting for session"}
    await ws.close()


@pytest.mark.parametrize("with_cookie", [False, True])
async def test_direct_mode_needs_the_session_and_sends_text(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, with_cookie: bool
) -> None:
    sim = await simulator(mode="direct")
    headers = cookie(sim.session_id) if with_cookie else {}
    ws = await http.ws_connect(sim.ws_url, headers=headers)
    first = await ws.receive(timeout=3)
    assert first.type == aiohttp.WSMsgType.TEXT
    if with_cookie:
        assert orjson.loads(first.data)["topic"] == "system"
    else:
        assert orjson.loads(first.data) == {"message": "waiting for session"}
    await ws.close()


async def test_binary_frames_override_the_mode(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(binary_frames=False)
    ws = await http.ws_connect(sim.ws_url)
    assert (await ws.receive(timeout=3)).type == aiohttp.WSMsgType.TEXT
    await ws.close()


async def test_combo_subscription_prices_the_spread_from_its_legs(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(update_interval=0.05)
    ws = await open_ws(http, sim)
    await ws.send_str(f'smd+{COMBO}+{{"fields":["31","84","86"]}}')
    first, _ = await recv_until(ws, topic_is(f"smd+{COMBO}"))
    second = await recv_json(ws)
    assert first == second  # the first frame twice (§8.3)
    assert first["conid"] == 28812380 and first["conidEx"] == COMBO
    legs = sim.gateway.market
    expected = legs.quote(265598).last - legs.quote(272093).last
    assert float(first["31"]) == pytest.approx(expected, abs=0.01)
    assert float(first["84"]) <= float(first["86"])
    delta, _ = await recv_until(ws, topic_is(f"smd+{COMBO}"))
    assert set(delta) - {"server_id", "conidEx", "conid", "_updated", "6119", "topic"}
    await ws.send_str(f"umd+{COMBO}+{{}}")
    tail = await collect(ws, 0.4)
    late = [f for f in tail if f.get("topic") == f"smd+{COMBO}"]
    assert len(late) <= 2  # at most frames already in flight
    await ws.close()


@pytest.mark.parametrize("bad", ["28812380;;;265598/1", "28812380;;;265598/0,272093/1"])
async def test_bad_combo_gets_an_error(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, bad: str
) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    await ws.send_str(f"smd+{bad}+{{}}")
    err, _ = await recv_until(ws, lambda f: "error" in f)
    assert err["topic"] == f"smd+{bad}"
    await ws.close()


async def test_option_exercise_workflow(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    await ws.send_str("sor+{}")
    await ws.send_str('shs+exercise+{"CEX":"265598"}')
    assert (await recv_until(ws, topic_is("shs+exercise")))[0] == {"topic": "shs+exercise"}
    content = await recv_json(ws)
    assert content["action"] == "content"
    assert [a["id"] for a in content["data"]["user_action"]] == ["submit", "cancel"]
    warning = await recv_json(ws)
    assert "warning" in warning["data"]
    request = content["data"]["id"]
    submit = {
        "action": "user_input",
        "data": {
            "id": str(request),
            "user_action": "submit",
            "exercise": {"allowed": "not_shown", "make_final": True, "value": 5},
        },
    }
    await ws.send_str("inp+exercise+" + orjson.dumps(submit).decode())
    prompt, _ = await recv_until(ws, topic_is("inp+exercise"))
    assert prompt["action"] == "prompt" and prompt["data"]["id"] != request
    confirm = {
        "action": "user_input",
        "data": {"id": str(prompt["data"]["id"]), "user_action": "continue"},
    }
    await ws.send_str("inp+exercise+" + orjson.dumps(confirm).decode())
    done, _ = await recv_until(ws, topic_is("shs+exercise"))
    assert done["action"] == "content" and done["data"]["submitted"] == 5
    assert done["data"]["id"] == request and done["data"]["qty_exercise"] == 5
    sor, _ = await recv_until(ws, topic_is("sor"))
    assert sor["args"][0]["side"] == "EXER" and sor["args"][0]["totalSize"] == 5.0
    await ws.close()


async def test_history_repeats_partial_bar_updates_in_the_first_frames_shape(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(history_update_interval=0.05)
    ws = await open_ws(http, sim)
    await ws.send_str('smh+265598+{"period":"1d","bar":"5min"}')
    first, _ = await recv_until(ws, topic_is("smh+265598"))
    updates = [(await recv_until(ws, topic_is("smh+265598")))[0] for _ in range(3)]
    for update in updates:
        assert set(update) == set(first)
        assert update["serverId"] == first["serverId"] and len(update["data"]) == 1
        assert update["data"][0]["t"] == first["data"][-1]["t"]  # the forming bar
    await ws.send_str(f"umh+{first['serverId']}")
    await recv_until(ws, lambda f: f.get("message") == f"Unsubscribed {first['serverId']}")
    tail = await collect(ws, 0.3)
    assert not [f for f in tail if f.get("topic") == "smh+265598"]
    await ws.close()


async def test_rest_shapes_as_recorded(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    async with http.get(sim.base_url + "/iserver/accounts") as r:
        accounts = await r.json()
    assert {"allowFeatures", "chartPeriods", "acctProps", "serverInfo"} <= set(accounts)
    assert len(accounts["allowFeatures"]) >= 20 and "FUT" in accounts["chartPeriods"]
    async with http.get(sim.base_url + "/iserver/account/orders") as r:
        orders = await r.json()
    assert orders["snapshot"] is False and isinstance(orders["orders"], list)


async def test_admin_api_sends_an_order_prompt(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    base = sim.base_url.removesuffix("/v1/api")
    body = {"action": "send_order_prompt", "order_id": 7, "text": "Use the algo?"}
    async with http.post(base + "/sim/admin/fault", json=body) as r:
        assert r.status == 200
    ntf, _ = await recv_until(ws, topic_is("ntf"))
    [prompt] = ntf["args"]
    assert prompt["orderId"] == 7 and prompt["text"] == "Use the algo?" and prompt["prompt"]
    await ws.close()


@pytest.mark.parametrize("form", ["plain", "size_at_price"])
async def test_ladder_row_forms(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, form: str
) -> None:
    sim = await simulator(ladder_form=form, ladder_interval=0.05)
    ws = await open_ws(http, sim)
    await ws.send_str("sbd+DU1234567+265598")
    ladder, _ = await recv_until(ws, topic_is("sbd+DU1234567+265598"))
    rows = ladder["data"]
    focus = next(r for r in rows if r["focus"] == 1)
    if form == "plain":
        assert "price" in focus and " @ " not in focus["bid"]
    else:
        assert "price" not in focus
        assert focus["bid"].split(" @ ")[1] == focus["ask"].split(" @ ")[1]
    await ws.close()
