"""Direct writes of the fan-out (service/direct.py) over real sockets: consumers that keep up get
each round written to their socket in the round, in order and complete; a consumer whose socket
is full gets its rounds queued under the queue's policy, and direct writes resume once it caught
up; a consumer that negotiated compression is served by its writer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from ibstream.service.direct import DirectWriter
from ibstream.service.fanout import Batch
from ibstream.service.hub import Consumer
from ibstream.sim import Simulator

from .conftest import ServiceFactory
from .helpers import PlainWS, plain_ws, wait_for
from .rawws import raw_ws, ws_frames, ws_text

pytestmark = pytest.mark.e2e

REPLIES = {"Status", "Subscribed", "Unsubscribed", "Pong"}


def md_specs(sim: Simulator) -> list[dict[str, Any]]:
    return [{"topic": "md", "conid": i.conid} for i in sim.config.instruments]


def in_order(events: list[dict[str, Any]]) -> bool:
    """Each instrument's ``updated_ms`` never goes back (a merged event carries the latest)."""
    last: dict[int, int] = {}
    for ev in events:
        if ev["type"] != "MarketData":
            continue
        stamp = ev.get("updated_ms") or 0
        if stamp < last.get(ev["conid"], 0):
            return False
        last[ev["conid"]] = stamp
    return True


