"""The plain streaming endpoints: ``/stream`` (WebSocket, JSON protocol) and ``/events`` (SSE).

Both are described in ``docs/service.md``. In short: events are the JSON of
:func:`ibstream.serialize.event_to_json` (``{"type": "MarketData", ...}``), encoded once by the
hub and sent as-is; a WebSocket message carries one or more of them, one per line (``?batch=0``:
exactly one); an SSE ``data:`` line carries one. Each connection is one hub consumer with its own
queue and its own writer task, so a slow reader only ever delays itself. The hub hands events
out in rounds (:mod:`ibstream.service.fanout`): a writer that keeps up wakes once per round and
sends the round's shared bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from ibstream.exceptions import IBStreamError
from ibstream.protocol.registry import parse_topic, spec_from_args, topic_entry
from ibstream.protocol.specs import Spec, Topic
from ibstream.service import limits
from ibstream.service.direct import DirectWriter
from ibstream.service.hub import Consumer, Hub
from ibstream.service.keys import CONFIG, HUB
from ibstream.service.queue import QueueClosed, QueueOverflow
from ibstream.service.specs import (
    SESSION_TOPIC,
    Filters,
    parse_key,
    spec_from_dict,
    spec_to_dict,
)

__all__ = [
    "CLOSE_SHUTDOWN",
    "CLOSE_SLOW_CONSUMER",
    "events_handler",
    "stream_handler",
]

log = logging.getLogger("ibstream.service")

CLOSE_SLOW_CONSUMER = 4008
"""WebSocket close code for a consumer disconnected because it could not keep up."""
CLOSE_SHUTDOWN = int(WSCloseCode.GOING_AWAY)
"""WebSocket close code when the service shuts down (1001)."""
SSE_KEEPALIVE = 15.0


def _msg(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def _tune_socket(request: web.Request) -> None:
    size = request.app[CONFIG].send_buffer
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if size and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


# -- WebSocket ---------------------------------------------------------------------------------


async def stream_handler(request: web.Request) -> web.StreamResponse:
    """``GET /stream``: the plain WebSocket protocol."""
    hub = request.app[HUB]
    max_bytes = request.app[CONFIG].max_batch_bytes
    query = request.query
    batch = query.get("batch", "1") not in ("0", "false")
    try:
        limits.check_filter_items(
            hub, topics=query.get("topic"), conids=query.get("conid"), accounts=query.get("account")
        )
        filters = Filters.parse(query.get("topic"), query.get("conid"), query.get("account"))
    except IBStreamError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        consumer = hub.open_consumer(
            "ws",
            request.remote or "",
            filters=filters,
            session_events=query.get("session", "1") not in ("0", "false"),
        )
    except IBStreamError as exc:
        return web.json_response({"error": str(exc)}, status=503)
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=1 << 20)
    try:
        await ws.prepare(request)  # a GET without an upgrade: 400
    except BaseException:
        hub.close_consumer(consumer, "no WebSocket handshake")
        raise
    _tune_socket(request)
    consumer.abort = lambda: _abort(request)
    consumer.queue.put_raw(_msg(hub.status_message()))
    max_bytes = max_bytes if batch else 1
    direct: DirectWriter | None = None
    transport = request.transport
    if isinstance(transport, asyncio.WriteTransport) and not ws.compress:  # service/direct.py
        direct = DirectWriter(consumer, ws, transport, max_bytes)
        consumer.direct = direct
    writer = asyncio.create_task(
        _ws_writer(ws, consumer, max_bytes, direct),
        name=f"ibstream-{consumer.id}",
    )
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                _handle_op_safely(hub, consumer, msg.data)
            elif msg.type is WSMsgType.BINARY:
                _reply(consumer, {"type": "Error", "message": "send JSON text messages"})
    finally:
        hub.close_consumer(consumer, "client left")
        if not writer.done():
            # Give the writer a moment to send a final notice, then stop it.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(writer), 1.0)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
    return ws


async def _ws_writer(
    ws: web.WebSocketResponse, consumer: Consumer, max_bytes: int, direct: DirectWriter | None
) -> None:
    """Send what the consumer's queue holds: replies, and rounds that ``direct`` did not write
    itself (one wake-up per round while the consumer keeps up), the backlog in ``max_bytes``
    messages while it catches up. While it waits on an empty queue, ``direct`` may write."""
    text = WSMsgType.TEXT
    queue = consumer.queue
    try:
        while True:
            if direct is not None and not queue:
                direct.idle = True
                try:
                    await queue.wait()
                finally:
                    direct.idle = False
            else:
                await queue.wait()  # no suspension when something is queued
            messages, events = queue.take_ws(max_bytes)
            for payload in messages:
                await ws.send_frame(payload, text)
                consumer.sent_bytes += len(payload)
            consumer.sent_events += events
            consumer.sent_messages += len(messages)
    except QueueOverflow as exc:
        with contextlib.suppress(Exception):
            await ws.send_frame(_msg({"type": "SlowConsumer", "reason": str(exc)}), text)
            await ws.close(code=CLOSE_SLOW_CONSUMER, message=b"slow consumer")
    except QueueClosed:
        reason = consumer.close_reason
        if reason and reason != "client left":
            with contextlib.suppress(Exception):
                await ws.send_frame(_msg({"type": "Closing", "reason": reason}), text)
                await ws.close(code=CLOSE_SHUTDOWN, message=reason.encode()[:120])
    except (ConnectionError, RuntimeError) as exc:
        log.debug("consumer %s: send failed: %s", consumer.id, exc)


_ID_MAX = 256  # characters of a request id echoed in replies


def _reply(consumer: Consumer, obj: dict[str, Any]) -> None:
    try:
        data = _msg(obj)
    except TypeError as exc:  # orjson refused (too deep, not UTF-8...): say so instead
        data = _msg({"type": "Error", "id": None, "message": f"reply not encodable: {exc}"})
    consumer.queue.put_raw(data)


def _request_id(value: object) -> str | int | float | bool | None:
    """The ``id`` of a request, echoed in its replies: a string (up to 256 characters), a
    number, a boolean or null. Anything else (an object, a list: a 500-deep ``id`` once broke
    the reply encoder) is refused."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return value
        raise ValueError("'id' must be a string, a number within 64 bits, a boolean or null")
    if isinstance(value, str) and len(value) <= _ID_MAX:
        return value
    raise ValueError(f"'id' must be a string of at most {_ID_MAX} characters, a number or null")


