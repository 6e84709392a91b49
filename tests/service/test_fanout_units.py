"""The pieces of the batched fan-out (service/fanout.py): message splitting, shared batches,
the rounds' schedule and adaptive interval."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.service.fanout import Batch, Rounds, hand_out, split_lines, ws_text_frames

from .rawws import ws_frames

LINES = st.lists(st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b" ")))


@given(LINES, st.integers(min_value=1, max_value=200))
def test_split_lines_keeps_every_line_in_order_within_the_size(
    lines: list[bytes], max_bytes: int
) -> None:
    """Messages hold the lines in order; a message is closed once it holds ``max_bytes``."""
    messages = split_lines(lines, max_bytes)
    assert [line for m in messages for line in m.split(b"\n")] == lines
    for m in messages:
        parts = m.split(b"\n")
        assert sum(map(len, parts[:-1])) < max_bytes  # it was still open before its last line
    for m in messages[:-1]:
        assert sum(map(len, m.split(b"\n"))) >= max_bytes  # closed because it was full
    if max_bytes == 1:
        assert messages == lines


def test_batch_builds_each_wire_format_once() -> None:
    batch = Batch([b'{"a":1}', b'{"b":2}'], ["a", "b"])
    ws = batch.ws_messages(65536)
    assert ws == [b'{"a":1}\n{"b":2}'] and batch.ws_messages(65536) is ws
    assert batch.ws_messages(1) == [b'{"a":1}', b'{"b":2}']  # ?batch=0: one per message
    sse = batch.sse_payload()
    assert sse == b'data: {"a":1}\n\ndata: {"b":2}\n\n' and batch.sse_payload() is sse
    assert len(batch) == 2


async def test_one_read_is_one_round_and_flush_hands_out_at_once() -> None:
    rounds_seen: list[list[tuple[Any, Any]]] = []
    rounds = Rounds(rounds_seen.append, flush_interval=0.0, max_flush_interval=0.0)
    for i in range(5):  # events of one read: logged in the same loop iteration
        rounds.add("r", i)
    done = asyncio.Event()
    asyncio.get_running_loop().call_soon(done.set)  # queued after the round's callback
    await done.wait()
    assert rounds_seen == [[("r", i) for i in range(5)]] and rounds.rounds == 1
    rounds.add("r", 5)
    rounds.flush()
    assert rounds_seen[-1] == [("r", 5)] and not rounds.log
    rounds.flush()  # nothing pending: no empty round
    assert len(rounds_seen) == 2


async def test_the_interval_follows_the_cpu_cost_of_a_round_within_bounds() -> None:
    """The CPU time from the hand-out until the woken writers ran, less the encoding, divided
    by the budget; between flush_interval and max_flush_interval."""
    cpu = [0.0]
    costs = itertools.chain([0.001, 1.0], itertools.repeat(0.0))  # the writers' CPU per round
    encoding = 0.004  # reported by distribute: left out

    def distribute(log: list[tuple[Any, Any]]) -> float:
        cpu[0] += encoding
        cost = next(costs)
        asyncio.get_running_loop().call_soon(lambda: cpu.__setitem__(0, cpu[0] + cost))
        return encoding

    rounds = Rounds(
        distribute,
        flush_interval=0.002,
        max_flush_interval=0.05,
        budget=0.1,
        cpu_clock=lambda: cpu[0],
    )

    async def one_round() -> None:
        rounds.add("r", 1)
        rounds.flush()
        done = asyncio.Event()
        asyncio.get_running_loop().call_soon(lambda: asyncio.get_running_loop().call_soon(done.set))
        await done.wait()

    await one_round()
    assert rounds.interval == pytest.approx(0.01)  # 1 ms of writes at 10 %
    await one_round()
    assert rounds.interval == 0.05  # very expensive: capped
    await one_round()
    assert rounds.interval == 0.002  # cheap again: back to flush_interval
    # the next round waits for the interval after the last one
    loop = asyncio.get_running_loop()
    rounds.flush_interval = rounds.max_flush_interval = rounds.interval = 30.0
    rounds.add("r", 4)
    rounds._next_at = 0.0
    rounds.flush()
    rounds.add("r", 5)
    handle = rounds._handle
    assert isinstance(handle, asyncio.TimerHandle) and handle.when() >= loop.time() + 29
    rounds.close()
    assert handle.cancelled() and not rounds.log and rounds.errors == 0


async def test_a_failing_round_is_logged_and_counted_and_the_next_one_goes_out(
    caplog: Any,
) -> None:
    seen: list[Any] = []

    def distribute(log: list[tuple[Any, Any]]) -> None:
        if log[0][1] == "bad":
            raise ValueError("boom")
        seen.extend(ev for _, ev in log)

    rounds = Rounds(distribute)
    rounds.add("r", "bad")
    rounds.flush()
    assert rounds.errors == 1 and "fan-out round of 1 events failed" in caplog.text
    rounds.add("r", "good")
    rounds.flush()
    assert seen == ["good"] and rounds.errors == 1


def test_pacing_settings_are_checked() -> None:
    from ibstream.exceptions import InvalidArgument
    from ibstream.service.config import ServiceConfig

    with pytest.raises(InvalidArgument, match="flush_interval"):
        ServiceConfig(flush_interval=0.1, max_flush_interval=0.05)
    with pytest.raises(InvalidArgument, match="flush_budget"):
        ServiceConfig(flush_budget=0)
    with pytest.raises(InvalidArgument, match="flush_interval"):
        ServiceConfig(flush_interval=-1)
    config = ServiceConfig()
    assert config.flush_interval <= config.max_flush_interval and 0 < config.flush_budget <= 1


async def test_a_round_that_reaches_max_events_goes_out_at_once() -> None:
    seen: list[int] = []
    rounds = Rounds(lambda log: seen.append(len(log)), flush_interval=30.0, max_events=3)
    rounds.add("r", 0)
    rounds.flush()  # the next round would wait 30 s
    for i in range(7):
        rounds.add("r", i)
    assert seen == [1, 3, 3] and len(rounds.log) == 1  # full rounds went out without waiting
    rounds.close()


def test_a_batch_not_yet_taken_becomes_its_events_when_the_consumer_falls_behind() -> None:
    """The queue's bound counts a queued batch's events: once the consumer is behind, the batch
    is turned back into its events (in order, before later replies) under the policy."""
    from ibstream.protocol.events import OrderUpdate
    from ibstream.protocol.specs import StreamKey, Topic
    from ibstream.service.queue import ConsumerQueue

    def order(n: int) -> OrderUpdate:
        return OrderUpdate(
            key=StreamKey(Topic.ORDERS, ""),
            account=None,
            order_id=n,
            conid=None,
            status=None,
            changes={},
            raw={},
        )

    q = ConsumerQueue(4)
    q.put_batch(Batch([b"1", b"2"], [order(1), order(2)]))
    q.put_raw(b"reply")
    assert len(q) == 2  # the batch is one entry while the consumer keeps up
    q.put(order(3), b"3")
    assert len(q) == 4 and not q.overflowed  # two events, the reply, the new event
    q.put(order(4), b"4")
    assert q.overflowed  # the bound counted the batch's events
    messages, events = q.take_ws(1 << 20)
    assert b"\n".join(messages) == b"1\n2\nreply\n3" and events == 3
    # a batch the writer already took stays taken
    q2 = ConsumerQueue(4)
    q2.put_batch(Batch([b"1"], [order(1)]))
    assert q2.take_ws(1 << 20) == ([b"1"], 1)
    q2.put(order(2), b"2")
    assert q2.take_ws(1 << 20) == ([b"2"], 1)


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_ws_text_frames_are_the_messages_as_server_frames(messages: list[bytes]) -> None:
    frames, rest = ws_frames(ws_text_frames(messages))
    assert frames == [(0x1, m) for m in messages] and rest == b""


@pytest.mark.parametrize("size", [0, 125, 126, 127, 65535, 65536, 70_000])
def test_ws_text_frames_length_encodings(size: int) -> None:
    """7-bit lengths up to 125, 16-bit up to 65535, 64-bit beyond (RFC 6455 section 5.2)."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = ws_text_frames([payload, b"x"])
    head = 2 if size < 126 else 4 if size < 65536 else 10
    assert data[0] == 0x81 and len(data) == head + size + 3
    assert ws_frames(data) == ([(0x1, payload), (0x1, b"x")], b"")


