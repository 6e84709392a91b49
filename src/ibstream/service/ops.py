"""Operations endpoints: ``/livez``, ``/readyz`` and Prometheus ``/metrics``.

``/metrics`` is the Prometheus text exposition format (version 0.0.4), written by hand: the
client's counters (``ibstream_upstream_*``), the hub's (``ibstream_service_*``) and one series per
consumer (``ibstream_consumer_*{consumer="ws-3",kind="ws"}``).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ibstream.protocol.decoding import cache_stats
from ibstream.protocol.lifecycle import SessionState
from ibstream.service import limits
from ibstream.service.hub import Hub
from ibstream.service.keys import HUB

__all__ = ["livez", "metrics", "prometheus_text", "readyz"]

_STARTED = time.time()


async def livez(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when upstream is authenticated and no held subscription failed, else 503 + reason."""
    ready, details = request.app[HUB].readiness()
    return web.json_response(details, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = prometheus_text(request.app[HUB])
    return web.Response(
        body=body.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


def _esc(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help_: str, samples: list[tuple[dict[str, Any], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if labels:
                text = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
                self.lines.append(f"{name}{{{text}}} {_num(value)}")
            else:
                self.lines.append(f"{name} {_num(value)}")

    def one(self, name: str, kind: str, help_: str, value: float) -> None:
        self.metric(name, kind, help_, [({}, value)])


def _num(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _limits(w: _Writer, hub: Hub) -> None:
    """The configured limits (service/limits.py, the upstream frame cap), their use, refusals."""
    values: dict[str, float] = dict(limits.limits_of(hub).as_dict())
    frame = getattr(hub.client.rest, "max_frame_size", None)
    if isinstance(frame, int):
        values["max_frame_bytes"] = frame
    cache = cache_stats()
    values["max_cache_entries"] = cache["max_entries_per_parser"]
    values["max_cache_value_chars"] = cache["max_value_chars"]
    w.metric(
        "ibstream_service_limit",
        "gauge",
        "Configured limits (0 = none); see docs/service.md, Limits.",
        [({"name": k}, v) for k, v in sorted(values.items())],
    )
    w.one(
        "ibstream_service_market_data_streams",
        "gauge",
        "Upstream market-data streams held (counted against max_market_data).",
        limits.market_data_streams(hub),
    )
    w.metric(
        "ibstream_decoder_cache",
        "gauge",
        "Decoder value caches: entries held and characters of wire text they hold.",
        [({"what": "entries"}, cache["entries"]), ({"what": "text_chars"}, cache["text_chars"])],
    )
    refused = {k[len("refused_") :]: n for k, n in hub.counts.items() if k.startswith("refused_")}
    w.metric(
        "ibstream_service_limit_refusals_total",
        "counter",
        "Consumer requests refused by a limit.",
        [({"limit": k}, n) for k, n in sorted(refused.items())],
    )


def prometheus_text(hub: Hub) -> str:
    """Every figure of the client, the hub and each consumer."""
    m = hub.client.metrics()
    w = _Writer()
    w.one("process_cpu_seconds_total", "counter", "CPU time of the service.", time.process_time())
    w.one("process_start_time_seconds", "gauge", "Start time (epoch s).", _STARTED)
    w.metric(
        "ibstream_upstream_session_state",
        "gauge",
        "1 for the current state of the upstream session, 0 for the others.",
        [({"state": s.name}, 1 if m["state"] == s.name else 0) for s in SessionState],
    )
    w.one("ibstream_upstream_authenticated", "gauge", "Upstream usable.", hub.authenticated)
    w.one("ibstream_upstream_frames_total", "counter", "Frames received.", m["frames"])
    w.one("ibstream_upstream_bytes_total", "counter", "Bytes received.", m["bytes"])
    w.metric(
        "ibstream_upstream_events_total",
        "counter",
        "Decoded events by type.",
        [({"type": t}, n) for t, n in sorted(m["events"].items())],
    )
    for name, help_ in (
        ("reconnects", "Reconnect attempts."),
        ("connections", "WebSocket connections made."),
        ("auth_losses", "Times the brokerage session was lost."),
        ("gaps", "Gap events (a live stream interrupted and restored)."),
        ("decode_errors", "Malformed frames."),
        ("callback_errors", "Callbacks that raised."),
    ):
        w.one(f"ibstream_upstream_{name}_total", "counter", help_, m[name])
    w.metric(
        "ibstream_upstream_suppressed_total",
        "counter",
        "Gateway repeats kept from consumers so events count things once (duplicated opening "
        "snapshots, re-sent executions) or turned into TradeUpdated (trade_updates).",
        [({"kind": k}, n) for k, n in sorted(m.get("suppressed", {}).items())],
    )
    w.metric(
        "ibstream_upstream_lag_ms",
        "gauge",
        "Market data lag (local clock minus _updated).",
        [({"stat": k}, v) for k, v in m["lag_ms"].items()],
    )
    by_state: dict[str, int] = {}
    for st in m["subscriptions"].values():
        by_state[st] = by_state.get(st, 0) + 1
    w.metric(
        "ibstream_upstream_subscriptions",
        "gauge",
        "Upstream subscriptions by state.",
        [({"state": s}, n) for s, n in sorted(by_state.items())],
    )
    w.metric(
        "ibstream_service_stream_consumers",
        "gauge",
        "Consumers per shared upstream stream.",
        [
            ({"key": str(k), "pinned": up.pinned}, len(up.consumers))
            for k, up in hub.upstreams.items()
        ],
    )
    kinds: dict[str, int] = {}
    for c in hub.consumers.values():
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    w.metric(
        "ibstream_service_consumers",
        "gauge",
        "Connected consumers by kind.",
        [({"kind": k}, n) for k, n in sorted(kinds.items())],
    )
    w.one(
        "ibstream_service_events_dispatched_total",
        "counter",
        "Upstream events routed to at least one consumer.",
        hub.dispatched,
    )
    w.one(
        "ibstream_service_events_encoded_total",
        "counter",
        "Events encoded to JSON by the dispatch path (once each, shared by all consumers).",
        hub.encoded,
    )
    w.one(
        "ibstream_service_slow_consumer_disconnects_total",
        "counter",
        "Consumers disconnected because they could not keep up.",
        hub.disconnected_slow,
    )
    w.metric(
        "ibstream_service_counts_total",
        "counter",
        "Service events (consumers opened per kind, upstream subscribes/unsubscribes...).",
        [({"what": k}, n) for k, n in sorted(hub.counts.items())],
    )
    _limits(w, hub)
    consumers = list(hub.consumers.values())

    def per(attr: str) -> list[tuple[dict[str, Any], float]]:
        out: list[tuple[dict[str, Any], float]] = []
        for c in consumers:
            q = c.queue
            value = {
                "depth": len(q),
                "sent": c.sent_events,
                "messages": c.sent_messages,
                "bytes": c.sent_bytes,
                "conflated": q.conflated,
                "overflowed": q.overflowed,
            }[attr]
            out.append(({"consumer": c.id, "kind": c.kind}, value))
        return out

    w.metric("ibstream_consumer_queue_depth", "gauge", "Events queued.", per("depth"))
    w.metric("ibstream_consumer_sent_events_total", "counter", "Events sent.", per("sent"))
    w.metric("ibstream_consumer_sent_messages_total", "counter", "Messages sent.", per("messages"))
    w.metric("ibstream_consumer_sent_bytes_total", "counter", "Bytes sent.", per("bytes"))
    w.metric(
        "ibstream_consumer_conflated_total",
        "counter",
        "Market-data events merged because the consumer was behind.",
        per("conflated"),
    )
    w.metric(
        "ibstream_consumer_overflowed",
        "gauge",
        "1 if the consumer overflowed and is being disconnected.",
        per("overflowed"),
    )
    return "\n".join(w.lines) + "\n"
