"""WebSocket connection behaviour (protocol.md §1.3-§1.5, §5, §7, §8.1-§8.2, §8.9)."""

from __future__ import annotations

import aiohttp
import pytest
from tests.sim.conftest import collect, cookie, open_ws, recv_json, recv_until, topic_is

from ibstream.sim.testing import SimulatorFactory, wait_for


@pytest.mark.parametrize("form", ["compact", "spaces", "oauth"])
async def test_cookie_forms_authenticate(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, form: str
) -> None:
    sim = await simulator()
    headers = (
        {"Cookie": f"api={sim.session_id}"}
        if form == "oauth"
        else cookie(sim.session_id, spaces=form == "spaces")
    )
    ws = await http.ws_connect(sim.ws_url, headers=headers)
    system, act, sts = [await recv_json(ws) for _ in range(3)]
    assert system == {"topic": "system", "success": "simuser1", "isFT": False, "isPaper": True}
    assert act["topic"] == "act" and act["args"]["accounts"] == ["DU1234567"]
    assert sts["topic"] == "sts" and sts["args"]["authenticated"] is True
    assert set(sts["args"]) >= {"connected", "competing", "established", "serverName"}
    await ws.close()


async def test_waiting_for_session_then_session_message(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(mode="direct")
    ws = await http.ws_connect(sim.ws_url)
    assert await recv_json(ws) == {"message": "waiting for session"}
    await ws.send_str(f'{{"session": "{sim.session_id}"}}')
    topics = [(await recv_json(ws))["topic"] for _ in range(3)]
    assert topics == ["system", "act", "sts"]
    await ws.close()


async def test_wrong_session_closes_1000(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(mode="direct")
    ws = await http.ws_connect(sim.ws_url)
    await recv_json(ws)
    await ws.send_str('{"session":"' + "0" * 32 + '"}')
    msg = await ws.receive(timeout=3)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1000


async def test_legacy_sts_form(simulator: SimulatorFactory, http: aiohttp.ClientSession) -> None:
    sim = await simulator(sts_form="legacy")
    ws = await http.ws_connect(sim.ws_url, headers=cookie(sim.session_id))
    frames = [await recv_json(ws) for _ in range(9)]
    sts = [f for f in frames if f["topic"] == "sts"]
    assert all(len(f["args"]) == 1 for f in sts)
    assert {"authenticated": True} in [f["args"] for f in sts]
    await ws.close()


async def test_heartbeats_tic_and_echo(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """hb every heartbeat_interval; tic answered 4x identically; ech+hb echoed (§7)."""
    sim = await simulator(heartbeat_interval=0.2)
    ws = await open_ws(http, sim)
    hb, _ = await recv_until(ws, lambda f: f.get("topic") == "system" and "hb" in f)
    assert isinstance(hb["hb"], int) and len(str(hb["hb"])) == 13
    await ws.send_str("tic")
    tics = [(await recv_until(ws, topic_is("tic")))[0] for _ in range(4)]
    assert all(t == tics[0] for t in tics) and tics[0]["id"] == sim.session_id
    assert tics[0]["alive"] is True
    await ws.send_str("ech+hb")
    echo, _ = await recv_until(ws, topic_is("ech+hb"))
    assert echo["alive"] is True
    assert sim.received_count("tic") == 1
    await ws.close()


async def test_early_subscriber_dropped(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    """A subscribe before the opening burst gets the socket closed (§1.6, §8.1)."""
    sim = await simulator(open_burst_delay=0.3)
    ws = await http.ws_connect(sim.ws_url, headers=cookie(sim.session_id))
    await ws.send_str('smd+265598+{"fields":["31"]}')
    frames = []
    while True:
        msg = await ws.receive(timeout=3)
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            break
        frames.append(bytes(msg.data) if isinstance(msg.data, bytes) else msg.data.encode())
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert not any(b"smd+" in f for f in frames)


async def test_subscriptions_are_per_socket_and_discarded(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    ws1 = await open_ws(http, sim)
    await ws1.send_str('smd+265598+{"fields":["31","84"]}')
    await ws1.send_str("sor+{}")
    await recv_until(ws1, topic_is("smd+265598"))
    assert sorted(next(iter(sim.active_subscriptions().values()))) == ["md:265598", "or"]
    await ws1.close()
    await wait_for(lambda: sim.connections == 0)
    ws2 = await open_ws(http, sim)
    assert list(sim.active_subscriptions().values()) == [[]]
    frames = await collect(ws2, 0.3)
    assert not any(str(f.get("topic", "")).startswith("smd") for f in frames)
    assert sim.connections == 1
    await ws2.close()


async def test_binary_frames_option(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator(binary_frames=True)
    ws = await http.ws_connect(sim.ws_url, headers=cookie(sim.session_id))
    msg = await ws.receive(timeout=3)
    assert msg.type == aiohttp.WSMsgType.BINARY and b'"topic":"system"' in msg.data
    await ws.close()


async def test_unknown_topic_error_and_session_after_auth_loss(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    ws = await open_ws(http, sim)
    await ws.send_str("xyz+1")
    err, _ = await recv_until(ws, topic_is("error"))
    assert "Topic unknown" in err["error"]
    await sim.lose_auth()
    await ws.send_str(f'{{"session":"{sim.session_id}"}}')
    err, _ = await recv_until(ws, topic_is("error"))
    assert err["error"] == "Topic unknown '{\"s'"
    await ws.close()
