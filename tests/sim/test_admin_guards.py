"""Issue 11, defect 9: the simulator's admin API cannot be driven by a web page or a stranger.

Before: no auth off loopback, ``text/plain`` POSTs (which any page can send cross-site without
a preflight) were accepted, and ``serve --sim --token`` left it open on its own port.
"""

from __future__ import annotations

import aiohttp
import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.service import Service, ServiceConfig
from ibstream.sim import SimConfig, Simulator
from ibstream.sim.testing import SimulatorFactory

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-0123456789"
LOSE = b'{"action":"lose_auth"}'


def _root(sim: Simulator) -> str:
    return sim.base_url.removesuffix("/v1/api")


async def test_text_plain_and_browser_requests_are_refused(
    simulator: SimulatorFactory, http: aiohttp.ClientSession
) -> None:
    sim = await simulator()
    url = _root(sim) + "/sim/admin/fault"
    r = await http.post(url, data=LOSE, headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = await http.post(url, data=LOSE)  # no content type at all
    assert r.status == 415
    r = await http.post(
        url, data=LOSE, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status == 415
    json_ct = {"Content-Type": "application/json"}
    r = await http.post(url, data=LOSE, headers={**json_ct, "Origin": "https://evil.test"})
    assert r.status == 403
    port = sim.port
    r = await http.get(
        _root(sim) + "/sim/admin/state", headers={"Host": f"rebind.evil.test:{port}"}
    )
    assert r.status == 403
    assert sim.gateway.authenticated  # nothing was applied
    r = await http.post(url, data=LOSE, headers=json_ct)
    assert r.status == 200 and not sim.gateway.authenticated


async def test_admin_token(simulator: SimulatorFactory, http: aiohttp.ClientSession) -> None:
    sim = await simulator(admin_token=TOKEN)
    url = _root(sim) + "/sim/admin/fault"
    r = await http.post(url, json={"action": "lose_auth"})
    assert r.status == 401
    r = await http.post(
        url, json={"action": "lose_auth"}, headers={"Authorization": "Bearer wrong-token"}
    )
    assert r.status == 401
    assert (await http.get(_root(sim) + "/sim/admin/state")).status == 401
    assert sim.gateway.authenticated
    r = await http.post(
        url, json={"action": "lose_auth"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status == 200 and not sim.gateway.authenticated


def test_off_loopback_needs_a_token() -> None:
    with pytest.raises(InvalidArgument, match="admin_token"):
        SimConfig(host="0.0.0.0")
    SimConfig(host="0.0.0.0", admin=False)
    SimConfig(host="0.0.0.0", admin_token=TOKEN)
    SimConfig(host="::1")
    with pytest.raises(InvalidArgument):
        SimConfig(admin_token="short")


async def test_serve_sim_keeps_the_admin_api_closed_unless_asked(
    http: aiohttp.ClientSession,
) -> None:
    async with Service(ServiceConfig(sim=True, port=0, token=TOKEN, ready_wait=5)) as svc:
        assert svc.sim is not None
        r = await http.post(_root(svc.sim) + "/sim/admin/fault", json={"action": "lose_auth"})
        assert r.status == 404
    config = ServiceConfig(sim=True, port=0, token=TOKEN, ready_wait=5, sim_admin=True)
    async with Service(config) as svc:
        assert svc.sim is not None
        url = _root(svc.sim) + "/sim/admin/fault"
        assert (
            await http.post(url, json={"action": "send_bulletin", "message": "m"})
        ).status == 401
        r = await http.post(
            url,
            json={"action": "send_bulletin", "message": "m"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert r.status == 200
