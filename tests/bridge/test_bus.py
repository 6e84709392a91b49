"""Bus-level behaviour on real servers: fencing, dedupe, retention, the state handover, leases."""

from __future__ import annotations

import pytest

import ibstream.remote
from ibstream import MarketDataSpec, OrdersSpec, OrderUpdate, Pnl, PnlSpec
from ibstream.remote import Fenced, open_bus
from ibstream.remote.wire import message_id
from ibstream.serialize import event_to_json
from ibstream.sim import Simulator

from .helpers import AAPL, WAIT, next_of, order_update, running_bridge, wait_for

pytestmark = pytest.mark.e2e

KEY = OrdersSpec().key


async def test_stale_fencing_token_is_rejected(bus_url: str, prefix: str) -> None:
    """After token 5 wrote, a message of token 3 never reaches a consumer: Redis refuses it in
    the publish script, NATS stores it and every consumer drops it."""
    bus = open_bus(bus_url, prefix=prefix)
    await bus.start()
    await bus.provision()
    try:
        async with ibstream.remote.connect(bus_url, prefix=prefix) as remote:
            sub = remote.subscribe(OrdersSpec())
            await sub.ready(5)
            new = order_update(1, "Submitted")
            await bus.publish(
                KEY, "OrderUpdate", event_to_json(new), msg_id="a", fence=5, sent_ms=1
            )
            assert (await next_of(sub, OrderUpdate, WAIT)).status == "Submitted"
            stale = order_update(1, "Cancelled")
            if bus_url.startswith("redis"):
                with pytest.raises(Fenced):
                    await bus.publish(
                        KEY, "OrderUpdate", event_to_json(stale), msg_id="b", fence=3, sent_ms=2
                    )
            else:
                await bus.publish(
                    KEY, "OrderUpdate", event_to_json(stale), msg_id="b", fence=3, sent_ms=2
                )
                await wait_for(
                    lambda: remote.fence.rejected == 1, timeout=WAIT, what="stale message dropped"
                )
            later = order_update(1, "Filled")
            await bus.publish(
                KEY, "OrderUpdate", event_to_json(later), msg_id="c", fence=5, sent_ms=3
            )
            assert (await next_of(sub, OrderUpdate, WAIT)).status == "Filled"  # never "Cancelled"
            assert remote.orders[1].status is not None
            assert remote.orders[1].fields["status"] == "Filled"
    finally:
        await bus.close()


async def test_dedupe_id_stores_an_event_once(bus_url: str, prefix: str) -> None:
    bus = open_bus(bus_url, prefix=prefix)
    await bus.start()
    await bus.provision()
    try:
        body = event_to_json(order_update(2, "Submitted"))
        pos1, dup1 = await bus.publish(KEY, "OrderUpdate", body, msg_id="x", fence=1, sent_ms=1)
        pos2, dup2 = await bus.publish(KEY, "OrderUpdate", body, msg_id="x", fence=2, sent_ms=2)
        assert not dup1 and dup2 and pos1 == pos2
    finally:
        await bus.close()


async def test_a_state_that_comes_back_is_stored_again(bus_url: str, prefix: str) -> None:
    """P&L A -> B -> A and an order Submitted -> PreSubmitted -> Submitted, with the ids the
    bridge gives them: the bus stores all six (a content id would drop the second A for the
    whole dedupe window), and a consumer ends on A and Submitted, not on B and PreSubmitted."""
    bus = open_bus(bus_url, prefix=prefix)
    await bus.start()
    await bus.provision()
    pnl_key = PnlSpec().key

    def pnl(daily: float) -> Pnl:
        return Pnl(
            key=pnl_key,
            account="DU1",
            row="DU1.Core",
            row_type=1,
            daily_pnl=daily,
            unrealized_pnl=None,
            net_liquidity=1000.0,
            excess_liquidity=None,
            market_value=None,
            raw={},
        )

    try:
        async with ibstream.remote.connect(bus_url, prefix=prefix) as remote:
            pnl_sub = remote.subscribe(PnlSpec())
            orders_sub = remote.subscribe(OrdersSpec())
            await pnl_sub.ready(5)
            await orders_sub.ready(5)
            sequence: list[Pnl | OrderUpdate] = [
                pnl(10.0),
                order_update(3, "Submitted"),
                pnl(12.5),
                order_update(3, "PreSubmitted"),
                pnl(10.0),
                order_update(3, "Submitted"),
            ]
            for serial, event in enumerate(sequence, 1):
                body = event_to_json(event)
                msg_id = message_id(event, body, 1, serial)
                kind = type(event).__name__
                _, dup = await bus.publish(
                    event.key, kind, body, msg_id=msg_id, fence=1, sent_ms=serial
                )
                assert not dup, f"{kind} #{serial} taken for a duplicate"
            got_pnl = [(await next_of(pnl_sub, Pnl, WAIT)).daily_pnl for _ in range(3)]
            got_orders = [(await next_of(orders_sub, OrderUpdate, WAIT)).status for _ in range(3)]
            assert got_pnl == [10.0, 12.5, 10.0]
            assert got_orders == ["Submitted", "PreSubmitted", "Submitted"]
            assert remote.orders[3].fields["status"] == "Submitted"
    finally:
        await bus.close()


