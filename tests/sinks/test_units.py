"""Each sink on its own: thread-safe buffer policies, callbacks, fan-out, log, queue, recorder."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ibstream.aio.recorder import read_recording
from ibstream.exceptions import ClientClosed, SlowConsumerError, StreamTimeout
from ibstream.protocol.events import (
    AccountInfo,
    MarketData,
    Notification,
    OrderUpdate,
    Trade,
    TradeUpdated,
)
from ibstream.protocol.lifecycle import (
    LifecycleEvent,
    SessionState,
    SessionStateChanged,
    SubscriptionState,
    SubscriptionStateChanged,
)
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.sinks import (
    CallbackSink,
    CompositeSink,
    LogSink,
    QueueSink,
    RawFrame,
    RecorderSink,
    Sink,
    ThreadSafeBuffer,
    key_by_stream,
)
from ibstream.sync.dispatch import Dispatcher


def md(conid: int, **values: float) -> MarketData:
    fields = {31: values.get("last", 1.0)}
    if "bid" in values:
        fields[84] = values["bid"]
    return MarketData(
        key=StreamKey(Topic.MARKET_DATA, str(conid)),
        conid=conid,
        server_id=None,
        updated_ms=None,
        values=fields,
        raw={},
    )


def order(n: int) -> OrderUpdate:
    return OrderUpdate(
        key=StreamKey(Topic.ORDERS, ""),
        account="DU1234567",
        order_id=n,
        conid=265598,
        status="Submitted",
        changes={},
        raw={},
    )


def session_changed() -> SessionStateChanged:
    return SessionStateChanged(
        previous=SessionState.CONNECTED, current=SessionState.AUTHENTICATED, reason="test"
    )


# -- ThreadSafeBuffer -----------------------------------------------------------------------------


def test_buffer_conflates_market_data_when_full() -> None:
    """Full buffer: market data merges into the pending event of its conid, no field lost."""
    buf = ThreadSafeBuffer(2)
    buf.put(md(1, last=1.0))
    buf.put(md(2, last=2.0))
    buf.put(md(1, last=1.5, bid=1.4))
    assert len(buf) == 2 and buf.conflated == 1
    first = buf.get(0)
    assert first.conid == 1 and first.values[31] == 1.5 and first.values[84] == 1.4


def test_buffer_never_drops_orders_slow_consumer_error_after_drain() -> None:
    """Orders overflow: what was accepted is delivered, then SlowConsumerError."""
    buf = ThreadSafeBuffer(2)
    for n in range(3):
        buf.put(order(n))
    assert buf.overflowed
    assert [buf.get(0).order_id, buf.get(0).order_id] == [0, 1]
    with pytest.raises(SlowConsumerError):
        buf.get(0)


def test_buffer_blocks_across_threads_times_out_and_closes() -> None:
    """get() blocks until another thread puts; times out; ends with ClientClosed on close."""
    buf = ThreadSafeBuffer(10)
    threading.Timer(0.05, buf.put, args=(order(7),)).start()
    assert buf.get(2).order_id == 7
    with pytest.raises(StreamTimeout):
        buf.get(0.05)
    threading.Timer(0.05, buf.close).start()
    with pytest.raises(ClientClosed):
        buf.get(2)


def test_buffer_get_batch() -> None:
    """get_batch takes what is there (up to the limit); the end comes with the next call."""
    buf = ThreadSafeBuffer(10)
    for n in range(5):
        buf.put(order(n))
    buf.close()
    assert [e.order_id for e in buf.get_batch(3)] == [0, 1, 2]
    assert [e.order_id for e in buf.get_batch(10)] == [3, 4]
    with pytest.raises(ClientClosed):
        buf.get_batch(10)


# -- CallbackSink ----------------------------------------------------------------------------------


def test_callback_sink_isolates_a_failing_callback(caplog: pytest.LogCaptureFixture) -> None:
    """A raising callback is logged and counted; the others and later events still run."""
    sink = CallbackSink()
    got: list[Any] = []

    def boom(ev: Any) -> None:
        raise RuntimeError("boom")

    sink.on(OrderUpdate, boom)
    sink.on(OrderUpdate, got.append)
    with caplog.at_level(logging.ERROR, logger="ibstream.sinks"):
        sink.emit(order(1))
        sink.emit(order(2))
    assert [e.order_id for e in got] == [1, 2]
    assert sink.errors == 2
    assert "boom" in caplog.text


def test_callback_sink_types_unions_catch_all_and_remove() -> None:
    """Registration by class, by union alias, for every event; remove() unregisters."""
    sink = CallbackSink()
    orders: list[Any] = []
    lifecycle: list[Any] = []
    everything: list[Any] = []
    remove = sink.on(OrderUpdate, orders.append)
    sink.on(LifecycleEvent, lifecycle.append)
    sink.on(None, everything.append)
    sink.emit(order(1))
    sink.emit(session_changed())
    sink.emit(md(1))
    remove()
    sink.emit(order(2))
    assert [e.order_id for e in orders] == [1]
    assert len(lifecycle) == 1 and len(everything) == 4
    with pytest.raises(TypeError):
        sink.on("OrderUpdate", orders.append)


class _HookedMeta(type):
    """Runs ``hook`` (once) while a CallbackSink looks up an event class's callbacks: a
    registration from another thread landing exactly in that window, made deterministic."""

    hook: Any = None

    @property
    def __mro__(cls) -> tuple[type, ...]:  # type: ignore[override]
        hook, _HookedMeta.hook = _HookedMeta.hook, None
        if hook is not None:
            hook()
        mro: tuple[type, ...] = type.__dict__["__mro__"].__get__(cls)
        return mro


class _Hooked(metaclass=_HookedMeta):
    pass


def test_callback_sink_registration_racing_a_lookup_is_not_lost() -> None:
    """A callback registered (or removed) while the dispatcher looks up an event type's
    callbacks applies from the next event on: the lookup used to store its stale result in the
    fresh cache, so a new callback missed every later event of that type (and a removed one
    kept being called) until some other registration."""
    sink = CallbackSink()
    got: list[Any] = []
    removers: list[Any] = []
    _HookedMeta.hook = lambda: removers.append(sink.on(_Hooked, got.append))
    sink.emit(_Hooked())  # on() runs during this emit's lookup
    sink.emit(_Hooked())
    assert len(got) == 1
    sink.on(OrderUpdate, got.append)  # any registration: the next emit looks up again
    _HookedMeta.hook = removers[0]
    sink.emit(_Hooked())  # remove() runs during this lookup (this event still reaches it)
    sink.emit(_Hooked())
    sink.emit(_Hooked())
    assert len(got) == 2


# -- CompositeSink ---------------------------------------------------------------------------------


class Failing:
    def emit(self, event: Any) -> None:
        raise ValueError("bad sink")


class Collecting:
    """Any object with emit() is a sink."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed = False

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


