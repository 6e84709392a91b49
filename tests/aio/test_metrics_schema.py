"""``StreamClient.metrics()`` keeps the documented schema (docs/architecture.md, Metrics)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import ManualClock, MemoryGateway
from ibstream.aio.rest import GatewayRest, latency_of
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim.testing import wait_for
from ibstream.state import DEFAULT_MAX_TERMINAL_ORDERS, DEFAULT_MAX_TRADES

CONID = 265598

#: the documented keys of ``metrics()`` and the type of each value
SCHEMA: dict[str, type] = {
    "state": str,
    "lifecycle": str,
    "frames": int,
    "bytes": int,
    "reconnects": int,
    "connections": int,
    "auth_losses": int,
    "frame_errors": int,
    "timer_errors": int,
    "subscriptions": dict,
    "pacing": dict,
    "suppressed": dict,
    "events": dict,
    "decode_errors": int,
    "gaps": int,
    "callback_errors": int,
    "apply_errors": int,
    "conflated": int,
    "overflows": int,
    "queue_depth_max": int,
    "queue_depth_total": int,
    "consumers": int,
    "lag_ms": dict,
    "lag_seconds": dict,
    "rest_latency_seconds": dict,
    "orders": dict,
    "trades": dict,
}


@pytest.fixture
async def client_and_clock() -> AsyncIterator[tuple[StreamClient, MemoryGateway, ManualClock]]:
    gateway, clock = MemoryGateway(), ManualClock()
    config = ClientConfig(
        protocol=ProtocolConfig(
            heartbeat_timeout=600.0, tickle_interval=600.0, auth_poll_interval=5.0
        ),
        reconnect=lambda: ReconnectPolicy(initial=1.0, max_delay=30.0, min_delay=0.5),
        start_timeout=2.0,
    )
    client = StreamClient(rest=gateway, config=config, clock=clock)
    await client.start()
    yield client, gateway, clock
    await client.stop()


def test_the_documented_table_lists_every_key() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text("utf-8")
    section = text.split("## Client metrics", 1)[1].split("\n## ", 1)[0]
    documented = {
        key
        for row in section.splitlines()
        if row.startswith("| `")
        for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    }
    assert documented == set(SCHEMA)


def _check_histogram(snap: Any) -> None:
    assert set(snap) == {"buckets", "count", "sum"}
    counts = list(snap["buckets"].values())
    assert counts == sorted(counts) and list(snap["buckets"])[-1] == "+Inf"
    assert counts[-1] == snap["count"]


async def test_keys_and_types_are_the_documented_ones(
    client_and_clock: tuple[StreamClient, MemoryGateway, ManualClock],
) -> None:
    client = client_and_clock[0]
    m = client.metrics()
    assert set(m) == set(SCHEMA)
    for key, kind in SCHEMA.items():
        assert isinstance(m[key], kind), key
    assert set(m["lag_ms"]) == {"last", "max", "ewma"}
    assert m["orders"] == {
        "kept": 0,
        "open": 0,
        "max_terminal": DEFAULT_MAX_TERMINAL_ORDERS,
        "evicted": 0,
        "late_updates": 0,
    }
    assert m["trades"] == {"kept": 0, "max": DEFAULT_MAX_TRADES, "evicted": 0, "duplicates": 0}
    _check_histogram(m["lag_seconds"])
    _check_histogram(m["rest_latency_seconds"])
    # the in-memory gateway times nothing: an empty histogram, same keys
    assert m["rest_latency_seconds"]["count"] == 0


async def test_market_data_lag_lands_in_the_histogram_in_seconds(
    client_and_clock: tuple[StreamClient, MemoryGateway, ManualClock],
) -> None:
    client, gateway, clock = client_and_clock
    client.subscribe(MarketDataSpec(CONID))
    await gateway.socket.wait_sent(lambda t: t.startswith("smd+"))
    updated_ms = int(clock.time() * 1000) - 300  # 0.3 s old when it arrives
    gateway.socket.feed(
        {"topic": f"smd+{CONID}", "conid": CONID, "31": "5.0", "_updated": updated_ms}
    )
    await wait_for(lambda: client.metrics()["lag_seconds"]["count"] == 1, timeout=2)
    lag = client.metrics()["lag_seconds"]
    assert lag["sum"] == pytest.approx(0.3, abs=0.002)
    assert lag["buckets"]["0.25"] == 0 and lag["buckets"]["0.5"] == 1
    assert client.metrics()["lag_ms"]["last"] == pytest.approx(300, abs=2)


def test_latency_of_reads_a_gateway_rest_histogram() -> None:
    rest = GatewayRest("http://127.0.0.1:1/v1/api")
    rest.latency.observe(0.02)
    assert latency_of(rest)["count"] == 1 and latency_of(rest)["buckets"]["0.025"] == 1
    assert latency_of(object())["count"] == 0
