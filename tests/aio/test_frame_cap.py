"""Issue 11, defect 8: the upstream WebSocket accepts frames up to a configured size.

``max_msg_size=0`` once accepted frames of any size. Now ``GatewayRest(max_frame_size=...)``
(service setting ``max_frame_bytes``) bounds them: a bigger frame closes that socket (1009) and
the client reconnects and resubscribes, as for any lost connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.rest import DEFAULT_MAX_FRAME_SIZE, GatewayRest
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.connection import ProtocolConfig
from ibstream.protocol.events import Bulletin
from ibstream.sim import SimConfig, Simulator

# every test once per client WebSocket library (aiohttp, picows): see conftest.ws_backend
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ws_backend")]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimConfig(port=0, tls=False, update_interval=0.05, heartbeat_interval=0.3)
    async with Simulator(config) as simulator:
        yield simulator


def _client(sim: Simulator, max_frame_size: int) -> StreamClient:
    config = ClientConfig(
        protocol=ProtocolConfig(heartbeat_timeout=1.5, auth_poll_interval=0.1, tic_interval=1.0),
        reconnect=lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        start_timeout=10.0,
    )
    rest = GatewayRest(sim.base_url, max_frame_size=max_frame_size)
    return StreamClient(sim.base_url, config=config, rest=rest)


async def _until(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_frame_over_the_cap_drops_the_socket_not_the_client(sim: Simulator) -> None:
    bulletins: list[Bulletin] = []
    client = _client(sim, 4096)
    client.on(Bulletin, bulletins.append)
    async with client:
        connections = client.metrics()["connections"]
        sim.send_bulletin("small")
        await _until(lambda: [b.message for b in bulletins] == ["small"])
        sim.send_bulletin("x" * 100_000)
        await _until(lambda: client.metrics()["connections"] > connections)
        await _until(lambda: client.state.name == "AUTHENTICATED")
        sim.send_bulletin("after")
        await _until(lambda: [b.message for b in bulletins][-1:] == ["after"])
        assert all(len(b.message or "") < 4096 for b in bulletins)


async def test_default_cap_takes_large_frames(sim: Simulator) -> None:
    bulletins: list[Bulletin] = []
    client = _client(sim, DEFAULT_MAX_FRAME_SIZE)
    client.on(Bulletin, bulletins.append)
    async with client:
        sim.send_bulletin("y" * 1_000_000)
        await _until(lambda: len(bulletins) == 1)
        assert client.metrics()["connections"] == 1


def test_cap_is_validated() -> None:
    with pytest.raises(InvalidArgument):
        GatewayRest("http://127.0.0.1:1/v1/api", max_frame_size=0)
