"""Issue 11, defects 4-7: DNS rebinding, consumer limits, replies that cannot be encoded.

Real sockets: the simulator and the service on port 0, aiohttp clients. Each test failed
before the fix (no Host check; no limits; a 500-deep ``id`` aborted the socket; a conid of
2**31 subscribed by one consumer broke the GraphQL ``tickers`` query for everyone).
"""

from __future__ import annotations

import aiohttp
import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.service import Service, ServiceConfig
from ibstream.service.config import host_allowed, load_config
from ibstream.sim import Simulator
from ibstream.sim.config import DEFAULT_INSTRUMENTS

from .conftest import ServiceFactory
from .helpers import AAPL, ACCOUNT, MSFT, plain_ws, wait_for

pytestmark = pytest.mark.e2e

CONIDS = [i.conid for i in DEFAULT_INSTRUMENTS]


def test_host_allow_list() -> None:
    """Loopback names, IP addresses, the bind address and configured names; nothing else."""
    for host in (
        None,
        "localhost",
        "localhost:8800",
        "LOCALHOST.:8800",
        "app.localhost:1",
        "127.0.0.1:8800",
        "[::1]:8800",
        "::1",
        "10.1.2.3",
    ):
        assert host_allowed(host, "127.0.0.1"), host
    for host in ("attacker.test", "attacker.test:8800", "localhost.attacker.test", "", ":80"):
        assert not host_allowed(host, "127.0.0.1"), host
    assert host_allowed("box.lan:8800", "box.lan")
    assert host_allowed("svc.example.com", "0.0.0.0", ("svc.example.com",))
    assert host_allowed("a.example.com", "0.0.0.0", (".example.com",))
    assert not host_allowed("example.com.evil", "0.0.0.0", (".example.com",))
    assert host_allowed("anything", "0.0.0.0", ("*",))
    config = load_config(env={"IBSTREAM_ALLOWED_HOSTS": "a.test, b.test"})
    assert config.allowed_hosts == ("a.test", "b.test")