def test_composite_isolates_sinks_and_closes_all() -> None:
    """One failing sink does not keep the event from the others; close() reaches every sink."""
    good = Collecting()
    other = Collecting()
    fan = CompositeSink(Failing(), good)
    fan.add(other)
    for n in range(3):
        fan.emit(order(n))
    assert len(good.events) == 3 and len(other.events) == 3
    assert fan.errors == 3 and fan.failures[0] == 3
    fan.close()
    assert good.closed and other.closed
    assert isinstance(good, Sink)


# -- LogSink -------------------------------------------------------------------------------------


def test_log_sink_masks_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """Events are logged as JSON with account ids masked."""
    sink = LogSink(level=logging.INFO)
    ev = AccountInfo(
        accounts=("DU1234567",),
        selected_account="DU1234567",
        session_id=None,
        server_name=None,
        server_version=None,
        is_paper=True,
        raw={},
    )
    with caplog.at_level(logging.INFO, logger="ibstream.events"):
        sink.emit(ev)
        sink.emit(
            Notification(notification_id="1", title="t", text="account DU7654321", url=None, raw={})
        )
        sink.emit(md(265598, last=1.25))
    assert "AccountInfo" in caplog.text and "MarketData" in caplog.text and "1.25" in caplog.text
    assert "DU1234567" not in caplog.text and "DU7654321" not in caplog.text
    assert "DU*****67" in caplog.text


