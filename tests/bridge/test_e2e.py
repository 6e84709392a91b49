"""End-to-end: simulator -> bridge -> real NATS / Redis -> ibstream.remote, on both engines."""

from __future__ import annotations

import pytest

import ibstream.remote
from ibstream import MarketData, MarketDataSpec
from ibstream.sim import Simulator

from .helpers import AAPL, next_of, running_bridge, wait_for

pytestmark = pytest.mark.e2e


async def test_market_data_reaches_remote(sim: Simulator, bus_url: str, prefix: str) -> None:
    """A remote subscription asks for a conid; the bridge subscribes upstream; ticks arrive."""
    async with running_bridge(sim, bus_url, prefix) as bridge:
        async with ibstream.remote.connect(bus_url, prefix=prefix) as remote:  # noqa: SIM117
            async with remote.subscribe(MarketDataSpec(AAPL)) as sub:
                ev = await next_of(sub, MarketData)
                assert ev.conid == AAPL
                await wait_for(lambda: remote.ticker(AAPL).last is not None, what="last")
        assert bridge.counts["published"] > 0
