"""``StreamProtocol.receive_frames``: a batch of frames in one call (issue 19), pure core tests.

A batch must be exactly the frames fed one by one at the same time: the same events in the same
order, the same writes, actions, book, counters and deadlines; and one frame's failure (a core
bug) must cost neither the other frames of the batch nor their order.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibstream.protocol import connection
from ibstream.protocol.connection import ProtocolConfig, StreamProtocol
from ibstream.protocol.events import Heartbeat, Malformed, MarketData
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, TradesSpec

SID = "e5af95a05fe55041a403680abb434efa"
SYSTEM = '{"topic":"system","success":"u1"}'
STS_OK = '{"topic":"sts","args":{"connected":true,"authenticated":true,"competing":false}}'
STS_LOST = '{"topic":"sts","args":{"authenticated":false}}'
STS_COMPETING = '{"topic":"sts","args":{"competing":true}}'
WAITING = '{"message":"waiting for session"}'
HB = '{"topic":"system","hb":1777415611502}'
MD = MarketDataSpec(265598, fields=("31", "84", "86"))
OTHER = MarketDataSpec(8314, fields=("31",))


def _frame(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def _smd(conid: int, **fields: Any) -> str:
    return _frame(
        {"topic": f"smd+{conid}", "conid": conid, "server_id": "q1", "_updated": 1, **fields}
    )


def _trade(exec_id: str, side: str = "B") -> str:
    entry = {"execution_id": exec_id, "symbol": "AAPL", "side": side, "size": "1", "conid": 1}
    return _frame({"topic": "str", "args": [entry]})


# Frames of every kind the core treats differently: market data (opening, its duplicate,
# deltas, a stream nobody asked for, an error), lifecycle (sts edges, waiting for session),
# trades and their re-sends, orders, heartbeats and input that is not JSON.
FRAMES = [
    _smd(265598, **{"31": "271.67", "84": "271.5"}),
    _frame(
        dict(reversed(list(orjson.loads(_smd(265598, **{"31": "271.67", "84": "271.5"})).items())))
    ),
    _smd(265598, **{"84": "271.6"}),
    _smd(265598, **{"31": "C271.70", "86": ""}),
    _smd(8314, **{"31": "12.5"}),
    _smd(4815747, **{"31": "1.0"}),
    _frame({"topic": "smd+265598", "error": "no market data permissions"}),
    STS_LOST,
    STS_OK,
    STS_COMPETING,
    WAITING,
    HB,
    _trade("e1"),
    _trade("e1"),
    _trade("e1", side="S"),
    _trade("e2"),
    _frame({"topic": "sor", "args": [{"acct": "DU1", "orderId": 4, "status": "Submitted"}]}),
    "{not json",
    "",
    '{"topic":"smd+265598","conid":265598,"server_id":"q1","31":[1]}',
]


def ready() -> StreamProtocol:
    p = StreamProtocol(ProtocolConfig(md_stall_after=5.0))
    p.connecting(0.0)
    p.connection_made(0.0, SID)
    p.receive_frame(SYSTEM, 0.0)
    p.receive_frame(STS_OK, 0.0)
    for spec in (MD, OTHER, TradesSpec(), OrdersSpec()):
        p.subscribe(spec, 0.0)
    return p


def outputs(p: StreamProtocol) -> str:
    """Everything observable, drained, as text (exceptions inside events compare by identity,
    their reprs by value)."""
    return repr(
        (
            p.events_received(),
            p.data_to_send(),
            p.actions_requested(),
            dict(p.subscriptions),
            p.suppressed,
            p.state,
            p.next_deadline(),
            p.session.last_frame_at,
        )
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        st.tuples(
            st.lists(st.sampled_from(range(len(FRAMES))), max_size=12),
            st.floats(min_value=0.0, max_value=40.0),  # seconds since the previous batch
            st.booleans(),  # tick after the batch
        ),
        max_size=8,
    )
)
def test_a_batch_equals_its_frames_one_by_one(batches: list[tuple[list[int], float, bool]]) -> None:
    one, many = ready(), ready()
    assert outputs(one) == outputs(many)
    now = 0.0
    for picks, elapsed, tick in batches:
        now += elapsed
        frames = [FRAMES[i] for i in picks]
        for data in frames:
            one.receive_frame(data, now)
        assert many.receive_frames(frames, now) == []
        if tick:
            one.tick(now)
            many.tick(now)
        assert outputs(one) == outputs(many)


def test_a_failing_frame_costs_neither_the_others_nor_their_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = ready()
    p.events_received()
    real = connection.decode
    bug = RuntimeError("core bug")

    def decode(data: str | bytes) -> Any:
        if data == "boom":
            raise bug
        return real(data)

    monkeypatch.setattr(connection, "decode", decode)
    frames = [
        _smd(265598, **{"31": "1.5"}),
        "boom",
        HB,
        "boom",
        _smd(265598, **{"31": "1.6"}),
    ]
    assert p.receive_frames(frames, 3.0) == [(1, bug), (3, bug)]
    got = [e for e in p.events_received() if type(e) in (MarketData, Heartbeat)]
    assert len(got) == 3
    assert [type(e) for e in got] == [MarketData, Heartbeat, MarketData]
    assert [e.values[31] for e in got if type(e) is MarketData] == [1.5, 1.6]
    assert p.session.last_frame_at == 3.0
    with pytest.raises(RuntimeError, match="core bug"):  # one frame: the failure propagates
        p.receive_frame("boom", 4.0)


def test_an_empty_batch_is_no_frame() -> None:
    p = ready()
    outputs(p)  # drain what subscribing queued
    before = outputs(p)
    assert p.receive_frames([], 99.0) == []
    assert outputs(p) == before
    assert p.session.last_frame_at == 0.0  # liveness did not move: nothing arrived


def test_bad_input_in_a_batch_gives_malformed_in_place() -> None:
    p = ready()
    p.events_received()
    assert p.receive_frames([HB, "{not json", HB], 1.0) == []
    assert [type(e) for e in p.events_received()] == [Heartbeat, Malformed, Heartbeat]


def test_a_settled_stream_is_shown_to_the_book_again_once_the_book_moved() -> None:
    """Data of an ACTIVE, flowing stream changes nothing in the book, so a batch does not show
    it the stream's later frames; once something else drives the book (here authentication is
    lost and back: the stream is re-sent), its next frame must confirm it again (with a Gap)."""
    frames = [_smd(265598, **{"31": str(n)}) for n in (1, 2, 3)]
    frames += [STS_LOST, STS_OK, _smd(265598, **{"31": "4"})]
    one, many = ready(), ready()
    outputs(one), outputs(many)
    for data in frames:
        one.receive_frame(data, 1.0)
    assert many.receive_frames(frames, 1.0) == []
    events = many.events_received()
    tail = [type(e).__name__ for e in events[-3:]]
    assert tail == ["SubscriptionStateChanged", "Gap", "MarketData"]
    assert repr(events) == repr(one.events_received())
    assert outputs(one) == outputs(many)


def test_the_book_calls_a_stream_settled_only_when_its_data_changes_nothing() -> None:
    p = ready()
    book = p.book
    opening = p.receive_frames([_smd(265598, **{"31": "1", "84": "2"})], 1.0)
    assert opening == []  # the stream is ACTIVE now, the opening snapshot still to compare
    event = next(e for e in p.events_received() if type(e) is MarketData)
    assert book.on_data(event, event.key, 1.0) is True  # its duplicate: dropped
    assert book.on_data(event, event.key, 1.0) is None  # flowing: settled
    unknown = event._replace(key=MarketDataSpec(4815747).key, conid=4815747)
    assert book.on_data(unknown, unknown.key, 1.0) is False  # no stream: deliver, not settled