def test_log_sink_masks_the_act_session_id(caplog: pytest.LogCaptureFixture) -> None:
    """The ``act`` frame's session id (``69f03732.00000af0``: not hex, so the hex rule missed
    it) is masked in the event's field and in its raw frame."""
    sid = "69f03732.00000af0"
    ev = AccountInfo(
        accounts=("DU1234567",),
        selected_account="DU1234567",
        session_id=sid,
        server_name="JifZ11074",
        server_version=None,
        is_paper=True,
        raw={"sessionId": sid, "selectedAccount": "DU1234567"},
    )
    with caplog.at_level(logging.INFO, logger="ibstream.events"):
        LogSink(level=logging.INFO).emit(ev)
        LogSink(level=logging.INFO, include_raw=True).emit(ev)
    assert caplog.text.count("AccountInfo") == 2 and "JifZ11074" in caplog.text
    assert sid not in caplog.text and "00000af0" not in caplog.text
    assert '"69f0…(17)"' in caplog.text  # masked, not dropped: enough to correlate


def test_log_sink_disabled_level_formats_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Below the logger's level nothing is produced."""
    sink = LogSink(logging.getLogger("ibstream.test.quiet"), logging.DEBUG)
    with caplog.at_level(logging.INFO, logger="ibstream.test.quiet"):
        sink.emit(order(1))
    assert caplog.text == ""


# -- QueueSink -----------------------------------------------------------------------------------


def test_queue_sink_per_type_readers_and_policies() -> None:
    """One bounded queue per key; market data conflates, orders overflow loudly."""
    sink = QueueSink(maxsize=2)
    for n in range(3):
        sink.emit(order(n))
    for price in (1.0, 2.0, 3.0):
        sink.emit(md(1, last=price))
    assert set(sink.keys()) == {OrderUpdate, MarketData}
    market = sink.reader(MarketData)
    assert [e.values[31] for e in (market.get(0), market.get(0))] == [1.0, 3.0]
    assert market.empty() and market.conflated == 1
    orders = sink.reader(OrderUpdate)
    assert [orders.get_nowait().order_id, orders.get_nowait().order_id] == [0, 1]
    with pytest.raises(SlowConsumerError):
        orders.get(0)


def test_queue_sink_repr_while_a_queue_is_added() -> None:
    """repr() of a QueueSink (logged, printed) while the dispatcher thread adds a queue for a
    new key: it used to raise ``dictionary changed size during iteration``. The key's name
    lookup stands in for the other thread, landing exactly inside the repr."""
    sink = QueueSink()
    armed = False

    class Key:
        @property
        def __name__(self) -> str:
            if armed:
                sink.emit(order(1))  # a queue for a new key (OrderUpdate)
            return "key"

    sink.reader(Key())
    armed = True
    text = repr(sink)
    assert "key" in text and len(sink.keys()) == 2


def test_queue_sink_by_stream_and_close_ends_iteration() -> None:
    """key_by_stream keys by StreamKey; close() ends each reader's iteration after draining."""
    sink = QueueSink(key=key_by_stream)
    sink.emit(md(1))
    sink.emit(md(2))
    sink.emit(session_changed())
    one = sink.reader(StreamKey(Topic.MARKET_DATA, "1"))
    sink.close()
    assert [e.conid for e in one] == [1]
    assert len(list(sink.reader(SessionStateChanged))) == 1
    assert sink.get_nowait(StreamKey(Topic.MARKET_DATA, "2")).conid == 2


# -- RecorderSink --------------------------------------------------------------------------------


def test_recorder_sink_writes_replayable_lines(tmp_path: Path) -> None:
    """RawFrames become JSON lines in the simulator's replay format; other events are ignored."""
    path = tmp_path / "rec.jsonl"
    sink = RecorderSink(path)
    sink.emit(RawFrame(direction="in", data='{"topic":"system"}', t=1.5))
    sink.emit(order(1))
    sink.emit(RawFrame(direction="out", data="tic", t=2.0))
    sink.close()
    sink.emit(RawFrame(direction="in", data="late", t=3.0))
    frames = list(read_recording(path))
    assert [(f.direction, f.text, f.t) for f in frames] == [
        ("in", '{"topic":"system"}', 1.5),
        ("out", "tic", 2.0),
    ]
    assert sink.frames == 2 and sink.closed


# -- Dispatcher (the client's hand-off) ------------------------------------------------------------


