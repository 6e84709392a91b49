"""End-to-end: simulator -> bridge -> real NATS / Redis -> ibstream.remote, on both engines."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

import ibstream.remote
from ibstream import (
    Bulletin,
    Gap,
    MarketData,
    MarketDataSpec,
    OrdersSpec,
    OrderStatus,
    OrderUpdate,
    Pnl,
    PnlSpec,
    Trade,
    TradesSpec,
)
from ibstream.remote import event_from_dict
from ibstream.remote.wire import StateEntry, spec_to_json
from ibstream.sim import Simulator

from .helpers import (
    AAPL,
    MSFT,
    WAIT,
    next_of,
    running_bridge,
    upstream,
    upstream_holds,
    wait_for,
)

pytestmark = pytest.mark.e2e


async def _fill(sim: Simulator, conid: int = AAPL) -> int:
    order = await sim.place_order(conid, "BUY", 5, "MKT")
    return int(order.order_id)


async def _state_holds(bus_url: str, prefix: str, order_ids: list[int]) -> None:
    """Wait until the bus's live state of the orders stream shows ``order_ids`` filled."""
    bus = ibstream.remote.open_bus(bus_url, prefix=prefix)
    await bus.start()
    filled: set[int] = set()
    try:
        async with asyncio.timeout(WAIT):
            while not set(order_ids) <= filled:
                _, entries = await bus.state(OrdersSpec().key)
                for data in entries.values():
                    ev = event_from_dict(StateEntry.from_json(data).event)
                    if isinstance(ev, OrderUpdate) and str(ev.status).lower() == "filled":
                        filled.add(ev.order_id)
                await asyncio.sleep(0.02)
    finally:
        await bus.close()


def _filled(books: object, order_id: int) -> bool:
    order = books.get(order_id)  # type: ignore[attr-defined]
    return order is not None and order.status is OrderStatus.FILLED


async def test_market_data_reaches_remote(sim: Simulator, bus_url: str, prefix: str) -> None:
    """A remote subscription asks for a conid; the bridge subscribes upstream; ticks arrive."""
    async with (
        running_bridge(sim, bus_url, prefix) as bridge,
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
    ):
        seen: list[MarketData] = []
        remote.on(MarketData, seen.append)
        async with remote.subscribe(MarketDataSpec(AAPL)) as sub:
            ev = await next_of(sub, MarketData, WAIT)
            assert ev.conid == AAPL
            await wait_for(
                lambda: remote.ticker(AAPL).last is not None, timeout=WAIT, what="last price"
            )
        assert bridge.counts["published"] > 0
        assert seen and seen[0] == ev  # callbacks see what the subscription delivers


async def test_orders_trades_pnl_and_events(sim: Simulator, bus_url: str, prefix: str) -> None:
    """Orders, fills (each execution once per copy), P&L and keyless events reach consumers."""
    async with (
        running_bridge(sim, bus_url, prefix),
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
    ):
        events = remote.events()
        orders = remote.subscribe(OrdersSpec())
        trades = remote.subscribe(TradesSpec())
        pnl = remote.subscribe(PnlSpec())
        await asyncio.gather(orders.ready(5), trades.ready(5), pnl.ready(5))
        await upstream_holds(sim)
        oid = await _fill(sim)
        await wait_for(lambda: _filled(remote.orders, oid), timeout=WAIT, what="filled order")
        await next_of(orders, OrderUpdate, WAIT)
        async with asyncio.timeout(10):  # the account's earlier executions come first
            async for trade in trades:
                if isinstance(trade, Trade) and trade.order_id == oid:
                    break
        await next_of(pnl, Pnl, WAIT)
        assert remote.trades.for_order(oid)
        books = remote.metrics()  # what the remote's bounded books keep
        assert books["orders"]["kept"] == len(remote.orders) >= 1
        assert books["orders"]["evicted"] == 0
        assert books["trades"]["kept"] == len(remote.trades) >= 1
        sim.send_bulletin("exchange closed early")
        bulletin = await next_of(events, Bulletin, WAIT)
        assert bulletin.message == "exchange closed early"


