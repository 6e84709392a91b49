"""``Router.dispatch`` of a batch equals dispatching its events one at a time (issue 19).

The router carries what it looked up for a market-data event (ticker, feeds) over to the next
event of the same stream within a batch; user code that runs in the middle of a batch (a
callback, a failure report) may change consumers and tickers, and the batch must then behave
exactly as if every event had been dispatched on its own. Pure: no driver, no socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ibstream.aio.router import Router
from ibstream.aio.subscription import Subscription
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData, OrderUpdate
from ibstream.protocol.lifecycle import ApplyFailed
from ibstream.protocol.specs import MarketDataSpec, StreamKey, Topic
from ibstream.state.ticker import Ticker
from routerkit import Hooks, authenticated

NOW = 1_777_000_000.0
CONIDS = (1, 2)


def _router() -> Router:
    return Router(authenticated(NOW), Hooks(), clock=lambda: NOW, buffer_size=3)


def _event(item: tuple[str, int, int]) -> Any:
    kind, conid, n = item
    if kind == "order":
        frame = {"topic": "sor", "args": [{"acct": "DU1", "orderId": n, "status": "Submitted"}]}
        return decode(orjson.dumps(frame))[0]
    key = StreamKey.of(Topic.MARKET_DATA, str(conid))
    return MarketData(
        key=key,
        conid=conid,
        server_id=kind,  # "poison": the ticker fails to merge it (the event is still delivered)
        updated_ms=n,
        values={31: float(n), 84: float(n % 3)},
        raw={"31": str(n)},
    )


def _merge_failing_on_poison(ticker: Ticker, event: MarketData) -> None:
    if event.server_id == "poison":
        raise ValueError("cannot merge")
    _MERGE(ticker, event)


_MERGE = Ticker.merge


# what a callback does on a market-data event whose n is a multiple of 3 (to its own stream:
# the one whose lookups the router carries over to the next event)
ACTIONS = st.sampled_from(
    ["none", "subscribe", "release", "forget_ticker", "events_stream", "md_callback"]
)


def _run(
    items: list[tuple[str, int, int]],
    actions: list[str],
    handles: list[int],
    md_callback: bool,
    at_once: bool,
) -> str:
    async def scenario() -> str:
        router = _router()
        held: list[Subscription[Any]] = [router.subscribe(MarketDataSpec(c)) for c in handles]
        streams = [router.events(maxsize=4)]
        called: list[Any] = []  # what market-data callbacks added mid-batch were given
        todo = list(actions)

        def act(conid: int) -> None:
            """User code in the middle of a batch: the next action, on ``conid``'s stream."""
            action = todo.pop(0) if todo else "none"
            if action == "subscribe":
                held.append(router.subscribe(MarketDataSpec(conid)))
            elif action == "release" and held:
                held.pop().close()
            elif action == "forget_ticker":
                router.tickers.remove(conid)
            elif action == "events_stream":
                streams.append(router.events(maxsize=4))
            elif action == "md_callback":
                router.on(MarketData, called.append)

        def on_md(ev: MarketData) -> None:
            if ev.updated_ms is not None and ev.updated_ms % 3 == 0:
                act(ev.conid)

        # without a market-data callback the router carries lookups from event to event;
        # user code then runs only for other events (an order, a failure report)
        if md_callback:
            router.on(MarketData, on_md)
        router.on(ApplyFailed, lambda ev: act(int(ev.key.ident)))
        router.on(OrderUpdate, lambda ev: act(CONIDS[ev.order_id % len(CONIDS)]))
        events = [_event(i) for i in items]
        if at_once:
            router.dispatch(events)
        else:
            for ev in events:
                router.dispatch([ev])
        seen = {
            "handles": [(h.key, h.conflated, _drain(h)) for h in held],
            "streams": [(s.conflated, _drain(s)) for s in streams],
            "called": called,
            "tickers": {
                c: (t.update_count, t.updated_ms, dict(t.values)) for c, t in router.tickers.items()
            },
            "metrics": {k: v for k, v in router.metrics().items() if k != "lag_seconds"},
        }
        return repr(seen)

    Ticker.merge = _merge_failing_on_poison  # type: ignore[method-assign]
    try:
        return asyncio.run(scenario())
    finally:
        Ticker.merge = _MERGE  # type: ignore[method-assign]


def _drain(handle: Any) -> list[Any]:
    out = []
    try:
        while (ev := handle.get_nowait()) is not None:
            out.append(ev)
    except Exception as exc:  # an overflowed buffer ends with its error: part of the outcome
        out.append(type(exc).__name__)
    return out


ITEMS = st.tuples(
    st.sampled_from(["md", "md", "md", "md", "poison", "order"]),
    st.sampled_from(CONIDS),
    st.integers(min_value=0, max_value=30),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(
    items=[("md", 1, 0), ("md", 1, 1)], actions=["forget_ticker"], handles=[1], md_callback=True
)
@example(items=[("md", 1, 0), ("md", 1, 1)], actions=["subscribe"], handles=[], md_callback=True)
@example(
    items=[("md", 1, 0), ("poison", 1, 1), ("md", 1, 2)],
    actions=["forget_ticker"],
    handles=[1],
    md_callback=False,
)
@example(
    items=[("poison", 1, 1), ("md", 1, 2)], actions=["md_callback"], handles=[], md_callback=False
)
@example(
    items=[("md", 1, 0), ("order", 1, 2), ("md", 1, 3)],
    actions=["subscribe"],
    handles=[],
    md_callback=False,
)
@given(
    items=st.lists(ITEMS, max_size=25),
    actions=st.lists(ACTIONS, max_size=4),
    handles=st.lists(st.sampled_from(CONIDS), max_size=4),
    md_callback=st.booleans(),
)
def test_a_batch_is_dispatched_as_its_events_one_by_one(
    items: list[tuple[str, int, int]], actions: list[str], handles: list[int], md_callback: bool
) -> None:
    batch = _run(items, actions, handles, md_callback, at_once=True)
    assert batch == _run(items, actions, handles, md_callback, at_once=False)


def test_a_run_of_one_stream_reaches_every_consumer_in_order() -> None:
    items = [("md", 1, n) for n in (1, 2, 3)] + [("md", 2, 4), ("md", 1, 6)]
    outcome = _run(items, [], [1, 1, 2], md_callback=False, at_once=True)
    assert outcome == _run(items, [], [1, 1, 2], md_callback=False, at_once=False)
    assert outcome.count("updated_ms=6") == 3  # two handles of conid 1 and the events stream
