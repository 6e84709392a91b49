"""Pacing against the simulator with IBKR's limits switched on (global 10 req/s on /iserver,
snapshot 10/s, /portfolio/accounts 1 per 5 s): bursts finish without a single 429."""

from __future__ import annotations

import asyncio
import time

import pytest

from ibstream.aio.client import StreamClient
from ibstream.aio.pacing import RateLimiter
from ibstream.aio.rest import GatewayRest
from ibstream.exceptions import RateLimited
from ibstream.sim.testing import SimulatorFactory

pytestmark = pytest.mark.e2e

AAPL = 265598


@pytest.mark.timeout(90)
async def test_burst_of_200_snapshots_has_no_429_and_keeps_the_rate(
    simulator: SimulatorFactory,
) -> None:
    sim = await simulator(rate_limit=10.0, endpoint_limits=True)
    client = StreamClient(sim.base_url)
    try:
        conids = [AAPL, 272093, 8314, 4391, 12087792]
        await client.marketdata.snapshot(conids, fields=["31", "84", "86"])  # primes them
        served_before = sim.gateway.limits.served["snapshot"]
        start = time.monotonic()
        results = await asyncio.gather(
            *(
                client.marketdata.snapshot([conids[i % len(conids)]], fields=["31", "84", "86"])
                for i in range(200)
            )
        )
        elapsed = time.monotonic() - start
        requests = sim.gateway.limits.served["snapshot"] - served_before
        rate = requests / elapsed
        print(
            f"\n200 snapshot calls: {requests} requests in {elapsed:.2f}s = {rate:.2f} req/s "
            f"(limit 10/s), 429s: {sum(sim.gateway.limits.refused.values())}"
        )
        assert all(r[next(iter(r))].last is not None for r in results)
        assert requests == 200
        assert sum(sim.gateway.limits.refused.values()) == 0
        pacing = client.metrics()["pacing"]
        assert pacing["limits"]["snapshot"]["throttled"] == 0
        assert pacing["limits"]["snapshot"]["waited"] >= 150
        assert rate <= 10.0
        assert elapsed >= (200 - 10) / 10.0  # no faster than the documented rate
    finally:
        await client.rest.close()


async def test_429_is_retried_with_backoff_then_raised_typed(
    simulator: SimulatorFactory,
) -> None:
    sim = await simulator(endpoint_limits=True)
    # a client without limits hits the gateway's 1-per-5-s limit on /portfolio/accounts
    limiter = RateLimiter((), global_limit=None, max_retries=2, backoff=0.05)
    rest = GatewayRest(sim.base_url, pacing=limiter)
    try:
        await rest.request("GET", "/portfolio/accounts")
        with pytest.raises(RateLimited) as info:
            await rest.request("GET", "/portfolio/accounts")
        assert info.value.endpoint == "GET /portfolio/accounts" and info.value.status == 429
        assert info.value.error == "Too many requests"
        assert sim.gateway.limits.refused["portfolio_accounts"] == 3  # first try + 2 retries
        assert limiter.metrics()["limits"] == {}
        # with the documented limits the same two calls are paced instead
        paced = GatewayRest(sim.base_url, pacing=RateLimiter(margin=0.1))
        try:
            sim.gateway.limits.refused.clear()
            start = time.monotonic()
            await paced.request("GET", "/portfolio/accounts")  # may still be refused: retried
            await paced.request("GET", "/portfolio/accounts")
            assert time.monotonic() - start >= 5.0
            m = paced.pacing.metrics()["limits"]["portfolio_accounts"]
            assert m["granted"] >= 2 and m["waited"] >= 1
        finally:
            await paced.close()
    finally:
        await rest.close()
