"""The hub consumes the client's router: one handle per consumer and the hub's tap per stream,
one reference count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import MemoryGateway
from ibstream.protocol.events import MarketData
from ibstream.protocol.specs import MarketDataSpec
from ibstream.service.fanout import Batch
from ibstream.service.hub import Consumer, Hub
from ibstream.service.specs import Filters

CONID = 265598


def smd(conid: int = CONID, **fields: str) -> dict[str, Any]:
    frame: dict[str, Any] = {"topic": f"smd+{conid}", "conid": conid, "_updated": 1}
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


# -- batched fan-out (service/fanout.py) ---------------------------------------------------------


def sent_prices(consumer: Consumer, conid: int = CONID) -> list[float]:
    """Drain ``consumer`` as its writer would; the last prices (field 31) of ``conid`` sent."""
    out = []
    while consumer.queue:
        messages, _ = consumer.queue.take_ws(1 << 20)
        for line in b"\n".join(messages).split(b"\n"):
            doc = orjson.loads(line)
            if doc.get("type") == "MarketData" and doc["conid"] == conid:
                out.append(doc["values"]["31"])
    return out


async def live(hub: Hub, gateway: MemoryGateway, *consumers: Consumer, conid: int = CONID) -> None:
    """Attach ``consumers`` to ``conid``, confirm the stream (its first frame), drain them."""
    for c in consumers:
        hub.attach(c, MarketDataSpec(conid))
    await gateway.socket.wait_sent(lambda t: t.startswith(f"smd+{conid}"))
    gateway.socket.feed(smd(conid, f31="0.5"))
    await until(lambda: hub.is_live(MarketDataSpec(conid).key) and all(c.queue for c in consumers))
    hub.rounds.flush()
    for c in consumers:
        sent_prices(c, conid)


async def test_batches_keep_order_for_consumers_that_keep_up_and_those_behind(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    """A consumer that keeps up gets a round as one shared batch, one that is behind gets it
    event by event; both see every event in the gateway's order."""
    client, gateway, hub = setup
    ahead, behind = hub.open_consumer("test"), hub.open_consumer("test")
    await live(hub, gateway, ahead, behind)
    behind.queue.put_raw(b'{"type":"Pong"}')  # not drained: behind by one entry
    prices = [float(i) for i in range(1, 41)]
    gateway.socket.feed(*(smd(f31=str(p)) for p in prices))
    await until(lambda: client.ticker(CONID).last == prices[-1])
    hub.rounds.flush()
    assert len(batches(ahead)) >= 1 and not batches(behind)
    assert len(md_entries(behind)) == len(prices)  # its own entries, under the queue's policy
    assert sent_prices(ahead) == prices
    assert sent_prices(behind) == prices


async def test_a_slow_consumer_conflates_and_counts_while_a_fast_one_gets_everything(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    """A consumer that never drains stays bounded (market data merged per instrument, every
    merge counted, the latest value kept); a fast consumer of the same stream misses nothing."""
    client, gateway, hub = setup
    fast = hub.open_consumer("test")
    slow = hub.open_consumer("test", maxsize=5)
    await live(hub, gateway, fast, slow)
    got: list[float] = []
    for burst in range(10):
        prices = [burst * 10 + i + 1.0 for i in range(10)]
        gateway.socket.feed(*(smd(f31=str(p)) for p in prices))

        def reached(newest: float = prices[-1]) -> bool:
            return client.ticker(CONID).last == newest

        await until(reached)
        hub.rounds.flush()
        got += sent_prices(fast)
    assert got == [float(i) for i in range(1, 101)]
    assert len(slow.queue) <= 5 and not slow.queue.overflowed
    assert slow.queue.conflated > 0
    last = [e for e in slow.queue._entries if isinstance(e[0], MarketData)][-1][0]
    assert last.values[31] == 100.0  # conflation keeps the latest value
    assert fast.queue.conflated == 0


async def test_rounds_reach_only_the_consumers_of_their_streams_and_share_bytes(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    """Consumers are found by stream key; consumers that select the same events share one
    batch (encoded once), a filter makes its own selection."""
    client, gateway, hub = setup
    other_conid = 8314
    a, b = hub.open_consumer("test"), hub.open_consumer("test")
    narrow = hub.open_consumer("test", filters=Filters(conids=frozenset({CONID})))
    other = hub.open_consumer("test")
    await live(hub, gateway, a, b, narrow)
    await live(hub, gateway, other, conid=other_conid)
    hub.attach(a, MarketDataSpec(other_conid))
    hub.attach(b, MarketDataSpec(other_conid))
    hub.attach(narrow, MarketDataSpec(other_conid))
    for c in (a, b, narrow, other):
        sent_prices(c)
    gateway.socket.feed(smd(f31="7.0"), smd(other_conid, f31="8.0"))
    await until(lambda: client.ticker(other_conid).last == 8.0)
    hub.rounds.flush()
    (ba,), (bb,), (bn,), (bo,) = (batches(c) for c in (a, b, narrow, other))
    assert ba is bb and len(ba) == 2  # same selection: the same bytes
    assert bn is not ba and len(bn) == 1 and b'"conid":265598' in bn.lines[0]
    assert len(bo) == 1 and b'"conid":8314' in bo.lines[0]  # only its own stream
    assert bo.lines[0] is ba.lines[1]  # each event encoded once


async def test_joining_during_a_pending_round_gets_the_snapshot_not_the_event_again(
    setup: tuple[StreamClient, MemoryGateway, Hub],
) -> None:
    """Attaching hands the pending round out first: the earlier consumer gets the event, the
    newcomer gets the current state (which includes it) and no duplicate."""
    client, gateway, hub = setup
    a = hub.open_consumer("test")
    await live(hub, gateway, a)
    hub.rounds.flush_interval = hub.rounds.max_flush_interval = hub.rounds.interval = 60.0
    gateway.socket.feed(smd(f31="1.0"))  # the round right after the last one: at once
    await until(lambda: bool(a.queue))
    assert sent_prices(a) == [1.0]
    gateway.socket.feed(smd(f31="2.0"))  # now the round waits for the 60 s interval
    await until(lambda: client.ticker(CONID).last == 2.0)
    assert hub.rounds.log and not a.queue
    late = hub.open_consumer("test")
    hub.attach(late, MarketDataSpec(CONID))
    assert sent_prices(a) == [2.0]
    assert sent_prices(late) == [2.0]  # the snapshot, once
    assert not hub.rounds.log
