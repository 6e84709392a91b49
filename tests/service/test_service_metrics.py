"""``/metrics`` through prometheus_client: promtool accepts it, base units, histograms, bounded
labels, counters that stay monotonic when consumers leave, process metrics."""

from __future__ import annotations

import asyncio
import shutil
from asyncio.subprocess import PIPE, STDOUT

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ibstream.service import Service

from .helpers import AAPL, MSFT, plain_ws, sse_events, wait_for

pytestmark = pytest.mark.e2e

PROMTOOL = shutil.which("promtool")


async def _scrape(http: aiohttp.ClientSession, service: Service) -> str:
    async with http.get(f"{service.url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await r.text()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _busy_service_text(service: Service, http: aiohttp.ClientSession) -> str:
    """A scrape after market data flowed to a WebSocket and an SSE consumer."""
    ws = await plain_ws(http, service)
    await ws.subscribe({"topic": "md", "conid": AAPL})
    sse = await http.get(f"{service.url}/events?topic=md&conid={MSFT}")
    assert any(d["type"] == "MarketData" for _, d in await sse_events(sse, 6))
    await ws.until(lambda m: m.get("type") == "MarketData")
    await wait_for(
        lambda: (
            service.client is not None and service.client.metrics()["lag_seconds"]["count"] >= 1
        ),
        timeout=10,
    )
    text = await _scrape(http, service)
    sse.close()
    await ws.close()
    return text


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
async def test_promtool_accepts_the_exposition(
    service: Service, http: aiohttp.ClientSession
) -> None:
    text = await _busy_service_text(service, http)
    assert PROMTOOL is not None
    proc = await asyncio.create_subprocess_exec(
        PROMTOOL, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(text.encode()), timeout=60)
    # promtool prints each lint problem and exits non-zero on any of them
    assert proc.returncode == 0, out.decode()
    assert not out.strip(), out.decode()


async def test_units_histograms_labels_and_process(
    service: Service, http: aiohttp.ClientSession
) -> None:
    text = await _busy_service_text(service, http)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert not [n for n in families if n.endswith("_ms") or "_ms_" in n]
    assert families["ibstream_upstream_lag_seconds"].type == "histogram"
    assert families["ibstream_upstream_rest_request_duration_seconds"].type == "histogram"
    samples = _samples(text)
    assert samples[("ibstream_upstream_lag_seconds_count", ())] >= 1
    # tickle, auth status, the market-data pre-flight: REST round trips against the simulator
    assert samples[("ibstream_upstream_rest_request_duration_seconds_count", ())] >= 1
    for name in (
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
    ):
        assert samples[(name, ())] > 0, name
    labels = {
        k: v for family in families.values() for s in family.samples for k, v in s.labels.items()
    }
    assert "consumer" not in labels and "key" not in labels  # no per-consumer / per-stream series
    values = {v for family in families.values() for s in family.samples for v in s.labels.values()}
    assert not values & {"True", "False", "None"}
    kinds = {s.labels["kind"] for s in families["ibstream_consumer_sent_events"].samples}
    assert kinds == {"ws", "sse"}
    # the batched fan-out: rounds went out, none failed, the interval is within its bounds
    assert samples[("ibstream_service_fanout_rounds_total", ())] >= 1
    assert samples[("ibstream_service_fanout_round_errors_total", ())] == 0
    config = service.config
    interval = samples[("ibstream_service_fanout_interval_seconds", ())]
    assert config.flush_interval <= interval <= config.max_flush_interval
    # the client's bounded books (nothing evicted here; orders and trades not subscribed)
    for book in ("orders", "trades"):
        assert samples[(f"ibstream_{book}_kept", ())] == 0
        assert samples[(f"ibstream_{book}_evicted_total", ())] == 0
    assert samples[("ibstream_orders_late_updates_total", ())] == 0


async def test_consumer_counters_stay_monotonic_when_consumers_leave(
    service: Service, http: aiohttp.ClientSession
) -> None:
    ws = await plain_ws(http, service)
    await ws.subscribe({"topic": "md", "conid": AAPL})
    for _ in range(3):
        await ws.until(lambda m: m.get("type") == "MarketData")
    key = ("ibstream_consumer_sent_events_total", (("kind", "ws"),))
    before = _samples(await _scrape(http, service))[key]
    assert before >= 3
    await ws.close()
    await wait_for(lambda: not service.hub.consumers)
    after = _samples(await _scrape(http, service))
    assert after[key] >= before
    assert after[("ibstream_service_consumers", (("kind", "ws"),))] == 0