def test_batch_frames_are_built_once_per_size_and_count_messages_and_bytes() -> None:
    batch = Batch([b'{"a":1}', b'{"b":2}'], ["a", "b"])
    data, messages, size = batch.ws_frames(65536)
    assert ws_frames(data) == ([(0x1, b'{"a":1}\n{"b":2}')], b"")
    assert (messages, size) == (1, 15) and batch.ws_frames(65536)[0] is data
    data, messages, size = batch.ws_frames(1)  # ?batch=0: one event per message
    assert ws_frames(data) == ([(0x1, b'{"a":1}'), (0x1, b'{"b":2}')], b"")
    assert (messages, size) == (2, 14)


def test_hand_out_gives_each_consumer_its_routes_once_whether_the_lists_match_or_not() -> None:
    """Routes with the same consumers (one list comparison) and overlapping ones (a merged
    set): each consumer gets one batch per round holding exactly the events of its routes, in
    order, each event encoded once per round."""
    from ibstream.service.hub import Consumer
    from ibstream.service.queue import ConsumerQueue

    def consumer(name: str, *routes: str) -> Consumer:
        return Consumer(id=name, kind="ws", peer="", queue=ConsumerQueue(100), routes=set(routes))

    a, b, c = consumer("a", "x", "y"), consumer("b", "x", "y"), consumer("c", "y")
    log = [("x", "e1"), ("y", "e2"), ("x", "e3")]

    def taken(who: Consumer) -> list[list[Any]]:
        out = []
        while (entry := who.queue.pop_entry()) is not None:
            assert isinstance(entry[1], Batch)  # kept up: one shared batch
            out.append(entry[1].events)
        return out

    same = {"x": [a, b], "y": [a, b]}
    assert hand_out(log, same.__getitem__)[1] == 3  # each event encoded once
    assert taken(a) == taken(b) == [["e1", "e2", "e3"]] and taken(c) == []
    overlap = {"x": [a, b], "y": [a, b, c]}
    assert hand_out(log, overlap.__getitem__)[1] == 3
    assert taken(a) == taken(b) == [["e1", "e2", "e3"]] and taken(c) == [["e2"]]
    assert hand_out([], overlap.__getitem__) == (0.0, 0)