async def test_dns_rebinding_page_is_refused(service: Service, http: aiohttp.ClientSession) -> None:
    """A page whose name now resolves to 127.0.0.1 sends its own Host and a matching Origin."""
    port = service.url.rsplit(":", 1)[1]
    evil = {"Host": f"rebind.attacker.test:{port}", "Origin": f"http://rebind.attacker.test:{port}"}
    async with http.post(
        f"{service.url}/graphql", json={"query": "{ accounts }"}, headers=evil
    ) as r:
        assert r.status == 403
        assert "allowed_hosts" in (await r.json())["error"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(f"{service.url}/stream", headers=evil)
    assert info.value.status == 403
    ok = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    async with http.post(f"{service.url}/graphql", json={"query": "{ accounts }"}, headers=ok) as r:
        assert (await r.json())["data"]["accounts"] == [ACCOUNT]


async def test_configured_host_is_allowed(
    make_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    service = await make_service(allowed_hosts=("ibstream.internal",))
    async with http.get(f"{service.url}/livez", headers={"Host": "ibstream.internal:1234"}) as r:
        assert r.status == 200


async def test_deep_request_id_is_an_error_reply_not_an_abort(
    service: Service, http: aiohttp.ClientSession
) -> None:
    """A 500-deep ``id`` once hit orjson's recursion limit while building the reply."""
    c = await plain_ws(http, service)
    deep = "[" * 500 + "]" * 500
    await c.ws.send_str('{"op":"ping","id":' + deep + "}")
    err = await c.next()
    assert err["type"] == "Error" and "'id'" in err["message"] and err["id"] is None
    await c.ws.send_str('{"op":"subscribe","id":"x","spec":' + deep + "}")
    assert (await c.until(lambda m: m.get("id") == "x"))["type"] == "Error"
    await c.ws.send_str('{"op":"ping","id":"' + "i" * 10_000 + '"}')
    assert (await c.next())["type"] == "Error"
    rid = await c.send("ping")
    assert (await c.until(lambda m: m.get("id") == rid))["type"] == "Pong"
    await c.close()


async def test_market_data_limits_per_consumer_and_in_total(
    make_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    service = await make_service(max_market_data_per_consumer=3, max_market_data=4, grace=0)
    a = await plain_ws(http, service)
    replies = await a.subscribe(*({"topic": "md", "conid": c} for c in CONIDS[:4]))
    assert [r["type"] for r in replies] == ["Subscribed"] * 3 + ["Error"]
    assert "max_market_data_per_consumer" in replies[3]["message"]
    # the same stream again is not a new line
    assert (await a.subscribe({"topic": "md", "conid": CONIDS[0]}))[0]["type"] == "Subscribed"
    b = await plain_ws(http, service)
    replies = await b.subscribe(*({"topic": "md", "conid": c} for c in (CONIDS[0], *CONIDS[3:5])))
    # a shared stream costs no upstream line: CONIDS[0] and [3] pass, [4] is the 5th line
    assert [r["type"] for r in replies] == ["Subscribed", "Subscribed", "Error"]
    assert "'max_market_data'" in replies[2]["message"]
    async with http.get(f"{service.url}/events?topic=md&conid={CONIDS[7]}") as r:
        assert r.status == 400 and "max_market_data" in (await r.json())["error"]
    async with http.get(f"{service.url}/metrics") as r:
        text = await r.text()
    assert 'ibstream_service_limit{name="max_market_data"} 4' in text
    assert "ibstream_service_market_data_streams 4" in text
    assert 'ibstream_service_limit_refusals_total{limit="market_data"} 2' in text
    assert 'ibstream_service_limit_refusals_total{limit="market_data_per_consumer"} 1' in text
    assert 'ibstream_service_limit{name="max_cache_entries"} 8192' in text
    assert 'ibstream_decoder_cache{what="entries"}' in text
    # leaving frees the lines
    await a.close()
    await wait_for(lambda: sum(1 for k in service.hub.upstreams if k.topic == "md") == 2)
    assert (await b.subscribe({"topic": "md", "conid": CONIDS[4]}))[0]["type"] == "Subscribed"
    await b.close()


async def test_default_limit_refuses_thousands_of_lines_in_one_message(
    service: Service, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    c = await plain_ws(http, service)
    rid = await c.send("subscribe", specs=[{"topic": "md", "conid": n} for n in range(1, 3001)])
    err = await c.until(lambda m: m.get("id") == rid)
    assert err["type"] == "Error" and "max_specs_per_request" in err["message"]
    assert not any(k.topic == "md" for k in service.hub.upstreams)
    await c.close()


async def test_argument_lengths(service: Service, http: aiohttp.ClientSession) -> None:
    c = await plain_ws(http, service)
    rid = await c.send("subscribe", spec={"topic": "sd", "account": "D" * 100_000})
    err = await c.until(lambda m: m.get("id") == rid)
    assert err["type"] == "Error" and "max_argument_length" in err["message"]
    keys = [f"K{i}" for i in range(10_000)]
    rid = await c.send("subscribe", spec={"topic": "sd", "account": ACCOUNT, "keys": keys})
    err = await c.until(lambda m: m.get("id") == rid)
    assert err["type"] == "Error" and "max_list_items" in err["message"]
    rid = await c.send("filter", conids=list(range(1, 10_001)))
    assert "max_list_items" in (await c.until(lambda m: m.get("id") == rid))["message"]
    assert not any(k.topic == "sd" for k in service.hub.upstreams)
    await c.close()


async def test_conid_beyond_32_bits_cannot_break_graphql_for_everyone(
    service: Service, http: aiohttp.ClientSession
) -> None:
    c = await plain_ws(http, service)
    [err] = await c.subscribe({"topic": "md", "conid": 2**31})
    assert err["type"] == "Error" and "32 bits" in err["message"]
    assert (await c.subscribe({"topic": "md", "conid": AAPL}))[0]["type"] == "Subscribed"
    await c.until(lambda m: m["type"] == "MarketData" and m["conid"] == AAPL)
    async with http.post(
        f"{service.url}/graphql", json={"query": "{ tickers { conid last } }"}
    ) as r:
        body = await r.json()
    assert "errors" not in body and AAPL in [t["conid"] for t in body["data"]["tickers"]]
    assert MSFT not in [t["conid"] for t in body["data"]["tickers"]]
    await c.close()


def test_limit_settings_are_validated() -> None:
    with pytest.raises(InvalidArgument):
        ServiceConfig(max_market_data=-1)
    with pytest.raises(InvalidArgument):
        ServiceConfig(max_frame_bytes=10)
    config = load_config(env={"IBSTREAM_MAX_MARKET_DATA": "42"})
    assert config.max_market_data == 42
