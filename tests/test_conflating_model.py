"""The conflating queue against a plain model of its policy (hypothesis).

The queue keeps its conflation index only while it is full (built from the queued entries when
it fills, dropped when it drains); the model has no index at all: a full queue merges a market
data event into the *last* queued entry of the same instrument. Any sequence of puts, control
entries and reads must give the same events, in the same order, with the same counters.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ibstream.conflating import CONTROL, ConflatingQueue, merge_market_data
from ibstream.exceptions import ClientClosed, SlowConsumerError
from ibstream.protocol.events import Heartbeat, LadderRow, MarketData, PriceLadder
from ibstream.protocol.specs import StreamKey, Topic


def _md(conid: int, field: int, value: float) -> MarketData:
    return MarketData(
        key=StreamKey(Topic.MARKET_DATA, str(conid)),
        conid=conid,
        server_id="q1",
        updated_ms=1,
        values={field: value},
        raw={str(field): str(value)},
    )


def _ladder(conid: int, price: float) -> PriceLadder:
    row = LadderRow(row=0, focus=True, price=price, bid_size=1.0, ask_size=None)
    key = StreamKey(Topic.PRICE_LADDER, "DU1")
    return PriceLadder(key=key, account="DU1", conid=conid, exchange=None, rows=(row,), raw={})


def _key(event: Any) -> Any:
    if isinstance(event, MarketData):
        return event.conid
    if isinstance(event, PriceLadder):
        return (event.account, event.conid)
    return None


class Model:
    """The policy written the plain way: a list, searched backwards when full."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.entries: list[list[Any]] = []
        self.conflated = 0
        self.overflowed = False

    def put(self, event: Any) -> None:
        if self.overflowed:
            return
        key = _key(event)
        if len(self.entries) >= self.maxsize:
            if key is None:
                self.overflowed = True
                return
            for entry in reversed(self.entries):
                if _key(entry[0]) == key:
                    if isinstance(event, MarketData):
                        entry[0] = merge_market_data(entry[0], event)
                    else:
                        entry[0] = event
                    self.conflated += 1
                    return
        self.entries.append([event, None])

    def put_control(self, payload: Any) -> None:
        if not self.overflowed:
            self.entries.append([CONTROL, payload])

    def get(self) -> Any:
        while self.entries:
            event = self.entries.pop(0)[0]
            if event is not CONTROL:
                return event
        return None


events = st.one_of(
    st.builds(_md, st.integers(1, 4), st.sampled_from([31, 84, 86]), st.integers(0, 9)),
    st.builds(_ladder, st.integers(1, 3), st.integers(0, 9)),
    st.just(Heartbeat(hb_ms=1)),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("put"), events),
        st.tuples(st.just("control"), st.integers()),
        st.tuples(st.just("get"), st.integers(1, 4)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), steps)
def test_queue_follows_the_model(maxsize: int, program: list[tuple[str, Any]]) -> None:
    queue = ConflatingQueue(maxsize)
    model = Model(maxsize)
    for op, arg in program:
        if op == "put":
            if isinstance(arg, Heartbeat) and model.overflowed:
                continue
            queue.put(arg)
            model.put(arg)
        elif op == "control":
            queue.put_control(arg)
            model.put_control(arg)
        else:
            for _ in range(arg):
                expected = model.get()
                try:
                    got = queue.get_nowait()
                except (SlowConsumerError, ClientClosed):
                    got = None
                assert got == expected
        assert queue.conflated == model.conflated
        assert queue.overflowed == model.overflowed
        assert len(queue) == len(model.entries)
