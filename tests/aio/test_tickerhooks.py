"""Per-ticker update hooks and the batched pending-tickers callback, against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from ibstream.aio.client import connect
from ibstream.aio.tickerhooks import on_pending_tickers, on_ticker_update
from ibstream.protocol.events import MarketData
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim import SimConfig, Simulator
from ibstream.state import Ticker

pytestmark = pytest.mark.e2e

AAPL, MSFT = 265598, 272093


async def test_hooks_see_merged_tickers_and_batch_per_iteration() -> None:
    cfg = SimConfig(port=0, tls=False, seed=5, update_interval=0.01)
    async with Simulator(cfg) as sim, connect(sim.base_url) as client:
        updates: list[float | None] = []
        batches: list[list[int]] = []
        frames: list[int] = []
        client.on(MarketData, lambda ev: frames.append(ev.conid))

        def on_aapl(t: Ticker) -> None:
            assert t is client.ticker(AAPL)
            updates.append(t.last)

        remove_one = on_ticker_update(client, AAPL, on_aapl)
        remove_all = on_pending_tickers(client, lambda ts: batches.append([t.conid for t in ts]))
        async with client.subscribe(MarketDataSpec(AAPL)), client.subscribe(MarketDataSpec(MSFT)):
            while len(batches) < 20 or not updates:
                await asyncio.sleep(0.01)
            remove_one()
            remove_all()
            seen_updates, seen_batches = len(updates), len(batches)
            more = len(frames) + 20  # hooks removed: 20 more frames reach nobody's hook
            while len(frames) < more:
                await asyncio.sleep(0.01)
    assert updates and all(u is None or isinstance(u, float) for u in updates)
    assert all(len(b) == len(set(b)) for b in batches)  # each ticker once per batch
    assert {c for b in batches for c in b} == {AAPL, MSFT}
    # batching: fewer calls than frames whenever frames arrive together
    assert sum(len(b) for b in batches) <= len(frames)
    assert (len(updates), len(batches)) == (seen_updates, seen_batches)