def test_dispatcher_slow_sink_never_blocks_put() -> None:
    """put() returns at once even while a sink is stuck; everything arrives once it resumes."""
    gate = threading.Event()
    got: list[Any] = []

    class Slow:
        def emit(self, event: Any) -> None:
            gate.wait(5)
            got.append(event)

    d = Dispatcher(1000)
    d.add(Slow())
    d.start()
    t0 = time.perf_counter()
    for n in range(500):
        d.put(order(n))
    assert time.perf_counter() - t0 < 0.5
    gate.set()
    d.stop()
    assert [e.order_id for e in got] == list(range(500))


def _overflowed(*sinks: Any) -> Dispatcher:
    """A started dispatcher (buffer 10) whose first sink blocks while 30 orders are put, so
    its hand-off overflows; then the sink is released. ``sinks`` are added after it."""
    gate = threading.Event()

    class Stuck:
        def emit(self, event: Any) -> None:
            gate.wait(5)

    d = Dispatcher(10)
    d.add(Stuck())
    for sink in sinks:
        d.add(sink)
    d.start()
    for n in range(30):
        d.put(order(n))
    gate.set()
    return d


def test_dispatcher_overflow_stops_delivery_loudly() -> None:
    """Never-drop events beyond the buffer: delivery stops with SlowConsumerError, no silent
    loss; market data from the same overflow would have conflated."""
    d = _overflowed()
    d.stop()
    assert isinstance(d.error, SlowConsumerError)
    assert d.metrics()["overflowed"] is True


def test_dispatcher_overflow_reaches_queue_readers_as_slow_consumer_error() -> None:
    """When an overflow ends delivery, a QueueSink's readers get what was delivered and then
    SlowConsumerError: their iteration used to end quietly, as if the client had stopped,
    while it ran on and the overflowing orders were lost to them."""
    queue = QueueSink()
    d = _overflowed(CompositeSink(queue))
    reader = queue.reader(OrderUpdate)
    got: list[int] = []
    with pytest.raises(SlowConsumerError):
        while True:
            got.append(reader.get(10).order_id)
    assert got == list(range(len(got))) and 0 < len(got) < 30
    d.stop()
    assert isinstance(d.error, SlowConsumerError)


def test_dispatcher_closes_a_sink_added_after_delivery_ended() -> None:
    """A sink added once delivery ended (an overflow; then ``on()`` or ``record()``) is closed
    too, with the error: it used to stay open for good (a recording never closed)."""
    d = _overflowed()
    thread = d.thread
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive() and isinstance(d.error, SlowConsumerError)
    late = Collecting()
    d.add(late)
    d.stop()
    assert late.closed


def test_dispatcher_routes_frames_to_frame_sinks() -> None:
    """RawFrames go to frame sinks only; events to event sinks only."""
    events, frames = Collecting(), Collecting()
    d = Dispatcher(100)
    d.add(events)
    d.add(frames, frames=True)
    d.start()
    d.put(order(1))
    d.put_frame("in", "x", 1.0, False)
    d.put(
        SubscriptionStateChanged(
            key=StreamKey(Topic.ORDERS, ""),
            previous=None,
            current=SubscriptionState.ACTIVE,
            reason="",
        )
    )
    d.stop()
    assert [type(e).__name__ for e in events.events] == ["OrderUpdate", "SubscriptionStateChanged"]
    assert [type(e).__name__ for e in frames.events] == ["RawFrame"]
    assert events.closed and frames.closed


def test_queue_sink_never_drops_trade_updates() -> None:
    """TradeUpdated (a commission arriving for a fill) is never dropped nor conflated: it
    overflows loudly like orders and trades (issue 20.1)."""
    key = StreamKey.of(Topic.TRADES, "")
    sink = QueueSink(maxsize=2)
    updates = []
    for n in range(3):
        trade = Trade(
            key=key,
            execution_id=f"E{n}",
            account=None,
            conid=1,
            symbol="X",
            side="B",
            size=1.0,
            price=1.0,
            commission=1.0,
            net_amount=None,
            trade_time_ms=None,
            order_id=None,
            exchange=None,
            raw={},
        )
        updates.append(
            TradeUpdated(
                key=key, execution_id=f"E{n}", trade=trade, changed={"commission": 1.0}, raw={}
            )
        )
        sink.emit(updates[-1])
    reader = sink.reader(TradeUpdated)
    assert [reader.get_nowait(), reader.get_nowait()] == updates[:2]
    with pytest.raises(SlowConsumerError):
        reader.get(0)
