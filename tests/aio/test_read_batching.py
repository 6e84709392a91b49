"""The read loop routes the frames it finds already received in batches (issue 19).

Frames that arrive together are decoded one by one and their events routed together (one
``_pump`` per batch of at most ``_BATCH`` frames); nothing is lost, reordered or left unrouted,
and a long backlog does not starve the other tasks of the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from ibstream.aio.client import _BATCH, ClientConfig, StreamClient
from ibstream.aio.memory import MemoryGateway
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol import connection
from ibstream.protocol.connection import ProtocolConfig
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import ApplyFailed
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim.testing import wait_for

CONID = 265598


def smd(i: int) -> dict[str, Any]:
    return {
        "topic": f"smd+{CONID}",
        "conid": CONID,
        "server_id": "q1",
        "31": f"{i}.0",
        "_updated": 1_777_552_110_061,
    }


@pytest.fixture
def gateway() -> MemoryGateway:
    return MemoryGateway()


@pytest.fixture
async def client(gateway: MemoryGateway) -> AsyncIterator[StreamClient]:
    c = StreamClient(
        rest=gateway,
        config=ClientConfig(
            protocol=ProtocolConfig(heartbeat_timeout=30.0, auth_poll_interval=0.05),
            reconnect=lambda: ReconnectPolicy(initial=0.01, max_delay=0.05, min_delay=0.001),
            start_timeout=2.0,
        ),
    )
    await c.start()
    yield c
    await c.stop()


async def _subscribed(client: StreamClient, gateway: MemoryGateway) -> Any:
    handle = client.subscribe(MarketDataSpec(CONID), maxsize=100_000)
    await gateway.socket.wait_sent(lambda t: t.startswith("smd+"))
    return handle


async def test_a_burst_is_routed_in_batches_complete_and_in_order(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    trace: list[tuple[str, int]] = []
    client.on_frame(lambda d, data, now, binary: trace.append(("in", 0)) if d == "in" else None)
    client.on(MarketData, lambda ev: trace.append(("ev", int(ev.values[31]))))
    handle = await _subscribed(client, gateway)
    n = 3 * _BATCH + 17
    gateway.socket.feed(*(smd(i) for i in range(n)))
    await wait_for(lambda: sum(1 for k, _ in trace if k == "ev") == n, timeout=5)
    delivered = [v for k, v in trace if k == "ev"]
    assert delivered == list(range(n))  # none lost, none reordered
    # the burst's frames were read in runs before their events were routed: per-frame routing
    # would alternate in/ev; batches are at most _BATCH frames long
    runs: list[int] = []
    for kind, _ in trace:
        if kind == "in":
            if not runs or runs[-1] < 0:
                runs.append(0)
            runs[-1] += 1
        elif runs and runs[-1] > 0:
            runs.append(-1)
    reads = [r for r in runs if r > 0]
    assert max(reads) == _BATCH
    assert len([r for r in reads if r > 1]) >= 3
    # the iterator gets the same events, in order
    got = []
    while (ev := handle.get_nowait()) is not None:
        if isinstance(ev, MarketData):
            got.append(int(ev.values[31]))
    assert got == list(range(n))


async def test_a_backlog_does_not_starve_the_loop(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    seen: list[MarketData] = []
    client.on(MarketData, seen.append)
    await _subscribed(client, gateway)
    marks: list[int] = []
    n = 8 * _BATCH
    gateway.socket.feed(*(smd(i) for i in range(n)))
    # scheduled behind the reader's wake-up: runs when the read loop first yields
    asyncio.get_running_loop().call_soon(lambda: marks.append(len(seen)))
    await wait_for(lambda: len(seen) == n, timeout=5)
    assert marks and 0 < marks[0] < n


async def test_frames_before_a_close_are_routed(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    seen: list[MarketData] = []
    client.on(MarketData, seen.append)
    await _subscribed(client, gateway)
    ws = gateway.socket
    ws.feed(*(smd(i) for i in range(40)))
    ws.close_from_server(1000, "bye")
    await wait_for(lambda: len(seen) == 40, timeout=5)
    assert [int(e.values[31]) for e in seen] == list(range(40))


class _BatchFeed:
    """A :class:`~ibstream.aio.wsbackend.BatchSocket` handing out scripted batches (then the
    end of the stream): the driver's batch read loop without a network."""

    close_code = 1000
    close_reason = "done"

    def __init__(self, batches: list[list[bytes]]) -> None:
        self._batches = batches
        self.taken_kinds: list[bool] = []

    @property
    def pending(self) -> bool:
        return bool(self._batches)

    async def receive_batch(self, limit: int) -> list[bytes]:
        await asyncio.sleep(0)
        if not self._batches:
            return []
        batch = self._batches.pop(0)
        assert len(batch) <= limit
        self.taken_kinds = [True] * len(batch)
        return batch


def _failing_decode(monkeypatch: pytest.MonkeyPatch, bad: bytes) -> None:
    real = connection.decode

    def decode(data: Any) -> Any:
        if data == bad:
            raise RuntimeError("core bug on one frame")
        return real(data)

    monkeypatch.setattr(connection, "decode", decode)


@pytest.mark.parametrize("loop", ["batch", "per-message"])
async def test_a_frame_failing_in_the_core_costs_no_other_frame_of_its_batch(
    client: StreamClient, gateway: MemoryGateway, monkeypatch: pytest.MonkeyPatch, loop: str
) -> None:
    seen: list[int] = []
    failed: list[ApplyFailed] = []
    client.on(MarketData, lambda ev: seen.append(int(ev.values[31])))
    client.on(ApplyFailed, failed.append)
    handle = await _subscribed(client, gateway)
    bad = b'{"topic":"system","hb":1}'
    _failing_decode(monkeypatch, bad)
    frames = [orjson.dumps(smd(i)) for i in range(10)]
    frames[3:3] = [bad]
    frames[8:8] = [bad]
    if loop == "batch":
        assert await client._read_batches(_BatchFeed([frames[:6], frames[6:]]), _BATCH) == (
            1000,
            "done",
        )
    else:
        gateway.socket.feed(*frames)
    await wait_for(lambda: len(seen) == 10, timeout=5)
    assert seen == list(range(10))  # none lost, none reordered
    assert [f.event_type for f in failed] == ["frame", "frame"]
    assert "core bug on one frame" in failed[0].error
    assert client.metrics()["frame_errors"] == 2
    got = []
    while (ev := handle.get_nowait()) is not None:
        if isinstance(ev, MarketData):
            got.append(int(ev.values[31]))
    assert got == list(range(10))