async def test_leader_that_loses_its_lease_stops(sim: Simulator, bus_url: str, prefix: str) -> None:
    """Another node takes the lease (an operator, a partition healing): the leader stops
    publishing at once and closes its gateway session, and does not lead again.

    The lease is long (10 s) and renewed often, so a loaded machine that starves the loop for a
    second cannot end the term by itself: the only loss is the rival's. The term is over when the
    bridge dropped its client (``client.stop()`` returned), which is later than the gateway
    seeing the socket close: wait for both, never for one and assert the other."""
    async with (
        running_bridge(sim, bus_url, prefix, lease_ttl=10.0, renew_every=0.2) as bridge,
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
    ):
        sub = remote.subscribe(MarketDataSpec(AAPL))
        await sub.ready(WAIT)
        await wait_for(lambda: sim.connections == 1, timeout=WAIT, what="session")
        assert bridge.terms == 1 and bridge.lease.token is not None
        rival = open_bus(bus_url, prefix=prefix)
        await rival.start()
        try:
            if bus_url.startswith("redis"):
                r = rival._r  # type: ignore[attr-defined]
                await r.set(rival.layout.redis_leader, "999:rival")  # held until the test ends
            else:
                kv = await rival._leader_kv(10.0)  # type: ignore[attr-defined]
                await kv.put("leader", b"rival")  # kept for the bucket's TTL (10 s)
            await wait_for(lambda: bridge.lease.token is None, timeout=WAIT, what="stepped down")
            await wait_for(
                lambda: bridge.client is None and sim.connections == 0,
                timeout=WAIT,
                what=lambda: f"term over: client {bridge.client!r}, sockets {sim.connections}",
            )
            assert bridge.counts["lease_lost"] == 1
            assert bridge.terms == 1  # the rival holds the lease: no second term
            assert not bridge.lease.valid(0.0)
        finally:
            await rival.close()


async def test_resume_past_retention_reports_a_gap(bus_url: str, prefix: str) -> None:
    """Resuming from a position the bus trimmed away starts with a Gap, then the oldest kept."""
    from ibstream import Gap
    from ibstream.remote import Retention

    bus = open_bus(bus_url, prefix=prefix, retention=Retention(reliable_per_key=10))
    await bus.start()
    await bus.provision()
    try:
        first, _ = await bus.publish(
            KEY,
            "OrderUpdate",
            event_to_json(order_update(1, "Submitted")),
            msg_id="m0",
            fence=1,
            sent_ms=1,
        )
        for i in range(1, 250):
            await bus.publish(
                KEY,
                "OrderUpdate",
                event_to_json(order_update(1 + i, "Submitted")),
                msg_id=f"m{i}",
                fence=1,
                sent_ms=1,
            )
        async with ibstream.remote.connect(bus_url, prefix=prefix) as remote:
            sub = remote.subscribe(OrdersSpec(), after=first)
            gap = await sub.get(5)
            assert isinstance(gap, Gap) and gap.key == KEY
            nxt = await next_of(sub, OrderUpdate, WAIT)
            assert nxt.order_id > 2  # the messages right after the position are gone
            assert remote.metrics()["gaps_retention"] == 1
    finally:
        await bus.close()


async def test_redis_entries_work_with_consumer_groups(redis_url: str, prefix: str) -> None:
    """Plain Redis consumer groups read the bridge's entries as they are."""
    from ibstream.remote import event_from_json

    bus = open_bus(redis_url, prefix=prefix)
    await bus.start()
    try:
        await bus.publish(
            KEY,
            "OrderUpdate",
            event_to_json(order_update(7, "Filled")),
            msg_id="g1",
            fence=1,
            sent_ms=1,
        )
        r = bus._r  # type: ignore[attr-defined]
        stream = bus.layout.redis_stream(KEY)
        await r.xgroup_create(stream, "risk", id="0")
        reply = await r.xreadgroup("risk", "worker-1", {stream: ">"}, count=10)
        [(_, entries)] = reply
        [(entry_id, fields)] = entries
        ev = event_from_json(fields[b"e"])
        assert isinstance(ev, OrderUpdate) and ev.order_id == 7
        assert fields[b"i"] == b"g1" and fields[b"f"] == b"1"
        assert await r.xack(stream, "risk", entry_id) == 1
    finally:
        await bus.close()