async def test_upstream_gap_reaches_remote(sim: Simulator, bus_url: str, prefix: str) -> None:
    """A dropped gateway socket becomes a Gap on the remote subscription of that stream."""
    async with (
        running_bridge(sim, bus_url, prefix),
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
        remote.subscribe(MarketDataSpec(AAPL)) as sub,
    ):
        await next_of(sub, MarketData, WAIT)
        await sim.drop_connections(abrupt=True)
        gap = await next_of(sub, Gap, timeout=15)
        assert gap.key == MarketDataSpec(AAPL).key and gap.end >= gap.start
        await next_of(sub, MarketData, WAIT)  # and the stream goes on


async def test_late_joiner_starts_from_state(sim: Simulator, bus_url: str, prefix: str) -> None:
    """A consumer joining late gets the state (every order), then the stream: its book ends
    equal to an early consumer's, and it never receives one stream position twice."""
    async with (
        running_bridge(sim, bus_url, prefix),
        ibstream.remote.connect(bus_url, prefix=prefix) as early,
    ):
        sub_early = early.subscribe(OrdersSpec())
        await sub_early.ready(5)
        await upstream_holds(sim)
        first = [await _fill(sim) for _ in range(3)]
        for oid in first:
            await wait_for(
                lambda oid=oid: _filled(early.orders, oid), timeout=WAIT, what="early fills"
            )
        await _state_holds(bus_url, prefix, first)  # written to the bus, not only taken
        async with ibstream.remote.connect(bus_url, prefix=prefix) as late:
            sub_late = late.subscribe(OrdersSpec())
            await sub_late.ready(5)
            # the state, read before the stream, already holds the filled orders
            for oid in first:
                assert _filled(late.orders, oid)
            positions: list[object] = []
            more = [await _fill(sim) for _ in range(2)]
            for oid in more:
                await wait_for(
                    lambda oid=oid: _filled(late.orders, oid), timeout=WAIT, what="late fills"
                )
            await wait_for(
                lambda: late.orders.keys() == early.orders.keys(), timeout=WAIT, what="same ids"
            )
            for oid in early.orders:
                assert late.orders[oid].fields == early.orders[oid].fields
            while (ev := sub_late.get_nowait()) is not None:
                positions.append(ev)
            assert late.metrics()["delivered"] >= len(first) + len(more)


async def test_consumer_resumes_from_its_position(
    sim: Simulator, bus_url: str, prefix: str
) -> None:
    """A consumer that stops and comes back with ``after=position`` sees exactly the events it
    missed, in order: no hole, no repeat."""
    async with (
        running_bridge(sim, bus_url, prefix),
        ibstream.remote.connect(bus_url, prefix=prefix) as watcher,
    ):
        all_trades = watcher.subscribe(TradesSpec())
        await all_trades.ready(5)
        await upstream_holds(sim)
        async with ibstream.remote.connect(bus_url, prefix=prefix) as consumer:
            sub = consumer.subscribe(TradesSpec())
            await _fill(sim)
            await next_of(sub, Trade, WAIT)
            position = sub.position
            assert position is not None
        # the consumer is gone; trades go on
        oid = await _fill(sim)
        await wait_for(
            lambda: watcher.trades.for_order(oid), timeout=WAIT, what="watcher sees the fill"
        )
        seen: list[tuple[str, bool]] = []
        while (ev := all_trades.get_nowait()) is not None:
            if isinstance(ev, Trade):
                seen.append((ev.execution_id, ev.commission is not None))
        async with ibstream.remote.connect(bus_url, prefix=prefix) as again:
            resumed = again.subscribe(TradesSpec(), after=position)
            got: list[tuple[str, bool]] = []
            async with asyncio.timeout(10):
                async for ev in resumed:
                    if isinstance(ev, Trade):
                        got.append((ev.execution_id, ev.commission is not None))
                    if got and got[-1] == seen[-1]:
                        break
            assert again.metrics()["gaps_retention"] == 0  # nothing was trimmed
        assert got == seen[seen.index(got[0]) :]
        assert len(got) == len(set(got))


