"""The asyncio client over an in-memory transport: no sockets, scripted gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import MemoryGateway, opening_burst
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import NotAuthenticated, SlowConsumerError, SubscriptionTimeout
from ibstream.protocol.connection import ProtocolConfig
from ibstream.protocol.events import MarketData, OrderUpdate
from ibstream.protocol.lifecycle import Gap, SessionState, SubscriptionState
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec
from ibstream.sim.testing import wait_for

CONID = 265598


def smd(conid: int = CONID, **fields: str) -> dict[str, Any]:
    frame: dict[str, Any] = {"topic": f"smd+{conid}", "conid": conid, "server_id": "q1"}
    frame.update({k.lstrip("f"): v for k, v in fields.items()})
    frame["_updated"] = 1_777_552_110_061
    return frame


def order(order_id: int, status: str) -> dict[str, Any]:
    return {"topic": "sor", "args": [{"acct": "DU1", "orderId": order_id, "status": status}]}


def config(**protocol: Any) -> ClientConfig:
    base: dict[str, Any] = {
        "heartbeat_timeout": 5.0,
        "subscribe_timeout": 0.2,
        "subscribe_attempts": 3,
        "auth_poll_interval": 0.05,
        "tickle_interval": 60.0,
        "max_unauthenticated": 0.3,
    }
    base.update(protocol)
    return ClientConfig(
        protocol=ProtocolConfig(**base),
        reconnect=lambda: ReconnectPolicy(initial=0.01, max_delay=0.05, min_delay=0.001),
        start_timeout=2.0,
    )


@pytest.fixture
def gateway() -> MemoryGateway:
    return MemoryGateway()


@pytest.fixture
async def client(gateway: MemoryGateway) -> AsyncIterator[StreamClient]:
    c = StreamClient(rest=gateway, config=config())
    await c.start()
    yield c
    await c.stop()


async def test_start_waits_for_sts_then_subscribes(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """The opening burst authenticates; a subscription is sent and confirmed by data."""
    assert client.state is SessionState.AUTHENTICATED
    handle = client.subscribe(MarketDataSpec(CONID, fields=("31", "84")))
    sent = await gateway.socket.wait_sent(lambda t: t.startswith("smd+"))
    assert sent == 'smd+265598+{"fields":["31","84"]}'
    gateway.socket.feed(smd(f31="271.5", f84="271.4"))
    await handle.ready(1)
    ev = await handle.get(1)
    while not isinstance(ev, MarketData):
        ev = await handle.get(1)
    assert ev.values[31] == 271.5
    assert client.ticker(CONID).bid == 271.4


async def test_nothing_sent_before_authentication(gateway: MemoryGateway) -> None:
    """Subscriptions wait for sts authenticated:true (quirk §8.1)."""
    gateway.auto_burst = False
    client = StreamClient(rest=gateway, config=config())
    starting = asyncio.create_task(client.start())
    ws = await gateway.wait_socket(1)
    handle = client.subscribe(MarketDataSpec(CONID))  # wanted before authentication
    # A marker: the session message answers "waiting for session"; once it was sent, the client
    # had every chance to send the subscription too, and must not have.
    ws.feed({"message": "waiting for session"})
    marker = await ws.wait_sent(lambda t: t.startswith('{"session"'))
    assert ws.sent == [marker]
    ws.feed(*opening_burst())
    await starting
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    assert handle.state is SubscriptionState.SUBSCRIBING
    await client.stop()


async def test_ignored_subscription_is_retried_then_fails(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """No confirmation: re-sent every subscribe_timeout, then FAILED -> SubscriptionTimeout."""
    handle = client.subscribe(MarketDataSpec(CONID))
    with pytest.raises(SubscriptionTimeout):
        await handle.ready(3)
    assert sum(t.startswith("smd+") for t in gateway.socket.sent) == 3


async def test_drop_reconnects_resubscribes_and_reports_gap(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """An abrupt drop: new socket, same subscription re-sent, Gap with the outage window."""
    handle = client.subscribe(MarketDataSpec(CONID))
    first = gateway.socket
    await first.wait_sent(lambda t: t.startswith("smd+"))
    first.feed(smd(f31="1.0"))
    await handle.ready(1)
    first.drop()
    second = await gateway.wait_socket(2)
    await second.wait_sent(lambda t: t.startswith("smd+"))
    second.feed(smd(f31="2.0"))
    async with asyncio.timeout(2):
        async for ev in handle:
            if isinstance(ev, Gap):
                assert ev.end >= ev.start
                break
    assert client.metrics()["reconnects"] == 1


async def test_server_close_with_new_session_id_uses_new_cookie(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """After a restart the next /tickle gives a new session id, used for the new socket."""
    gateway.session_id = "f" * 32
    gateway.socket.close_from_server(1000)
    second = await gateway.wait_socket(2)
    assert second.session_id == "f" * 32
    assert client.session_id == "f" * 32


async def test_session_change_seen_by_keepalive_forces_reconnect(gateway: MemoryGateway) -> None:
    """A /tickle keepalive that returns another session id closes and reopens the socket."""
    client = StreamClient(rest=gateway, config=config(tickle_interval=0.05))
    await client.start()
    gateway.session_id = "e" * 32
    second = await gateway.wait_socket(2)
    assert second.session_id == "e" * 32
    await client.stop()


async def test_heartbeat_timeout_reconnects(gateway: MemoryGateway) -> None:
    """A silent socket is declared stale after heartbeat_timeout and replaced."""
    client = StreamClient(rest=gateway, config=config(heartbeat_timeout=0.1))
    await client.start()
    await gateway.wait_socket(2)
    assert gateway.sockets[0].closed
    await client.stop()


async def test_auth_lost_polls_and_restores(client: StreamClient, gateway: MemoryGateway) -> None:
    """sts authenticated:false -> AUTH_LOST; polling finds it restored; streams re-sent."""
    handle = client.subscribe(MarketDataSpec(CONID))
    ws = gateway.socket
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    ws.feed(smd(f31="1.0"))
    await handle.ready(1)
    gateway.authenticated = False
    ws.feed({"topic": "sts", "args": {"authenticated": False}})
    await wait_for(lambda: client.state is SessionState.AUTH_LOST, timeout=1)
    gateway.authenticated = True
    await wait_for(lambda: sum(t.startswith("smd+") for t in ws.sent) >= 2, timeout=2)
    assert client.state is SessionState.AUTHENTICATED
    assert "auth_status" in gateway.calls
    assert len(gateway.sockets) == 1


async def test_orders_never_dropped_slow_consumer_told(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """An orders consumer that falls behind its buffer gets SlowConsumerError, not silence."""
    handle = client.subscribe(OrdersSpec(), maxsize=5)
    await handle.ready(1)
    for i in range(10):
        gateway.socket.feed(order(100 + i, "Submitted"))
    await wait_for(lambda: len(client.orders) >= 10, timeout=1)
    got: list[Any] = []
    with pytest.raises(SlowConsumerError):
        while True:
            got.append(await handle.get(1))
    assert 0 < len([e for e in got if isinstance(e, OrderUpdate)]) <= 5
    assert len(client.orders) == 10  # the live state saw everything


async def test_market_data_conflates_for_slow_consumer(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """A market-data consumer that falls behind gets merged events; nothing grows unbounded."""
    handle = client.subscribe(MarketDataSpec(CONID), maxsize=3)
    ws = gateway.socket
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    for i in range(50):
        ws.feed(smd(f31=f"{100 + i}.0"))
    await wait_for(lambda: client.ticker(CONID).last == 149.0, timeout=1)
    assert len(handle.buffer) <= 4
    assert handle.conflated > 0
    assert client.metrics()["conflated"] == handle.conflated
    last = None
    while (ev := handle.get_nowait()) is not None:
        last = ev
    assert isinstance(last, MarketData) and last.values[31] == 149.0


async def test_never_authenticated_is_fatal(gateway: MemoryGateway) -> None:
    """A gateway that answers 401 forever ends in NotAuthenticated, not an endless loop."""
    gateway.logged_in = False
    client = StreamClient(rest=gateway, config=config())
    with pytest.raises(NotAuthenticated):
        await client.start()
    assert gateway.calls.count("tickle") >= 2


async def test_frame_tap_and_metrics(client: StreamClient, gateway: MemoryGateway) -> None:
    """on_frame sees both directions; metrics count frames, events and lag."""
    seen: list[tuple[str, Any]] = []
    client.on_frame(lambda d, data, now, binary: seen.append((d, data)))
    client.subscribe(MarketDataSpec(CONID))
    await gateway.socket.wait_sent(lambda t: t.startswith("smd+"))
    gateway.socket.feed(smd(f31="5.0"))
    await wait_for(lambda: any(d == "in" for d, _ in seen), timeout=1)
    assert any(d == "out" and str(data).startswith("smd+") for d, data in seen)
    m = client.metrics()
    assert m["frames"] >= 4 and m["events"]["MarketData"] == 1
    assert m["lag_ms"]["max"] != 0


async def test_unbuffered_handle_holds_the_stream_only(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """buffer=False: the stream is held (ready, shared, unsubscribed on leave), no events kept."""
    seen: list[Any] = []
    client.on(MarketData, seen.append)
    holder = client.subscribe(MarketDataSpec(CONID), buffer=False)
    reader = client.subscribe(MarketDataSpec(CONID))
    ws = gateway.socket
    await ws.wait_sent(lambda t: t.startswith("smd+"))
    for i in range(5):
        ws.feed(smd(f31=f"{i}.0"))
    await holder.ready(1)
    await wait_for(lambda: len(seen) >= 5, timeout=1)
    assert len(holder.buffer) == 0 and [e async for e in holder] == []
    assert len([e for e in reader.buffer._entries if isinstance(e[0], MarketData)]) == 5
    await reader.unsubscribe()
    assert not any(t.startswith("umd+") for t in ws.sent)  # the holder keeps the stream
    await holder.unsubscribe()
    await ws.wait_sent(lambda t: t.startswith("umd+"))