def _handle_op_safely(hub: Hub, consumer: Consumer, text: str) -> None:
    """:func:`_handle_op`, and no exception ever escapes: an unexpected one is logged and
    becomes an ``Error`` reply, the socket stays open."""
    try:
        _handle_op(hub, consumer, text)
    except Exception as exc:
        hub.counts["op_errors"] += 1
        log.exception("consumer %s: request failed", consumer.id)
        _reply(
            consumer,
            {"type": "Error", "id": None, "message": f"internal error: {type(exc).__name__}"},
        )


def _handle_op(hub: Hub, consumer: Consumer, text: str) -> None:
    """Carry out one client message; every outcome is a reply on the consumer's own queue."""
    rid: Any = None
    try:
        req = orjson.loads(text)
        if not isinstance(req, dict):
            raise ValueError("a message must be a JSON object with an 'op'")
        rid = _request_id(req.get("id"))
        op = req.get("op")
        handler = _OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            raise ValueError(f"unknown op {op!r} (expected {', '.join(_OPS)})")
        handler(hub, consumer, req, rid)
    except (orjson.JSONDecodeError, ValueError, IBStreamError) as exc:
        _reply(consumer, {"type": "Error", "id": rid, "message": str(exc)})


def _op_filter(hub: Hub, consumer: Consumer, req: dict[str, Any], rid: Any) -> None:
    limits.check_filter_items(
        hub, topics=req.get("topics"), conids=req.get("conids"), accounts=req.get("accounts")
    )
    filters = Filters.parse(req.get("topics"), req.get("conids"), req.get("accounts"))
    hub.set_filters(consumer, filters)
    out = filters.to_dict() if filters else Filters().to_dict()
    _reply(consumer, {"type": "Filters", "id": rid, **out})