async def test_demand_leases_drive_upstream(sim: Simulator, bus_url: str, prefix: str) -> None:
    """A lease subscribes upstream; when it is not renewed (the consumer died) the bridge
    unsubscribes; closing a remote subscription releases at once."""

    async with (
        running_bridge(sim, bus_url, prefix) as bridge,
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
    ):
        # a consumer that sends one short lease and dies
        payload = {"consumer": "dead", "ttl": 0.6, "specs": [spec_to_json(MarketDataSpec(MSFT))]}
        await remote.bus.send_demand(orjson.dumps(payload))
        await wait_for(
            lambda: f"md:{MSFT}" in upstream(sim), timeout=WAIT, what="upstream subscribe"
        )
        t0 = time.monotonic()
        await wait_for(lambda: f"md:{MSFT}" not in upstream(sim), timeout=WAIT, what="lease expiry")
        assert time.monotonic() - t0 < 5
        sub = remote.subscribe(MarketDataSpec(AAPL))
        await next_of(sub, MarketData, WAIT)
        assert f"md:{AAPL}" in upstream(sim)
        await sub.unsubscribe()
        await wait_for(lambda: f"md:{AAPL}" not in upstream(sim), timeout=WAIT, what="release")
        assert bridge.counts["demand_released"] >= 2


async def test_account_history_and_ladder_on_demand(
    sim: Simulator, bus_url: str, prefix: str
) -> None:
    """Summary, ledger, market history and price ladder: asked for by remote subscriptions
    (demand leases), published, and typed again at the consumer."""
    from ibstream import (
        AccountLedger,
        AccountLedgerSpec,
        AccountSummary,
        AccountSummarySpec,
        MarketHistory,
        MarketHistorySpec,
        PriceLadder,
        PriceLadderSpec,
    )

    account = "DU1234567"
    async with (
        running_bridge(sim, bus_url, prefix),
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
    ):
        summary = remote.subscribe(AccountSummarySpec(account))
        ledger = remote.subscribe(AccountLedgerSpec(account))
        history = remote.subscribe(MarketHistorySpec(AAPL))
        ladder = remote.subscribe(PriceLadderSpec(account, AAPL))
        s = await next_of(summary, AccountSummary, WAIT)
        assert s.account == account and s.values
        led = await next_of(ledger, AccountLedger, WAIT)
        assert led.account == account
        h = await next_of(history, MarketHistory, WAIT)
        assert h.conid == AAPL and h.bars
        lad = await next_of(ladder, PriceLadder, WAIT)
        assert lad.rows
        await wait_for(lambda: remote.account.summary(account), timeout=WAIT, what="account state")


async def test_one_bridge_publishes_to_both_buses(
    sim: Simulator, nats_url: str, redis_url: str, prefix: str
) -> None:
    """With --nats and --redis, every event reaches consumers of either bus (lease on NATS)."""
    async with (
        running_bridge(sim, nats_url, prefix, buses=(redis_url, nats_url)) as bridge,
        ibstream.remote.connect(nats_url, prefix=prefix) as on_nats,
        ibstream.remote.connect(redis_url, prefix=prefix) as on_redis,
    ):
        assert [type(b).__name__ for b in bridge.buses] == ["NatsBus", "RedisBus"]
        a = on_nats.subscribe(OrdersSpec())
        b = on_redis.subscribe(OrdersSpec())
        await asyncio.gather(a.ready(5), b.ready(5))
        await upstream_holds(sim)
        oid = await _fill(sim)
        await wait_for(lambda: _filled(on_nats.orders, oid), timeout=WAIT, what="filled via NATS")
        await wait_for(lambda: _filled(on_redis.orders, oid), timeout=WAIT, what="filled via Redis")
        assert on_nats.orders[oid].fields == on_redis.orders[oid].fields
