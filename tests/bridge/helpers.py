"""Helpers for the bridge tests: an in-process bridge against the simulator.

Condition waits and "next event of a type" come from the shared test toolkit
(``ibstream.sim.testing.wait_for``, ``toolkit.next_of``); re-exported here for the bridge tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ibstream import OrdersSpec, OrderUpdate
from ibstream.bridge import Bridge, BridgeConfig
from ibstream.sim import Simulator
from ibstream.sim.testing import wait_for
from toolkit import AAPL, MSFT, fast_client_config, next_of

__all__ = [
    "AAPL",
    "MSFT",
    "WAIT",
    "next_of",
    "order_update",
    "running_bridge",
    "upstream_holds",
    "wait_for",
]

WAIT = 10.0
"""Seconds a bridge test waits for a condition over real servers on a loaded machine."""


def order_update(order_id: int, status: str = "Submitted") -> OrderUpdate:
    """An ``sor`` update of one AAPL order of account DU1, as a bridge publishes it."""
    return OrderUpdate(
        key=OrdersSpec().key,
        account="DU1",
        order_id=order_id,
        conid=AAPL,
        status=status,
        changes={"orderId": order_id, "status": status},
        raw={},
    )


@contextlib.asynccontextmanager
async def running_bridge(
    sim: Simulator, bus_url: str, prefix: str, **overrides: Any
) -> AsyncIterator[Bridge]:
    """A leader bridge in this process, publishing ``sim`` to ``bus_url``."""
    settings: dict[str, Any] = {
        "url": sim.base_url,
        "buses": (bus_url,),
        "prefix": prefix,
        "client": fast_client_config(),
        "node": f"test-{prefix}",
    }
    settings.update(overrides)
    bridge = Bridge(BridgeConfig(**settings))
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await wait_for(
            lambda: bridge.client is not None and bridge.lease.token, WAIT, what="leader"
        )
        yield bridge
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


def upstream(sim: Simulator) -> set[str]:
    """Stream keys the simulator has been asked for, over its open sockets (``or``, ``md:1``...)."""
    return {k for keys in sim.active_subscriptions().values() for k in keys}


async def upstream_holds(sim: Simulator, *keys: str) -> None:
    """Wait until the gateway has the bridge's subscriptions to ``keys`` (default: the baseline
    orders, trades and P&L), so an order placed now reaches the bridge."""
    want = set(keys or ("or", "tr", "pl"))
    await wait_for(lambda: want <= upstream(sim), WAIT, what=lambda: f"upstream {upstream(sim)}")