async def test_redis_streams_are_trimmed_by_age(redis_url: str, prefix: str) -> None:
    """Entries older than the retention age go (as JetStream's max_age does), approximately."""
    from ibstream.remote import Retention

    bus = open_bus(redis_url, prefix=prefix, retention=Retention(reliable_age=60.0))
    await bus.start()
    try:
        old_ms = 1_000_000  # long ago
        r = bus._r  # type: ignore[attr-defined]
        stream = bus.layout.redis_stream(KEY)
        for i in range(150):  # older than the window (ids chosen by hand)
            await r.xadd(stream, {"e": b"{}"}, id=f"{old_ms}-{i}")
        await bus.publish(
            KEY,
            "OrderUpdate",
            event_to_json(order_update(3, "Submitted")),
            msg_id="n",
            fence=1,
            sent_ms=10_000_000_000_000,
        )
        first = await bus.first_position(KEY)
        # trimming is approximate (whole macro nodes of 100 entries): the oldest node went
        assert first is not None and first >= (old_ms, 100)
    finally:
        await bus.close()


async def test_state_then_stream_without_hole_or_duplicate(bus_url: str, prefix: str) -> None:
    """The handover rule, made deterministic: state of order 1 stored at its 2nd event while the
    watermark is still at the 1st (a flush racing the publisher). A late joiner gets the state,
    skips the 2nd event (already in it), and receives the 3rd: nothing twice, nothing missed."""
    from ibstream.bridge.core import StateMirror

    bus = open_bus(bus_url, prefix=prefix)
    await bus.start()
    await bus.provision()
    mirror = StateMirror()
    try:
        evs = [
            OrderUpdate(
                key=KEY,
                account="DU1",
                order_id=1,
                conid=AAPL,
                status="PreSubmitted",
                changes={"orderId": 1, "status": "PreSubmitted", "side": "BUY"},
                raw={},
            ),
            OrderUpdate(
                key=KEY,
                account="DU1",
                order_id=1,
                conid=AAPL,
                status="Submitted",
                changes={"orderId": 1, "status": "Submitted"},
                raw={},
            ),
            OrderUpdate(
                key=KEY,
                account="DU1",
                order_id=1,
                conid=AAPL,
                status="Filled",
                changes={"orderId": 1, "status": "Filled"},
                raw={},
            ),
        ]
        positions = []
        for i, ev in enumerate(evs[:2]):
            pos, _ = await bus.publish(
                KEY, "OrderUpdate", event_to_json(ev), msg_id=f"h{i}", fence=1, sent_ms=1
            )
            positions.append(pos)
            mirror.applied(ev, 0, pos)
        [(_, entries, _)] = mirror.take(0, fence=1)
        await bus.put_state(KEY, entries, positions[0])  # entity at event 2, watermark at 1
        pos3, _ = await bus.publish(
            KEY, "OrderUpdate", event_to_json(evs[2]), msg_id="h2", fence=1, sent_ms=1
        )
        async with ibstream.remote.connect(bus_url, prefix=prefix) as late:
            sub = late.subscribe(OrdersSpec())
            state = await next_of(sub, OrderUpdate, WAIT)
            assert state.status == "Submitted" and state.changes["side"] == "BUY"
            nxt = await next_of(sub, OrderUpdate, WAIT)
            assert nxt.status == "Filled"
            assert sub.skipped == 1 and sub.position == pos3
            assert sub.get_nowait() is None
            assert late.orders[1].fields["status"] == "Filled"
    finally:
        await bus.close()


async def test_nats_lease_bucket_takes_the_configured_ttl(nats_url: str, prefix: str) -> None:
    """A leader bucket with a shorter TTL than a bridge's lease is raised to it, never lowered
    (a short-TTL bridge must not let a standby in while a long-TTL leader still leads)."""
    first = open_bus(nats_url, prefix=prefix)
    second = open_bus(nats_url, prefix=prefix)
    await first.start()
    await second.start()
    try:
        assert await first.acquire("a", 2.0) is not None
        js = second._js  # type: ignore[attr-defined]
        stream = f"KV_{second.layout.leader_bucket}"
        assert await second.acquire("b", 30.0) is None  # held; the bucket now keeps keys 30 s
        assert (await js.stream_info(stream)).config.max_age == 30.0
        assert await second.acquire("b", 1.0) is None
        assert (await js.stream_info(stream)).config.max_age == 30.0  # not lowered
    finally:
        await first.close()
        await second.close()
