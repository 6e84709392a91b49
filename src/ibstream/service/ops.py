"""Operations endpoints: ``/livez``, ``/readyz`` and Prometheus ``/metrics``.

``/metrics`` is written by ``prometheus_client`` from a private ``CollectorRegistry`` per hub:
its ``ProcessCollector`` (CPU seconds, resident and virtual memory, open and maximum file
descriptors, start time) and :class:`HubCollector`, which reads the client's ``metrics()`` and the
hub's figures at scrape time. Units are base units (seconds, bytes), lag and REST latency are
histograms, and every label set is bounded: consumers are aggregated per kind (``ws``, ``sse``,
``graphql``), streams per topic and pin. The series are listed in ``docs/service.md``.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from ibstream.histogram import HistogramSnapshot
from ibstream.protocol.decoding import cache_stats
from ibstream.protocol.lifecycle import SessionState
from ibstream.service import limits
from ibstream.service.hub import Hub
from ibstream.service.keys import HUB

__all__ = ["HubCollector", "livez", "metrics", "prometheus_text", "readyz", "registry_for"]

#: The classic text format: every name here is a legal pre-UTF-8 name, so the body is the same
#: whatever ``prometheus_client`` release writes it, and Prometheus 2 and 3 both read it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: one registry per hub (a test process runs many services)
_REGISTRIES: weakref.WeakKeyDictionary[Hub, CollectorRegistry] = weakref.WeakKeyDictionary()


async def livez(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when upstream is authenticated and no held subscription failed, else 503 + reason."""
    ready, details = request.app[HUB].readiness()
    return web.json_response(details, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (format 0.0.4) of the service, its client and its process."""
    body = generate_latest(registry_for(request.app[HUB]))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def registry_for(hub: Hub) -> CollectorRegistry:
    """The private registry of ``hub``: process metrics and :class:`HubCollector`."""
    registry = _REGISTRIES.get(hub)
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        registry.register(HubCollector(hub))
        _REGISTRIES[hub] = registry
    return registry


def prometheus_text(hub: Hub) -> str:
    """What ``/metrics`` answers for ``hub``."""
    return generate_latest(registry_for(hub)).decode()


def _flag(value: bool) -> str:
    """A label value for a boolean: ``"true"`` / ``"false"`` (never a Python repr)."""
    return "true" if value else "false"


def _histogram(name: str, help_: str, snap: HistogramSnapshot) -> HistogramMetricFamily:
    buckets = list(snap["buckets"].items())
    return HistogramMetricFamily(name, help_, buckets=buckets, sum_value=snap["sum"])


def _counter(name: str, help_: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, value=value)


def _gauge(name: str, help_: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, value=value)


def _labelled(
    family: GaugeMetricFamily | CounterMetricFamily, rows: Iterable[tuple[list[str], float]]
) -> GaugeMetricFamily | CounterMetricFamily:
    for labels, value in rows:
        family.add_metric(labels, value)
    return family


class HubCollector(Collector):
    """The client's and the hub's figures, read at scrape time (nothing is kept twice)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        m = hub.client.metrics()
        yield from self._upstream(m)
        yield from self._streams()
        yield from self._consumers()
        yield from self._limits()
        yield from self._pacing(m.get("pacing") or {})
        yield _labelled(
            CounterMetricFamily(
                "ibstream_upstream_suppressed",
                "Gateway repeats kept from consumers so events count things once (duplicated "
                "opening snapshots, re-sent executions) or turned into TradeUpdated.",
                labels=["kind"],
            ),
            (([k], n) for k, n in sorted((m.get("suppressed") or {}).items())),
        )
        for book in ("orders", "trades"):  # the client's bounded books (ibstream.state)
            kept = (m.get(book) or {}).get("kept", 0)
            yield _gauge(f"ibstream_{book}_kept", f"Entries the client's {book} book keeps.", kept)
            evicted = (m.get(book) or {}).get("evicted", 0)
            yield _counter(f"ibstream_{book}_evicted", "Forgotten past the book's bound.", evicted)
        late = (m.get("orders") or {}).get("late_updates", 0)
        yield _counter("ibstream_orders_late_updates", "Entries of forgotten orders ignored.", late)

    def _upstream(self, m: dict[str, Any]) -> Iterator[Metric]:
        hub = self.hub
        state = GaugeMetricFamily(
            "ibstream_upstream_session_state",
            "1 for the current state of the upstream session, 0 for the others.",
            labels=["state"],
        )
        yield _labelled(state, (([s.name], float(m["state"] == s.name)) for s in SessionState))
        yield _gauge("ibstream_upstream_authenticated", "Upstream usable.", hub.authenticated)
        yield _counter("ibstream_upstream_frames", "WebSocket frames received.", m["frames"])
        yield _counter("ibstream_upstream_bytes", "WebSocket bytes received.", m["bytes"])
        events = CounterMetricFamily(
            "ibstream_upstream_events", "Decoded events by type.", labels=["type"]
        )
        yield _labelled(events, (([t], n) for t, n in sorted(m["events"].items())))
        for name, help_ in (
            ("reconnects", "Reconnect attempts."),
            ("connections", "WebSocket connections made."),
            ("auth_losses", "Times the brokerage session was lost."),
            ("gaps", "Gap events (a live stream interrupted and restored)."),
            ("decode_errors", "Malformed frames."),
            ("callback_errors", "Callbacks that raised."),
        ):
            yield _counter(f"ibstream_upstream_{name}", help_, m[name])
        yield _histogram(
            "ibstream_upstream_lag_seconds",
            "Market-data lag (local clock minus the gateway's _updated), sampled 1 in 64 events.",
            m["lag_seconds"],
        )
        yield _gauge(
            "ibstream_upstream_lag_last_seconds",
            "The last sampled market-data lag (negative when the gateway's clock is ahead).",
            m["lag_ms"]["last"] / 1000.0,
        )
        yield _histogram(
            "ibstream_upstream_rest_request_duration_seconds",
            "REST round trips to the gateway that got an answer.",
            m["rest_latency_seconds"],
        )
        by_state = Counter(m["subscriptions"].values())
        subs = GaugeMetricFamily(
            "ibstream_upstream_subscriptions", "Upstream subscriptions by state.", labels=["state"]
        )
        yield _labelled(subs, (([s], n) for s, n in sorted(by_state.items())))

    def _streams(self) -> Iterator[Metric]:
        hub = self.hub
        streams: Counter[tuple[str, str]] = Counter()
        attached: Counter[tuple[str, str]] = Counter()
        for key, up in hub.upstreams.items():
            labels = (str(key.topic), _flag(up.pinned))
            streams[labels] += 1
            attached[labels] += len(up.consumers)
        yield _labelled(
            GaugeMetricFamily(
                "ibstream_service_upstream_streams",
                "Shared upstream streams by topic and pin (subscribeUpstream).",
                labels=["topic", "pinned"],
            ),
            (([t, p], n) for (t, p), n in sorted(streams.items())),
        )
        yield _labelled(
            GaugeMetricFamily(
                "ibstream_service_stream_consumers",
                "Consumers attached to shared upstream streams, by topic and pin.",
                labels=["topic", "pinned"],
            ),
            (([t, p], n) for (t, p), n in sorted(attached.items())),
        )
        yield _counter(
            "ibstream_service_events_dispatched",
            "Upstream events routed to at least one consumer.",
            hub.dispatched,
        )
        yield _counter(
            "ibstream_service_events_encoded",
            "Events encoded to JSON by the dispatch path (once each, shared by all consumers).",
            hub.encoded,
        )
        yield _counter(
            "ibstream_service_fanout_rounds",
            "Fan-out rounds handed out (a round: the events since the last one, shared).",
            hub.rounds.rounds,
        )
        yield _counter(
            "ibstream_service_fanout_round_errors",
            "Fan-out rounds whose hand-out raised (logged; a bug: later rounds go on).",
            hub.rounds.errors,
        )
        yield _gauge(
            "ibstream_service_fanout_interval_seconds",
            "Current minimum time between two fan-out rounds (adapts to the fan-out's cost).",
            hub.rounds.interval,
        )
        yield _counter(
            "ibstream_service_slow_consumer_disconnects",
            "Consumers disconnected because they could not keep up.",
            hub.disconnected_slow,
        )
        counts = CounterMetricFamily(
            "ibstream_service_counts",
            "Service events (consumers opened per kind, upstream subscribes/unsubscribes...).",
            labels=["what"],
        )
        yield _labelled(counts, (([k], n) for k, n in sorted(self.hub.counts.items())))

    def _consumers(self) -> Iterator[Metric]:
        """Per consumer kind: live gauges, and counters that add the consumers that left."""
        hub = self.hub
        kinds = sorted({c.kind for c in hub.consumers.values()} | set(hub.departed))
        live: dict[str, Counter[str]] = {k: Counter() for k in kinds}
        for c in hub.consumers.values():
            row = live[c.kind]
            row["connected"] += 1
            row["depth"] += len(c.queue)
            row["depth_max"] = max(row["depth_max"], len(c.queue))
            row["overflowed"] += bool(c.queue.overflowed)
            row["sent"] += c.sent_events
            row["messages"] += c.sent_messages
            row["bytes"] += c.sent_bytes
            row["conflated"] += c.queue.conflated
        for what, name, help_ in (
            ("connected", "ibstream_service_consumers", "Connected consumers by kind."),
            ("depth", "ibstream_consumer_queue_depth", "Events queued for consumers of a kind."),
            (
                "depth_max",
                "ibstream_consumer_queue_depth_max",
                "The deepest queue among the consumers of a kind.",
            ),
            (
                "overflowed",
                "ibstream_consumer_overflowed",
                "Consumers of a kind that overflowed and are being disconnected.",
            ),
        ):
            family = GaugeMetricFamily(name, help_, labels=["kind"])
            yield _labelled(family, (([k], live[k][what]) for k in kinds))
        for what, name, help_ in (
            ("sent", "ibstream_consumer_sent_events", "Events sent to consumers of a kind."),
            (
                "messages",
                "ibstream_consumer_sent_messages",
                "Messages sent (an event batch is one).",
            ),
            ("bytes", "ibstream_consumer_sent_bytes", "Bytes sent to consumers of a kind."),
            (
                "conflated",
                "ibstream_consumer_conflated",
                "Market-data events merged because a consumer was behind.",
            ),
        ):
            counter = CounterMetricFamily(name, help_, labels=["kind"])
            rows = (([k], live[k][what] + hub.departed.get(k, Counter())[what]) for k in kinds)
            yield _labelled(counter, rows)

    def _limits(self) -> Iterator[Metric]:
        """Configured limits (service/limits.py, the upstream frame cap), their use, refusals."""
        hub = self.hub
        values: dict[str, float] = dict(limits.limits_of(hub).as_dict())
        frame = getattr(hub.client.rest, "max_frame_size", None)
        if isinstance(frame, int):
            values["max_frame_bytes"] = frame
        cache = cache_stats()
        values["max_cache_entries"] = cache["max_entries_per_parser"]
        values["max_cache_value_chars"] = cache["max_value_chars"]
        yield _labelled(
            GaugeMetricFamily(
                "ibstream_service_limit",
                "Configured limits (0 = none); see docs/service.md, Limits.",
                labels=["name"],
            ),
            (([k], v) for k, v in sorted(values.items())),
        )
        yield _gauge(
            "ibstream_service_market_data_streams",
            "Upstream market-data streams held (counted against max_market_data).",
            limits.market_data_streams(hub),
        )
        yield _labelled(
            GaugeMetricFamily(
                "ibstream_decoder_cache",
                "Decoder value caches: entries held and characters of wire text they hold.",
                labels=["what"],
            ),
            [(["entries"], cache["entries"]), (["text_chars"], cache["text_chars"])],
        )
        refused = {
            k[len("refused_") :]: n for k, n in hub.counts.items() if k.startswith("refused_")
        }
        yield _labelled(
            CounterMetricFamily(
                "ibstream_service_limit_refusals",
                "Consumer requests refused by a limit.",
                labels=["limit"],
            ),
            (([k], n) for k, n in sorted(refused.items())),
        )

    def _pacing(self, pacing: dict[str, Any]) -> Iterator[Metric]:
        """The REST pacing limiter: requests, waits, 429s, in flight, window use, per limit."""
        per: dict[str, dict[str, Any]] = pacing.get("limits", {})
        if not per:
            return
        yield _gauge(
            "ibstream_rest_queued", "REST requests waiting for a pacing slot.", pacing["queued"]
        )
        yield _counter(
            "ibstream_rest_wait_seconds",
            "Time REST requests spent queued for a pacing slot.",
            pacing.get("wait_s_total", 0.0),
        )
        for key, kind, help_ in (
            ("granted", "counter", "REST requests sent, per pacing limit."),
            ("waited", "counter", "REST requests that had to wait, per pacing limit."),
            ("throttled", "counter", "HTTP 429 answers, per pacing limit."),
            ("in_flight", "gauge", "REST requests in flight, per pacing limit."),
            ("window_used", "gauge", "Requests in the current window, per pacing limit."),
            ("blocked_s", "gauge", "Seconds a limit stays blocked after a 429."),
        ):
            name = "ibstream_rest_blocked_seconds" if key == "blocked_s" else f"ibstream_rest_{key}"
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield _labelled(
                family_type(name, help_, labels=["limit"]),
                (([limit], v[key]) for limit, v in sorted(per.items())),
            )
