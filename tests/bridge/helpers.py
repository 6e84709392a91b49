"""Helpers for the bridge tests: an in-process bridge against the simulator, condition waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ibstream.bridge import Bridge, BridgeConfig
from ibstream.sim import Simulator
from toolkit import fast_client_config

AAPL = 265598
MSFT = 272093


async def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Wait until ``cond()`` is truthy (polling); fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


async def next_of(stream: Any, cls: type, timeout: float = 10.0) -> Any:
    """The next event of type ``cls`` from ``stream`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        async for ev in stream:
            if isinstance(ev, cls):
                return ev
    raise AssertionError(f"stream ended before a {cls.__name__}")


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
        await wait_for(lambda: bridge.client is not None and bridge.lease.token, what="leader")
        yield bridge
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
