"""Bounded event buffers: conflation of market data, never-drop overflow for the rest."""

from __future__ import annotations

import asyncio

import pytest

from ibstream.aio.buffer import EventBuffer, merge_market_data
from ibstream.conflating import CONTROL, ConflatingQueue
from ibstream.exceptions import ClientClosed, SlowConsumerError
from ibstream.protocol.events import Heartbeat, LadderRow, MarketData, PriceLadder
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.service.queue import ConsumerQueue
from ibstream.sinks.buffer import ThreadSafeBuffer


def md(conid: int, **values: float) -> MarketData:
    vals = {int(k[1:]): v for k, v in values.items()}
    return MarketData(
        key=StreamKey(Topic.MARKET_DATA, str(conid)),
        conid=conid,
        server_id="q1",
        updated_ms=1,
        values=vals,
        raw={str(k): str(v) for k, v in vals.items()},
    )


def ladder(account: str, conid: int, price: float) -> PriceLadder:
    row = LadderRow(row=0, focus=True, price=price, bid_size=1.0, ask_size=None)
    return PriceLadder(
        key=StreamKey(Topic.PRICE_LADDER, account),
        account=account,
        conid=conid,
        exchange=None,
        rows=(row,),
        raw={},
    )


def test_fifo_under_capacity() -> None:
    """Below capacity every event is delivered in order, nothing conflated."""
    buf = EventBuffer(10)
    events = [md(1, f31=float(i)) for i in range(5)]
    for e in events:
        buf.put(e)
    assert [buf.get_nowait() for _ in range(5)] == events
    assert buf.get_nowait() is None
    assert buf.conflated == 0 and buf.delivered == 5


def test_market_data_conflates_when_full() -> None:
    """A full buffer merges new market data into the pending event of the same conid."""
    buf = EventBuffer(2)
    buf.put(md(1, f31=1.0, f84=0.5))
    buf.put(md(2, f31=9.0))
    buf.put(md(1, f31=2.0))
    buf.put(md(1, f86=3.0))
    assert len(buf) == 2 and buf.conflated == 2
    first = buf.get_nowait()
    assert first.conid == 1
    assert first.values == {31: 2.0, 84: 0.5, 86: 3.0}
    assert buf.get_nowait().conid == 2


def test_new_conid_when_full_is_kept_bounded_by_instruments() -> None:
    """A full buffer still accepts the first event of another conid (growth bounded by conids)."""
    buf = EventBuffer(1)
    buf.put(md(1, f31=1.0))
    buf.put(md(2, f31=2.0))
    buf.put(md(2, f31=3.0))
    assert len(buf) == 2
    assert buf.get_nowait().conid == 1
    assert buf.get_nowait().values == {31: 3.0}


def test_ladder_conflates_to_latest() -> None:
    """Price ladders keep only the latest frame per (account, conid) when full."""
    buf = EventBuffer(1)
    buf.put(ladder("DU1", 5, 1.0))
    buf.put(ladder("DU1", 5, 2.0))
    assert buf.conflated == 1
    assert buf.get_nowait().rows[0].price == 2.0


def test_never_drop_overflow_raises_after_drain() -> None:
    """Non-market events are never dropped: overflow delivers what is held, then raises."""
    buf = EventBuffer(2, name="orders")
    for i in range(3):
        buf.put(Heartbeat(hb_ms=i))
    assert buf.overflowed
    assert buf.get_nowait().hb_ms == 0
    assert buf.get_nowait().hb_ms == 1
    with pytest.raises(SlowConsumerError) as info:
        buf.get_nowait()
    assert "orders" in str(info.value)
    buf.put(Heartbeat(hb_ms=9))
    assert len(buf) == 0


def test_merge_market_data_keeps_old_fields() -> None:
    """Merging keeps fields only in the old event and takes the new values otherwise."""
    merged = merge_market_data(md(1, f31=1.0, f84=2.0), md(1, f31=5.0))
    assert merged.values == {31: 5.0, 84: 2.0}


async def test_get_waits_and_close_ends() -> None:
    """get() waits for an event; close() wakes waiters with ClientClosed after draining."""
    buf = EventBuffer(5)

    async def later() -> None:
        await asyncio.sleep(0.01)
        buf.put(Heartbeat(hb_ms=1))

    task = asyncio.create_task(later())
    assert (await buf.get()).hb_ms == 1
    await task
    buf.put(Heartbeat(hb_ms=2))
    buf.close()
    assert (await buf.get()).hb_ms == 2
    with pytest.raises(ClientClosed):
        await buf.get()


async def test_close_with_error_wakes_waiter() -> None:
    """A waiter blocked in get() receives the close error."""
    buf = EventBuffer(5)
    waiter = asyncio.create_task(buf.get())
    await asyncio.sleep(0)
    buf.close(RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        await waiter
    buf.close()


def test_maxsize_must_be_positive() -> None:
    """A buffer needs room for at least one event."""
    with pytest.raises(ValueError):
        EventBuffer(0)


# -- one policy, three adapters ----------------------------------------------------------------


def test_control_entry_is_not_empty() -> None:
    """A control entry is a CONTROL entry, never None: pop_entry tells it from 'empty', event
    readers skip it and return the next event."""
    q = ConflatingQueue(1)
    q.put(Heartbeat(hb_ms=1))
    q.put_control(b"notice")  # accepted even when full
    q.put(Heartbeat(hb_ms=2))  # full: never-drop overflow
    entry = q.pop_entry()
    assert entry is not None and entry[0] == Heartbeat(hb_ms=1)
    control = q.pop_entry()
    assert control is not None and control[0] is CONTROL and control[1] == b"notice"
    assert q.pop_entry() is None  # empty is None, and only empty is None
    q2 = ConflatingQueue(5)
    q2.put_control(b"reply")
    q2.put(Heartbeat(hb_ms=3))
    assert q2.get_nowait() == Heartbeat(hb_ms=3)
    assert q2.get_nowait() is None


async def test_asyncio_adapter_waiter_skips_control_entries() -> None:
    """EventBuffer.get() waits past control entries for a real event."""
    buf = EventBuffer(5)
    waiter = asyncio.create_task(buf.get())
    await asyncio.sleep(0)
    buf.put_control(b"reply")
    await asyncio.sleep(0)
    assert not waiter.done()
    buf.put(Heartbeat(hb_ms=4))
    assert await waiter == Heartbeat(hb_ms=4)


def test_the_three_adapters_share_the_policy() -> None:
    """asyncio, thread and service adapters conflate and overflow exactly alike."""
    for queue in (EventBuffer(2), ThreadSafeBuffer(2), ConsumerQueue(2)):
        queue.put(md(1, f31=1.0))
        queue.put(md(2, f31=2.0))
        queue.put(md(1, f31=3.0))
        assert queue.conflated == 1 and len(queue) == 2
        queue.put(Heartbeat(hb_ms=1))
        assert queue.overflowed
        assert queue.get_nowait().values == {31: 3.0}
