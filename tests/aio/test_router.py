"""The router alone: a sans-I/O core, no driver, no socket; the test plays the driver."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ibstream.aio.router import Router
from ibstream.exceptions import ClientClosed, SubscriptionConflict
from ibstream.protocol.connection import StreamProtocol
from ibstream.protocol.events import MarketData, OrderUpdate
from ibstream.protocol.lifecycle import ApplyFailed
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, StreamKey
from ibstream.state.ticker import Ticker
from routerkit import Hooks, authenticated

NOW = 1_777_000_000.0


def feed(proto: StreamProtocol, router: Router, frame: dict[str, Any]) -> None:
    proto.receive_frame(orjson.dumps(frame), NOW)
    router.dispatch(proto.events_received())


@pytest.fixture
def proto() -> StreamProtocol:
    return authenticated(NOW)


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def router(proto: StreamProtocol, hooks: Hooks) -> Router:
    return Router(proto, hooks, clock=lambda: NOW, buffer_size=100)


async def test_reference_count_unsubscribes_with_the_last_handle(
    proto: StreamProtocol, router: Router
) -> None:
    a = router.subscribe(MarketDataSpec(1))
    b = router.subscribe(MarketDataSpec(1))
    assert router.holders(a.key) == 2
    assert [m for m in proto.data_to_send() if m.startswith("smd+")] == [
        'smd+1+{"fields":["31","55","70","71","82","83","84","85","86","87","88","7059","6509",'
        '"7295","7296"]}'
    ]
    a.close()
    assert router.holders(a.key) == 1 and proto.data_to_send() == []
    b.close()
    assert router.holders(a.key) == 0
    assert proto.data_to_send() == ["umd+1+{}"]


async def test_sharing_rule_merges_market_data_fields(
    proto: StreamProtocol, router: Router
) -> None:
    router.subscribe(MarketDataSpec(1, fields=("31",)))
    proto.data_to_send()
    wider = router.subscribe(MarketDataSpec(1, fields=("84",)))
    assert isinstance(wider.spec, MarketDataSpec) and wider.spec.fields == ("31", "84")
    assert proto.subscriptions[wider.key][0] == wider.spec
    narrower = router.subscribe(MarketDataSpec(1, fields=("84",)))
    assert narrower.spec is wider.spec  # already served: nothing re-sent
    assert proto.data_to_send() == ['smd+1+{"fields":["31","84"]}']


async def test_conflict_needs_replace(router: Router) -> None:
    router.subscribe(OrdersSpec())
    with pytest.raises(SubscriptionConflict):
        router.subscribe(OrdersSpec(filters=("Filled",)))
    replaced = router.subscribe(OrdersSpec(filters=("Filled",)), replace=True)
    assert replaced.spec == OrdersSpec(filters=("Filled",))


async def test_events_go_to_feeds_buffers_and_streams_once(
    proto: StreamProtocol, router: Router
) -> None:
    class Sink:
        def __init__(self) -> None:
            self.got: list[Any] = []

        def put(self, event: Any, /) -> None:
            self.got.append(event)

    sink = Sink()
    held = router.subscribe(MarketDataSpec(1), feed=sink)
    reader = router.subscribe(MarketDataSpec(1))
    everything = router.events()
    feed(proto, router, {"topic": "smd+1", "conid": 1, "31": "10.5", "_updated": 1})
    md = [e for e in sink.got if isinstance(e, MarketData)]
    assert len(md) == 1 and md[0].values[31] == 10.5
    assert held.buffer.closed and len(held.buffer) == 0  # a feed handle buffers nothing
    assert sum(isinstance(e, MarketData) for e in iter(reader.get_nowait, None)) == 1
    assert sum(isinstance(e, MarketData) for e in iter(everything.get_nowait, None)) == 1
    assert router.tickers[1].last == 10.5
    held.close()
    feed(proto, router, {"topic": "smd+1", "conid": 1, "31": "11.0", "_updated": 2})
    assert len([e for e in sink.got if isinstance(e, MarketData)]) == 1


async def test_failed_apply_is_reported_and_neighbours_applied(
    proto: StreamProtocol, router: Router
) -> None:
    handle = router.subscribe(OrdersSpec())
    real = router.orders.apply

    def apply(event: OrderUpdate) -> Any:
        if event.order_id == 2:
            raise KeyError("boom")
        return real(event)

    router.orders.apply = apply  # type: ignore[method-assign]
    args = [{"acct": "DU1", "orderId": i, "status": "Submitted"} for i in (1, 2, 3)]
    feed(proto, router, {"topic": "sor", "args": args})
    got = list(iter(handle.get_nowait, None))
    assert [e.order_id for e in got if isinstance(e, OrderUpdate)] == [1, 2, 3]
    failed = [e for e in got if isinstance(e, ApplyFailed)]
    assert len(failed) == 1 and failed[0].key == handle.key and "KeyError" in failed[0].error
    assert sorted(router.orders) == [1, 3]
    assert router.metrics()["apply_errors"] == 1


async def test_consumers_refused_when_not_running(router: Router, hooks: Hooks) -> None:
    hooks.running = False
    with pytest.raises(ClientClosed):
        router.subscribe(OrdersSpec())
    with pytest.raises(ClientClosed):
        router.events()


async def test_market_data_callbacks_only_when_registered(
    proto: StreamProtocol, router: Router
) -> None:
    seen: list[Any] = []
    remove = router.on(MarketData, seen.append)
    router.subscribe(MarketDataSpec(1))
    feed(proto, router, {"topic": "smd+1", "conid": 1, "31": "1", "_updated": 1})
    assert len(seen) == 1
    remove()
    feed(proto, router, {"topic": "smd+1", "conid": 1, "31": "2", "_updated": 2})
    assert len(seen) == 1


def _md_event(key: StreamKey, conid: int, price: float) -> MarketData:
    return MarketData(
        key=key, conid=conid, server_id="q1", updated_ms=1, values={31: price}, raw={"31": "x"}
    )


async def test_market_data_reaches_handles_by_an_equal_key_object(router: Router) -> None:
    """Delivery finds the stream by the interned key object, and by any equal key object too."""
    handle = router.subscribe(MarketDataSpec(5))
    interned = handle.key
    other = StreamKey(interned.topic, interned.ident)  # equal, not the same object
    assert other == interned and other is not interned
    router.dispatch([_md_event(interned, 5, 1.0), _md_event(other, 5, 2.0)])
    got = [handle.get_nowait(), handle.get_nowait()]
    assert [ev.values[31] for ev in got if isinstance(ev, MarketData)] == [1.0, 2.0]


@pytest.mark.parametrize("stamp", ["1777000000000", 1.5e12, True, float("nan")])
async def test_a_stamp_that_is_no_integer_costs_no_event(router: Router, stamp: Any) -> None:
    """Events built elsewhere (a replay, user code) may carry any stamp: the lag sample (every
    64th market-data event) skips it, every event is delivered."""
    handle = router.subscribe(MarketDataSpec(5))
    events = [_md_event(handle.key, 5, float(i))._replace(updated_ms=stamp) for i in range(90)]
    router.dispatch(events)
    got = [handle.get_nowait() for _ in range(90)]
    assert [ev.values[31] for ev in got if isinstance(ev, MarketData)] == [
        float(i) for i in range(90)
    ]
    assert router.lag_max_ms == 0.0


async def test_a_callback_that_subscribes_mid_batch_gets_the_rest_of_the_batch(
    router: Router,
) -> None:
    """Consumers added by a callback during a dispatch see the batch's later events; consumers
    that left see none."""
    first = router.subscribe(MarketDataSpec(6))
    key = first.key
    late: list[Any] = []

    def on_md(ev: MarketData) -> None:
        if not late:
            late.append(router.subscribe(MarketDataSpec(7)))
            first.close()

    router.on(MarketData, on_md)
    seven = StreamKey.of(key.topic, "7")
    router.dispatch([_md_event(key, 6, 1.0), _md_event(seven, 7, 2.0), _md_event(key, 6, 3.0)])
    (handle,) = late
    events = [handle.get_nowait(), handle.get_nowait()]
    assert [ev.values[31] for ev in events if isinstance(ev, MarketData)] == [2.0]
    assert len(first.buffer) == 1  # the first event only: it left before the third


async def test_consumers_the_failure_report_adds_get_the_failed_event(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A market-data event the ticker cannot merge is reported (``ApplyFailed``), then
    delivered to the consumers and callbacks as the report left them (as a control event is):
    a handle and an events stream that the report's callback opens, and a market-data callback
    it registers, get it and the batch's next event."""
    key = MarketDataSpec(5).key
    opened: list[Any] = []
    later: list[Any] = []

    def on_failed(ev: ApplyFailed) -> None:
        opened.extend((router.subscribe(MarketDataSpec(5)), router.events()))
        router.on(MarketData, later.append)

    router.on(ApplyFailed, on_failed)
    real = Ticker.merge

    def merge(ticker: Ticker, event: MarketData) -> None:
        if event.values[31] == 1.0:
            raise ValueError("cannot merge")
        real(ticker, event)

    monkeypatch.setattr(Ticker, "merge", merge)
    router.dispatch([_md_event(key, 5, 1.0), _md_event(key, 5, 2.0)])
    handle, stream = opened
    for consumer in (handle, stream):
        got = [consumer.get_nowait(), consumer.get_nowait()]
        assert [ev.values[31] for ev in got if isinstance(ev, MarketData)] == [1.0, 2.0]
    assert [ev.values[31] for ev in later] == [1.0, 2.0]