async def test_consumers_that_keep_up_get_every_event_written_directly_in_order(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Three consumers of the same instruments: batched messages and ``?batch=0`` get their
    rounds written directly, one with permessage-deflate through its writer; each gets every
    event the service counts as sent to it, in order, the same events over the same time."""
    service = await make_service()
    sim.set_update_interval(None, 0.005)
    batched = await plain_ws(http, service, "?session=0")
    single = await plain_ws(http, service, "?session=0&batch=0")
    deflate = await plain_ws(http, service, "?session=0", compress=15)
    consumers: list[Consumer] = list(service.hub.consumers.values())
    specs = md_specs(sim)
    received: list[list[dict[str, Any]]] = [[], [], []]
    clients = (batched, single, deflate)
    for client, events in zip(clients, received, strict=True):
        rid = await client.send("subscribe", specs=specs)
        replies = 0
        while replies < len(specs):  # keep the events around the replies (snapshots)
            m = await client.next()
            if m["type"] == "Subscribed" and m["id"] == rid:
                replies += 1
            elif m["type"] not in REPLIES:
                events.append(m)
    started_ms = time.time() * 1000
    for client, events in zip(clients, received, strict=True):
        while len(events) < 600:
            m = await client.next()
            if m["type"] not in REPLIES:
                events.append(m)
    ended_ms = time.time() * 1000

    direct = [c.direct for c in consumers]
    assert isinstance(direct[0], DirectWriter) and isinstance(direct[1], DirectWriter)
    assert direct[0].writes > 0 and direct[1].writes > 0
    assert direct[2] is None  # compressed: aiohttp's writer sends each message
    # Every event counted as sent arrives: unsubscribe, then a ping is answered after the rest.
    for client, events, consumer in zip(clients, received, consumers, strict=True):
        rid = await client.send("unsubscribe", specs=specs)
        ping = await client.send("ping")
        while True:
            m = await client.next()
            if m["type"] == "Pong" and m["id"] == ping:
                break
            if m["type"] not in REPLIES:
                events.append(m)
            elif m["type"] == "Unsubscribed":
                assert m["id"] == rid
        assert len(events) == consumer.sent_events
        assert in_order(events)
    assert single.messages == single.received  # ?batch=0: one event or reply per message
    assert batched.messages < batched.received  # batched: several per message

    # Over the same time, the three got the same events of each instrument.
    def window(events: list[dict[str, Any]]) -> list[bytes]:
        return [
            orjson.dumps(ev, option=orjson.OPT_SORT_KEYS)
            for ev in events
            if started_ms + 5 < (ev.get("updated_ms") or 0) < ended_ms - 5
        ]

    windows = [window(events) for events in received]
    assert windows[0] and windows[0] == windows[1] == windows[2]


async def _read_frames(sock: Any, data: bytes, out: list[tuple[int, bytes]]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        frames, data = ws_frames(data)
        out.extend(frames)
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            return
        data += chunk


async def test_a_full_socket_gets_rounds_queued_then_direct_writes_resume(
    make_service: ServiceFactory, sim: Simulator
) -> None:
    """A consumer that stops reading fills its socket: its rounds are queued and conflate
    (counted); once it reads again it catches up from the queue, direct writes resume, and
    every event counted as sent arrives, in order."""
    service = await make_service(buffer_size=100, send_buffer=8192)
    sim.set_update_interval(None, 0.002)
    sock, data = await raw_ws(service.url, "?batch=0&session=0")
    loop = asyncio.get_running_loop()
    specs = md_specs(sim)
    await loop.sock_sendall(sock, ws_text({"op": "subscribe", "specs": specs}))
    await wait_for(lambda: len(service.hub.consumers) == 1)
    [consumer] = service.hub.consumers.values()
    direct = consumer.direct
    assert isinstance(direct, DirectWriter)
    await wait_for(lambda: len(consumer.keys) == len(specs))

    # Not reading: the socket fills, rounds go to the queue, which conflates.
    await wait_for(lambda: consumer.queue.conflated >= 20, timeout=10)
    assert len(consumer.queue) <= 100 and not consumer.queue.overflowed
    writes = direct.writes
    frames: list[tuple[int, bytes]] = []
    reader = asyncio.create_task(_read_frames(sock, data, frames))
    try:
        # Reading again: the queue drains and rounds are written directly again.
        await wait_for(lambda: direct.writes >= writes + 20, timeout=10)
        await loop.sock_sendall(sock, ws_text({"op": "unsubscribe", "specs": specs}))
        await loop.sock_sendall(sock, ws_text({"op": "ping", "id": "last"}))
        await wait_for(lambda: bool(frames) and b'"Pong"' in frames[-1][1], timeout=10)
    finally:
        reader.cancel()
        sock.close()
    assert all(opcode == 0x1 for opcode, _ in frames)
    messages = [orjson.loads(payload) for _, payload in frames]  # ?batch=0: one per frame
    events = [m for m in messages if m["type"] not in REPLIES]
    assert len(events) == consumer.sent_events and in_order(events)
    assert consumer.queue.conflated >= 20 and not consumer.queue.overflowed


async def test_replies_and_rounds_keep_their_order(
    make_service: ServiceFactory, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Replies go through the queue, rounds may be written directly: no event of an
    instrument follows the reply to its ``unsubscribe``, while the others keep flowing."""
    service = await make_service()
    sim.set_update_interval(None, 0.002)
    client: PlainWS = await plain_ws(http, service, "?session=0")
    specs = md_specs(sim)
    await client.subscribe(*specs)
    [consumer] = service.hub.consumers.values()
    conids = [spec["conid"] for spec in specs]
    asked: dict[int, int] = {}  # request id -> conid
    gone: set[int] = set()
    after: dict[int, int] = {}  # conid -> events of other instruments after it went
    for conid in conids[:-1]:
        asked[await client.send("unsubscribe", spec={"topic": "md", "conid": conid})] = conid
        while conid not in gone:
            m = await client.next()
            if m["type"] == "Unsubscribed":
                assert m["held"] is True
                gone.add(asked[m["id"]])
            elif m["type"] == "MarketData":
                assert m["conid"] not in gone, m
                for done in gone:
                    after[done] = after.get(done, 0) + 1
    while len(after) < len(gone) or min(after.values()) < 20:
        m = await client.next()
        assert m["type"] == "MarketData" and m["conid"] == conids[-1], m
        for done in gone:
            after[done] = after.get(done, 0) + 1
    assert isinstance(consumer.direct, DirectWriter) and consumer.direct.writes > 0


async def test_a_reply_still_queued_is_never_overtaken(
    make_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    """The direct writer writes only while the consumer's queue is empty and its writer idle:
    with a reply queued it refuses (the round is queued behind the reply); once the writer
    sent it and waits again, the batch goes out at once and counts as sent."""
    service = await make_service()
    client = await plain_ws(http, service, "?session=0")
    [consumer] = service.hub.consumers.values()
    direct = consumer.direct
    assert isinstance(direct, DirectWriter)
    await wait_for(lambda: direct.idle)
    batch = Batch([b'{"type":"Probe","n":1}', b'{"type":"Probe","n":2}'], ["a", "b"])
    consumer.queue.put_raw(b'{"type":"Pong","id":"queued"}')
    assert direct(batch) is False and direct.writes == 0 and consumer.sent_events == 0
    assert await client.next() == {"type": "Pong", "id": "queued"}
    await wait_for(lambda: direct.idle)
    assert direct(batch) is True and direct.writes == 1 and consumer.sent_events == 2
    assert [await client.next(), await client.next()] == [
        {"type": "Probe", "n": 1},
        {"type": "Probe", "n": 2},
    ]
    assert client.messages == 3  # the status, the reply, one message for the batch
