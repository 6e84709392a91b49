"""Issue 11, defect 3 end to end: one odd value no longer drops a healthy session.

An ``sor`` entry with ``"conid":"inf"`` (or ``nan``, or ``1e999`` in a time field) made the order
book raise inside dispatch; the client took it for a connection failure, reconnected, and the
later entries of the frame were lost with no Gap. Now the value is rejected per field
(``ValueRejected``), the entry and its neighbours reach the book, and the socket stays up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.connection import ProtocolConfig
from ibstream.protocol.events import ValueRejected
from ibstream.sim import SimConfig, Simulator

pytestmark = pytest.mark.e2e


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimConfig(port=0, tls=False, update_interval=0.05, heartbeat_interval=0.3)
    async with Simulator(config) as simulator:
        yield simulator


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("bad", ["inf", "nan", "1e999"])
async def test_poison_value_costs_one_field_not_the_session(sim: Simulator, bad: str) -> None:
    config = ClientConfig(
        protocol=ProtocolConfig(heartbeat_timeout=1.5, auth_poll_interval=0.1, tic_interval=1.0),
        reconnect=lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        start_timeout=10.0,
    )
    rejected: list[ValueRejected] = []
    async with StreamClient(sim.base_url, config=config) as client:
        client.on(ValueRejected, rejected.append)
        sim.broadcast(
            {
                "topic": "sor",
                "args": [
                    {"orderId": 11, "conid": 265598, "status": "Submitted", "ticker": "AAPL"},
                    {"orderId": 12, "conid": bad, "status": "Submitted", "ticker": "MSFT"},
                    {"orderId": 13, "lastExecutionTime_r": bad, "status": "Filled", "ticker": "X"},
                    {"orderId": 14, "conid": 272093, "status": "Filled", "ticker": "MSFT"},
                ],
            }
        )
        await _until(lambda: 14 in client.orders)
        assert sorted(client.orders) == [11, 12, 13, 14]
        assert client.orders[12].conid is None and client.orders[12].symbol == "MSFT"
        assert client.orders[13].last_execution_ms is None
        assert [(r.index, r.field) for r in rejected] == [(1, "conid"), (2, "lastExecutionTime_r")]
        metrics = client.metrics()
        assert metrics["connections"] == 1 and metrics["reconnects"] == 0
        assert metrics["events"]["ValueRejected"] == 2