def _op_status(hub: Hub, consumer: Consumer, req: dict[str, Any], rid: Any) -> None:
    keys = sorted(str(k) for k in consumer.keys)
    _reply(consumer, {**hub.status_message(), "id": rid, "keys": keys})


def _op_ping(hub: Hub, consumer: Consumer, req: dict[str, Any], rid: Any) -> None:
    _reply(consumer, {"type": "Pong", "id": rid})


def _specs_of(hub: Hub, req: dict[str, Any]) -> list[Spec]:
    if "specs" in req:
        items = req["specs"]
        if not isinstance(items, list) or not items:
            raise ValueError("'specs' must be a non-empty list of spec objects")
        limits.check_request(hub, len(items))
        return [limits.check_spec(hub, spec_from_dict(s)) for s in items]
    if "spec" not in req:
        raise ValueError("subscribe needs 'spec' (an object) or 'specs' (a list)")
    return [limits.check_spec(hub, spec_from_dict(req["spec"]))]


def _op_subscribe(hub: Hub, consumer: Consumer, req: dict[str, Any], rid: Any) -> None:
    for spec in _specs_of(hub, req):
        # Reply first, then the current state of a live stream, then its live events.
        joined_live = spec.key not in consumer.keys and hub.is_live(spec.key)
        try:
            limits.check_attach(hub, consumer, spec)
            up = hub.attach(consumer, spec, snapshot=False)
        except IBStreamError as exc:
            _reply(consumer, {"type": "Error", "id": rid, "message": str(exc)})
            continue
        st = hub.subscription_state(up.key)
        _reply(
            consumer,
            {
                "type": "Subscribed",
                "id": rid,
                "key": str(up.key),
                "state": st.name if st is not None else "PENDING",
                "spec": spec_to_dict(up.spec),
            },
        )
        if joined_live:
            hub.send_snapshot(consumer, up.key)


def _op_unsubscribe(hub: Hub, consumer: Consumer, req: dict[str, Any], rid: Any) -> None:
    if "key" in req:
        keys = [parse_key(req["key"])]
    elif "keys" in req:
        if not isinstance(req["keys"], list):
            raise ValueError("'keys' must be a list of stream keys like 'md:265598'")
        limits.check_request(hub, len(req["keys"]))
        keys = [parse_key(k) for k in req["keys"]]
    else:
        keys = [s.key for s in _specs_of(hub, req)]
    for key in keys:
        held = hub.detach(consumer, key)
        _reply(consumer, {"type": "Unsubscribed", "id": rid, "key": str(key), "held": held})


_OPS: dict[str, Callable[[Hub, Consumer, dict[str, Any], Any], None]] = {
    "subscribe": _op_subscribe,
    "unsubscribe": _op_unsubscribe,
    "filter": _op_filter,
    "status": _op_status,
    "ping": _op_ping,
}
"""The ops of the plain WebSocket protocol (docs/service.md), by name."""


# -- Server-Sent Events ------------------------------------------------------------------------


