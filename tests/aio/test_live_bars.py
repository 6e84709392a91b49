"""Live bars from the simulator's stream over real sockets; offline bars equal live ones."""

from __future__ import annotations

import asyncio

import pytest

from ibstream.aio.client import connect
from ibstream.bars import LiveBars
from ibstream.exceptions import InvalidArgument, InvalidState
from ibstream.protocol.events import MarketData
from ibstream.sim import SimConfig, Simulator

pytestmark = pytest.mark.e2e

AAPL = 265598


async def test_tick_bars_live_match_the_ticks_seen() -> None:
    sim_cfg = SimConfig(port=0, tls=False, seed=3, update_interval=0.01)
    async with Simulator(sim_cfg) as sim, connect(sim.base_url) as client:
        ticks: list[tuple[float, float]] = []

        def seen(ev: object) -> None:
            if isinstance(ev, MarketData) and ev.conid == AAPL and not ev.closed:
                last, size = ev.values.get(31), ev.values.get(7059)
                if isinstance(last, float):
                    ticks.append((last, float(size) if isinstance(size, float) else 0.0))

        client.on(MarketData, seen)
        async with LiveBars(client, AAPL, "5t") as bars:
            got = []
            async for bar in bars:
                got.append(bar)
                if len(got) == 3:
                    break
        assert bars.forming is None or bars.forming.ticks < 5
    assert all(b.ticks == 5 and b.complete and not b.gap for b in got)
    # the first 15 trade ticks, by hand, are exactly the three bars
    first = ticks[:15]
    for i, bar in enumerate(got):
        chunk = first[i * 5 : i * 5 + 5]
        prices = [p for p, _ in chunk]
        assert (bar.open, bar.close) == (prices[0], prices[-1])
        assert (bar.high, bar.low) == (max(prices), min(prices))
        assert bar.volume == pytest.approx(sum(s for _, s in chunk))


async def test_time_bars_close_on_the_clock_without_a_trade() -> None:
    now = [1_000.0]
    sim_cfg = SimConfig(port=0, tls=False, seed=4, update_interval=0.01)
    async with (
        Simulator(sim_cfg) as sim,
        connect(sim.base_url) as client,
        LiveBars(client, AAPL, "1s", clock=lambda: now[0]) as bars,
    ):
        while bars.forming is None:  # wait for a first trade
            await asyncio.sleep(0.01)
        start = bars.forming.start_ms
        now[0] += 1.0  # a second later on the local clock the bucket has ended
        bar = await asyncio.wait_for(bars.__anext__(), 10)
        assert bar.start_ms == start and bar.end_ms == start + 1000 and bar.complete


async def test_misuse_is_a_clear_error() -> None:
    async with Simulator(SimConfig(port=0, tls=False)) as sim, connect(sim.base_url) as client:
        with pytest.raises(InvalidArgument, match="bar"):
            LiveBars(client, AAPL, "5 parsecs")
        bars = LiveBars(client, AAPL, "5t")
        with pytest.raises(InvalidState, match="async with"):
            await bars.__anext__()
