"""The hub consumes the client's router: one handle per consumer and the hub's tap per stream,
one reference count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import MemoryGateway
from ibstream.protocol.events import MarketData
from ibstream.protocol.specs import MarketDataSpec
from ibstream.service.fanout import Batch
from ibstream.service.hub import Hub

CONID = 265598


def smd(**fields: str) -> dict[str, Any]:
    frame: dict[str, Any] = {"topic": f"smd+{CONID}", "conid": CONID, "_updated": 1}
    frame.update({k.lstrip("f"): v for k, v in fields.items()})
    return frame


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[StreamClient, MemoryGateway, Hub]]:
    gateway = MemoryGateway()
    client = StreamClient(rest=gateway, config=ClientConfig(start_timeout=2.0))
    await client.start()
    hub = Hub(client, grace=0.2)
    hub.start()
    yield client, gateway, hub
    hub.shutdown("test over")
    await client.stop()


def md_entries(hub_consumer: Any) -> list[Any]:
    return [e for e in hub_consumer.queue._entries if isinstance(e[0], MarketData)]


def batches(hub_consumer: Any) -> list[Batch]:
    return [e[1] for e in hub_consumer.queue._entries if isinstance(e[1], Batch)]


def drain(*consumers: Any) -> None:
    for c in consumers:
        while c.queue:
            c.queue.take_ws(1 << 20)


async def test_consumers_share_one_stream_and_one_encoding(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    client, gateway, hub = setup
    a, b = hub.open_consumer("test"), hub.open_consumer("test")
    hub.attach(a, MarketDataSpec(CONID))
    hub.attach(b, MarketDataSpec(CONID))
    key = MarketDataSpec(CONID).key
    # a handle per consumer and the hub's tap (the one the router feeds)
    assert client.router.holders(key) == 3 and len(hub.upstreams) == 1
    ws = gateway.socket
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    ws.feed(smd(f31="1.0"))  # the first frame confirms the stream (ACTIVE)
    await until(lambda: hub.is_live(key) and bool(a.queue) and bool(b.queue))
    hub.rounds.flush()
    drain(a, b)  # both keep up: the next round is one shared batch each
    ws.feed(smd(f31="1.5"))
    await until(lambda: bool(batches(a)) and bool(batches(b)))
    (ba,), (bb,) = batches(a), batches(b)
    assert ba is bb and len(ba) == 1 and b'"31"' in ba.lines[0]  # encoded once, shared
    assert hub.encoded == hub.dispatched  # one encoding per event, not per consumer
    assert sum(t.startswith("smd+") for t in ws.sent) == 1


async def test_grace_period_holds_then_releases(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    client, gateway, hub = setup
    key = MarketDataSpec(CONID).key
    a = hub.open_consumer("test")
    hub.attach(a, MarketDataSpec(CONID))
    ws = gateway.socket
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    hub.detach(a, key)
    assert client.router.holders(key) == 1  # the tap holds it through the grace period
    b = hub.open_consumer("test")
    hub.attach(b, MarketDataSpec(CONID))  # within grace: reused
    assert hub.counts["grace_reuses"] == 1 and client.router.holders(key) == 2
    hub.detach(b, key)
    await ws.wait_sent(lambda t: t.startswith("umd+"))
    assert key not in hub.upstreams and client.router.holders(key) == 0
    assert sum(t.startswith("smd+") for t in ws.sent) == 1


async def test_more_fields_merge_and_pins_hold(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    client, gateway, hub = setup
    key = MarketDataSpec(CONID).key
    a, b = hub.open_consumer("test"), hub.open_consumer("test")
    hub.attach(a, MarketDataSpec(CONID, fields=("31",)))
    up = hub.attach(b, MarketDataSpec(CONID, fields=("84",)))
    assert isinstance(up.spec, MarketDataSpec) and up.spec.fields == ("31", "84")
    pinned = hub.pin(MarketDataSpec(CONID, fields=("31",)))
    assert pinned is up and up.pinned and client.router.holders(key) == 4  # 2 + pin + tap
    hub.close_consumer(a)
    hub.close_consumer(b)
    assert key in hub.upstreams and client.router.holders(key) == 2  # pin + tap
    assert hub.unpin(key) and not hub.unpin(key)
    await gateway.socket.wait_sent(lambda t: t.startswith("umd+"))


async def test_late_joiner_gets_the_snapshot_first(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    client, gateway, hub = setup
    a = hub.open_consumer("test")
    hub.attach(a, MarketDataSpec(CONID))
    ws = gateway.socket
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    ws.feed(smd(f31="1.5"), smd(f84="1.4"))
    await until(lambda: hub.is_live(MarketDataSpec(CONID).key) and client.ticker(CONID).bid == 1.4)
    late = hub.open_consumer("test")
    hub.attach(late, MarketDataSpec(CONID))
    (first,) = md_entries(late)
    assert first[0].values == {31: 1.5, 84: 1.4}
