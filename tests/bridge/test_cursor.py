"""The read cursor of a remote subscription: the position follows what the consumer *read*."""

from __future__ import annotations

import asyncio

import pytest

import ibstream.remote
from ibstream import OrdersSpec, OrderUpdate
from ibstream.remote.cursor import ReadCursor
from ibstream.remote.wire import Position
from ibstream.serialize import event_to_json

from .helpers import WAIT, next_of, order_update, wait_for


class Ev:
    """A distinct object per event (the cursor matches by identity)."""

    def __init__(self, name: str) -> None:
        self.name = name


def test_position_moves_only_when_read() -> None:
    cur = ReadCursor((5, 0))
    a, b, c = Ev("a"), Ev("b"), Ev("c")
    cur.received(a, (6, 0))
    cur.received(b, (7, 0))
    assert cur.position == (5, 0)  # received, not read
    cur.read(a)
    assert cur.position == (6, 0)
    cur.received(c, (8, 0))
    cur.read(b)
    assert cur.position == (7, 0)
    cur.read(c)
    assert cur.position == (8, 0) and len(cur) == 0


def test_events_without_a_position_keep_it() -> None:
    cur = ReadCursor()
    state, gap, first = Ev("state"), Ev("gap"), Ev("first")
    cur.received(state, None)
    cur.received(first, (3, 0))
    cur.received(gap, None)
    cur.read(state)
    assert cur.position is None  # only the state was read: resuming must read it again
    cur.read(first)
    cur.read(gap)
    assert cur.position == (3, 0)


def test_a_merged_event_never_moves_the_position_ahead() -> None:
    """The buffer merged b into a (a new object m comes out): the position stays until the next
    marked event is read, then jumps past everything before it."""
    cur = ReadCursor()
    a, b, c = Ev("a"), Ev("b"), Ev("c")
    for ev, pos in ((a, (1, 0)), (b, (2, 0)), (c, (3, 0))):
        cur.received(ev, pos)
    cur.read(Ev("merged a+b"))
    assert cur.position is None
    cur.read(c)
    assert cur.position == (3, 0) and len(cur) == 0


def test_passed_messages_advance_once_read_up_to_them() -> None:
    cur = ReadCursor()
    cur.passed((1, 0))  # nothing unread: the consumer is past it at once
    assert cur.position == (1, 0)
    a = Ev("a")
    cur.received(a, (2, 0))
    cur.passed((3, 0))  # behind an unread event: not yet
    assert cur.position == (1, 0)
    cur.read(a)
    assert cur.position == (3, 0)


def test_marks_are_bounded() -> None:
    cur = ReadCursor(cap=3)
    evs = [Ev(str(i)) for i in range(5)]
    for i, ev in enumerate(evs):
        cur.received(ev, (i + 1, 0))
    assert len(cur) == 3
    cur.read(evs[0])  # its mark went: the position lags, it does not lead
    assert cur.position is None
    cur.read(evs[3])
    assert cur.position == (4, 0)


@pytest.mark.e2e
async def test_resume_from_what_was_read_not_what_was_buffered(bus_url: str, prefix: str) -> None:
    """Ten orders reach the subscription's buffer; the consumer reads three and stops. Resuming
    from its position delivers the seven it never read (the old position rule skipped them)."""
    bus = ibstream.remote.open_bus(bus_url, prefix=prefix)
    await bus.start()
    await bus.provision()
    key = OrdersSpec().key
    try:
        async with ibstream.remote.connect(bus_url, prefix=prefix) as first:
            sub = first.subscribe(OrdersSpec())
            await sub.ready(WAIT)
            for i in range(1, 11):
                ev = order_update(i)
                await bus.publish(
                    key, "OrderUpdate", event_to_json(ev), msg_id=f"o{i}", fence=1, sent_ms=1
                )
            await wait_for(lambda: len(first.orders) == 10, timeout=WAIT, what="all buffered")
            read = [await next_of(sub, OrderUpdate, WAIT) for _ in range(3)]
            assert [e.order_id for e in read] == [1, 2, 3]
            position = sub.position
        assert position is not None
        async with ibstream.remote.connect(bus_url, prefix=prefix) as again:
            resumed = again.subscribe(OrdersSpec(), after=position)
            rest = [await next_of(resumed, OrderUpdate, WAIT) for _ in range(7)]
            assert [e.order_id for e in rest] == list(range(4, 11))
            assert resumed.get_nowait() is None
    finally:
        await bus.close()


@pytest.mark.e2e
async def test_get_nowait_and_iteration_move_the_position(bus_url: str, prefix: str) -> None:
    bus = ibstream.remote.open_bus(bus_url, prefix=prefix)
    await bus.start()
    await bus.provision()
    key = OrdersSpec().key
    positions: list[Position] = []
    try:
        async with ibstream.remote.connect(bus_url, prefix=prefix) as client:
            sub = client.subscribe(OrdersSpec())
            await sub.ready(WAIT)
            for i in (1, 2):
                ev = order_update(i)
                pos, _ = await bus.publish(
                    key, "OrderUpdate", event_to_json(ev), msg_id=f"n{i}", fence=1, sent_ms=1
                )
                positions.append(pos)
            await wait_for(lambda: len(client.orders) == 2, timeout=WAIT, what="both buffered")
            assert sub.position is None
            assert isinstance(sub.get_nowait(), OrderUpdate)
            assert sub.position == positions[0]
            async with asyncio.timeout(WAIT):
                async for ev in sub:
                    assert isinstance(ev, OrderUpdate) and ev.order_id == 2
                    break
            assert sub.position == positions[1]
    finally:
        await bus.close()
