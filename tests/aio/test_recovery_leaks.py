"""Nothing accumulates per recovery: after many reconnects and authentication losses against
the simulator, no object type of the library (or of aiohttp and asyncio, which it drives) is
more numerous than after the first few (issue 11: RSS growth under 2 MB per hour).

The chaos run's RSS growth was traced (tracemalloc snapshots diffed over a run) to the order
and trade books, which keep every order and fill by design (bounded: see ``state.trades``);
without orders RSS flattens out. This test guards the other class: per-connection objects
(sockets, tasks, timer handles, bindings, buffers, pacing slots) kept after the connection.
"""

from __future__ import annotations

import pytest

from ibstream.aio.client import StreamClient
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import SessionState, SubscriptionState
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, PnlSpec, TradesSpec
from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory, wait_for
from toolkit import (
    AAPL,
    MSFT,
    assert_no_growth,
    assert_no_leaks,
    fast_client_config,
    object_counts,
)

pytestmark = pytest.mark.e2e

ROUNDS = 6
"""Each round injects every fault kind once: a per-fault leak grows by at least ROUNDS."""
KINDS = 3  # clean close, abrupt reset, authentication lost and restored


async def healthy(client: StreamClient, seen: dict[int, int]) -> None:
    """Authenticated, every stream ACTIVE and fresh market data for both contracts."""
    mark = dict(seen)
    await wait_for(
        lambda: (
            client.state is SessionState.AUTHENTICATED
            and all(
                st is SubscriptionState.ACTIVE for _, st in client.protocol.subscriptions.values()
            )
            and all(seen[c] > mark[c] for c in (AAPL, MSFT))
        ),
        timeout=10.0,
        what=lambda: f"{client.state.name} {client.metrics()['subscriptions']}",
    )


async def one_cycle(sim: Simulator, client: StreamClient, seen: dict[int, int], n: int) -> None:
    kind = n % KINDS
    if kind == 0:
        await sim.drop_connections(abrupt=False)
    elif kind == 1:
        await sim.drop_connections(abrupt=True)
    else:
        await sim.lose_auth()
        await wait_for(lambda: client.state is SessionState.AUTH_LOST)
        sim.restore_auth()
    await wait_for(lambda: client.state is not SessionState.AUTHENTICATED or kind == 2)
    await healthy(client, seen)


async def test_reconnect_and_auth_cycles_leave_nothing_behind(
    simulator: SimulatorFactory,
) -> None:
    sim = await simulator(update_interval=0.05)
    client = StreamClient(sim.base_url, config=fast_client_config())
    seen = {AAPL: 0, MSFT: 0}

    def on_md(ev: MarketData) -> None:
        seen[ev.conid] = seen.get(ev.conid, 0) + 1

    client.on(MarketData, on_md)
    await client.start()
    try:
        handles = [
            client.subscribe(s, buffer=False)
            for s in (
                MarketDataSpec(AAPL),
                MarketDataSpec(MSFT),
                OrdersSpec(),
                TradesSpec(),
                PnlSpec(),
            )
        ]
        await healthy(client, seen)
        for n in range(KINDS):  # warm-up: the first cycles fill caches, pools, interned names
            await one_cycle(sim, client, seen, n)
        before = object_counts()
        reconnects = client.metrics()["reconnects"]
        for n in range(ROUNDS * KINDS):
            await one_cycle(sim, client, seen, n)
        after = object_counts()
        assert client.metrics()["reconnects"] - reconnects >= 2 * ROUNDS
        assert_no_growth(before, after, ROUNDS)
        for h in handles:
            h.close()
    finally:
        await client.stop()
        await assert_no_leaks(sim)
