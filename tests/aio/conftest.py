"""Fixtures of the driver tests over the in-memory transport (``ibstream.aio.memory``).

``client`` is a started ``StreamClient`` on the ``gateway`` fake, its time on the ``clock`` a test
moves by hand; a module that uses it names its configuration with a ``client_config`` fixture.
A module with a ``client`` or ``gateway`` fixture of its own uses that one instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import ManualClock, MemoryGateway


@pytest.fixture
def gateway() -> MemoryGateway:
    return MemoryGateway()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(
    gateway: MemoryGateway, clock: ManualClock, client_config: ClientConfig
) -> AsyncIterator[StreamClient]:
    c = StreamClient(rest=gateway, config=client_config, clock=clock)
    await c.start()
    yield c
    await c.stop()
