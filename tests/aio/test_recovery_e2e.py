"""Recovery at the library's default timings, end to end against the simulator.

The exact moments are pinned with a manual clock (test_recovery_timing.py); here real sockets
and the default ``ProtocolConfig`` recover from each fault the defaults were changed for, and
the gateway sees the requests the budget counts on. Waits are for conditions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import SessionState, SubscriptionState
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim import Simulator
from ibstream.sim.testing import SimulatorFactory, wait_for
from toolkit import AAPL, assert_no_leaks

pytestmark = pytest.mark.e2e

MD = MarketDataSpec(AAPL, fields=("31", "84", "86"))


@pytest.fixture
async def sim(simulator: SimulatorFactory) -> Simulator:
    return await simulator()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[StreamClient]:
    c = StreamClient(sim.base_url, config=ClientConfig(protocol=ProtocolConfig()))
    await c.start()
    try:
        yield c
    finally:
        await c.stop()
        await assert_no_leaks(sim)


async def live(client: StreamClient, ticks: list[float]) -> None:
    """Authenticated, the stream ACTIVE, and a market-data event after this call."""
    seen = len(ticks)
    await wait_for(
        lambda: (
            client.state is SessionState.AUTHENTICATED
            and client.protocol.subscriptions[MD.key][1] is SubscriptionState.ACTIVE
            and len(ticks) > seen
        ),
        timeout=15.0,
        what=lambda: f"{client.state.name} {client.metrics()['subscriptions']}",
    )


def ticking(client: StreamClient) -> list[float]:
    ticks: list[float] = []
    client.on(MarketData, lambda ev: ticks.append(float(ev.updated_ms or 0)))
    client.subscribe(MD, buffer=False)
    return ticks


async def test_an_ignored_first_subscribe_is_resent(sim: Simulator, client: StreamClient) -> None:
    """The gateway sometimes ignores a first ``smd`` (§8.14): re-sent, then confirmed."""
    sim.ignore_subscriptions("smd", 1)
    ticks = ticking(client)
    await live(client, ticks)
    assert len(sim.received_matching(f"smd+{AAPL}")) >= 2


async def test_lost_authentication_resumes_the_same_socket(
    sim: Simulator, client: StreamClient
) -> None:
    ticks = ticking(client)
    await live(client, ticks)
    connections = client.metrics()["connections"]
    await sim.lose_auth()
    await wait_for(lambda: client.state is SessionState.AUTH_LOST)
    sim.restore_auth()
    await live(client, ticks)
    assert client.metrics()["connections"] == connections  # resumed by a poll, no reconnect
    assert len(sim.received_matching(f"smd+{AAPL}")) >= 2  # re-sent on resume


async def test_a_fresh_login_moves_to_the_new_session(sim: Simulator, client: StreamClient) -> None:
    """Logout, then a login with a new session id: the poll finds the new id and the client
    reconnects with it (the handshake uses the id the poll's ``/tickle`` returned)."""
    ticks = ticking(client)
    await live(client, ticks)
    old = client.session_id
    sim.logout()
    await wait_for(lambda: client.state is SessionState.AUTH_LOST)
    new = sim.login(new_session=True)
    assert new != old
    await live(client, ticks)
    assert client.session_id == new