def specs_from_query(query: Any, hub: Hub | None = None) -> tuple[list[Spec], Filters | None]:
    """``/events`` query -> the specs to subscribe and the consumer's filters.

    ``topic`` (comma-separated or repeated): md, mh, bd, or, tr, pl, sd, ld, session;
    ``conid`` (for md/mh/bd, and a filter), ``account`` (for bd/sd/ld, and a filter),
    ``fields`` (market data field ids), ``exchange``. With ``hub``, its limits apply to the
    lists and to the number of specs before any is built (``bd`` takes every conid with every
    account).
    """

    def many(name: str) -> list[str]:
        out: list[str] = []
        for value in query.getall(name, []):
            out.extend(v.strip() for v in value.split(",") if v.strip())
        return out

    named = many("topic")
    if not named:
        raise ValueError("'topic' is required: md, mh, bd, or, tr, pl, sd, ld or session")
    topics = [t if t == SESSION_TOPIC else parse_topic(t).value for t in named]
    conids: list[int] = []
    for c in many("conid"):
        try:
            conids.append(int(c))
        except ValueError:
            raise ValueError(f"conid must be an integer, got {c!r}") from None
    accounts = many("account")
    fields = many("fields")
    exchange = query.get("exchange")
    if hub is not None:
        limits.check_filter_items(hub, topics=named, conids=conids, accounts=accounts)
        count = 0
        for topic in dict.fromkeys(topics):
            if topic != SESSION_TOPIC:
                product = 1
                for name in topic_entry(topic).required:
                    product *= len(conids) if name == "conid" else len(accounts)
                count += product
        limits.check_request(hub, count)
    specs: list[Spec] = []
    for topic in dict.fromkeys(topics):
        if topic == SESSION_TOPIC:
            continue
        entry = topic_entry(topic)
        options: dict[str, Any] = {}
        if "exchange" in entry.members:
            options["exchange"] = exchange
        if entry.topic is Topic.MARKET_DATA and fields:
            options["fields"] = fields
        # one spec per combination of the required members (conid, account, or both for bd)
        combos: list[dict[str, Any]] = [{}]
        for name in entry.required:
            values: list[Any] = list(conids) if name == "conid" else list(accounts)
            if not values:
                raise ValueError(f"topic {topic!r} needs {name!r}")
            combos = [{**c, name: v} for c in combos for v in values]
        specs.extend(spec_from_args(entry.topic, {**c, **options}) for c in combos)
    session = query.get("session", "1") not in ("0", "false")
    filter_topics = set(topics) | ({SESSION_TOPIC} if session else set())
    filters = Filters.parse(sorted(filter_topics), conids or None, accounts or None)
    return specs, filters


async def events_handler(request: web.Request) -> web.StreamResponse:
    """``GET /events?topic=md&conid=265598``: Server-Sent Events, one event per ``data:``."""
    hub = request.app[HUB]
    max_bytes = request.app[CONFIG].max_batch_bytes
    try:
        specs, filters = specs_from_query(request.query, hub)
        consumer = hub.open_consumer("sse", request.remote or "", filters=filters)
    except (ValueError, IBStreamError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        for spec in specs:
            limits.check_attach(hub, consumer, spec)
            hub.attach(consumer, spec)
    except IBStreamError as exc:
        hub.close_consumer(consumer, "bad request")
        return web.json_response({"error": str(exc)}, status=400)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    consumer.abort = lambda: _abort(request)
    try:
        await resp.prepare(request)
        _tune_socket(request)
        await resp.write(b"retry: 2000\ndata: " + _msg(hub.status_message()) + b"\n\n")
        await _sse_writer(resp, consumer, max_bytes)
    except (ConnectionError, RuntimeError) as exc:
        log.debug("consumer %s: send failed: %s", consumer.id, exc)
    finally:
        hub.close_consumer(consumer, "client left")
    return resp


async def _sse_writer(resp: web.StreamResponse, consumer: Consumer, max_bytes: int) -> None:
    queue = consumer.queue
    while True:
        try:
            async with asyncio.timeout(SSE_KEEPALIVE):
                await queue.wait()
        except TimeoutError:
            await resp.write(b": keepalive\n\n")
            continue
        except QueueOverflow as exc:
            notice = _msg({"type": "SlowConsumer", "reason": str(exc)})
            await resp.write(b"event: error\ndata: " + notice + b"\n\n")
            return
        except QueueClosed:
            if consumer.close_reason and consumer.close_reason != "client left":
                notice = _msg({"type": "Closing", "reason": consumer.close_reason})
                await resp.write(b"event: close\ndata: " + notice + b"\n\n")
            return
        payload, events = queue.take_sse(max_bytes)
        await resp.write(payload)
        consumer.sent_events += events
        consumer.sent_messages += events
        consumer.sent_bytes += len(payload)
