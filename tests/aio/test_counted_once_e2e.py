"""Issue 20.1 end to end: the asyncio client against the simulator (which, like the gateway,
doubles each stream's opening snapshot and sends each execution twice) counts things once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import StreamClient, connect
from ibstream.protocol.events import MarketData, Trade, TradeUpdated
from ibstream.protocol.specs import MarketDataSpec, TradesSpec
from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory, wait_for
from toolkit import AAPL, assert_no_leaks, fast_client_config

pytestmark = pytest.mark.e2e


@pytest.fixture
async def sim(simulator: SimulatorFactory) -> Simulator:
    return await simulator(seed=3, heartbeat_interval=0.3)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[StreamClient]:
    c = connect(sim.base_url, config=fast_client_config())
    await c.start()
    try:
        yield c
    finally:
        await c.stop()
        await assert_no_leaks(sim)


async def test_one_opening_snapshot_and_one_trade_per_execution(
    client: StreamClient, sim: Simulator
) -> None:
    seen: list[Any] = []
    client.on(MarketData, seen.append)
    client.on(Trade, seen.append)
    client.on(TradeUpdated, seen.append)
    md = client.subscribe(MarketDataSpec(AAPL))
    trades = client.subscribe(TradesSpec())
    await md.ready(5)
    await trades.ready(5)
    await sim.place_order(conid=AAPL, side="BUY", quantity=10, order_type="MKT")
    await wait_for(lambda: any(type(e) is TradeUpdated for e in seen), timeout=10)
    await wait_for(lambda: client.metrics()["suppressed"]["opening_snapshots"] >= 1)
    # The opening snapshot arrived twice on the wire; consumers saw it once.
    assert len(sim.received_matching(f"smd+{AAPL}")) == 1
    opening = [e for e in seen if type(e) is MarketData]
    assert len(opening) >= 1
    assert len(opening) < 2 or opening[1].values != opening[0].values
    # One Trade per execution id; the commission came as a TradeUpdated.
    per_id = Counter(e.execution_id for e in seen if type(e) is Trade)
    assert per_id and max(per_id.values()) == 1
    updates = [e for e in seen if type(e) is TradeUpdated]
    assert all(u.execution_id in per_id for u in updates)
    assert any("commission" in u.changed for u in updates)
    # The trade book still holds every execution once, with its commission.
    assert set(client.trades) == set(per_id)
    assert client.trades[updates[0].execution_id].commission == updates[0].trade.commission
