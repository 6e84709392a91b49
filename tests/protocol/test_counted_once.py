"""Events count things once (issue 20.1): one opening snapshot per market-data stream, one
``Trade`` per execution (re-sends become ``TradeUpdated``). Pure tests of the sans-I/O core."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.connection import ProtocolConfig, StreamProtocol
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData, Trade, TradeUpdated
from ibstream.protocol.executions import ExecutionMemory
from ibstream.protocol.once import CountOnce
from ibstream.protocol.specs import MarketDataSpec, StreamKey, Topic, TradesSpec

SID = "e5af95a05fe55041a403680abb434efa"
SYSTEM = '{"topic":"system","success":"u1"}'
STS_OK = '{"topic":"sts","args":{"connected":true,"authenticated":true,"competing":false}}'
MD = MarketDataSpec(265598, fields=("31", "84", "86"))
OPEN = {"topic": "smd+265598", "conid": 265598, "server_id": "q1", "31": "271.67", "84": "271.5"}
REVERSED = dict(reversed(list(OPEN.items())))
DELTA = {"topic": "smd+265598", "conid": 265598, "server_id": "q1", "84": "271.6"}
TRADES_KEY = StreamKey.of(Topic.TRADES, "")


def ready(**config: Any) -> StreamProtocol:
    p = StreamProtocol(ProtocolConfig(**config))
    p.connecting(0.0)
    p.connection_made(0.0, SID)
    p.receive_frame(SYSTEM, 0.0)
    p.receive_frame(STS_OK, 0.0)
    p.events_received()
    p.data_to_send()
    return p


def frame(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def md(events: list[Any]) -> list[MarketData]:
    return [e for e in events if type(e) is MarketData]


def test_opening_snapshot_delivered_once_and_counted() -> None:
    p = ready()
    p.subscribe(MD, 0.0)
    for f in (OPEN, REVERSED, DELTA):
        p.receive_frame(frame(f), 1.0)
    got = md(p.events_received())
    assert [e.values.get(84) for e in got] == [271.5, 271.6]
    assert p.suppressed["opening_snapshots"] == 1


def test_only_the_frame_after_the_opening_is_compared() -> None:
    """An identical frame later in the stream is data, not the opening's duplicate."""
    p = ready()
    p.subscribe(MD, 0.0)
    for f in (OPEN, DELTA, DELTA, OPEN):
        p.receive_frame(frame(f), 1.0)
    assert len(md(p.events_received())) == 4
    assert p.suppressed["opening_snapshots"] == 0


def test_a_different_second_frame_is_delivered() -> None:
    """A gateway that does not duplicate the opening loses nothing."""
    p = ready()
    p.subscribe(MD, 0.0)
    p.receive_frame(frame(OPEN), 1.0)
    p.receive_frame(frame(DELTA), 1.1)
    assert len(md(p.events_received())) == 2


def test_renewal_and_resubscription_open_again() -> None:
    """Each (re)sent subscribe opens the stream with a duplicated snapshot: each is dropped."""
    p = ready(md_renew_after=10.0)
    p.subscribe(MD, 0.0)
    p.receive_frame(frame(OPEN), 1.0)
    p.receive_frame(frame(REVERSED), 1.0)
    p.tick(11.5)  # renewal re-sends the subscribe
    assert p.data_to_send()
    p.receive_frame(frame({**OPEN, "84": "272.0"}), 11.6)
    p.receive_frame(frame({**REVERSED, "84": "272.0"}), 11.6)
    p.receive_frame(frame(DELTA), 12.0)
    assert [e.values.get(84) for e in md(p.events_received())] == [271.5, 272.0, 271.6]
    assert p.suppressed["opening_snapshots"] == 2
    p.connection_lost(13.0)  # reconnect: subscribed again, opening again
    p.connecting(14.0)
    p.connection_made(14.0, SID)
    p.receive_frame(SYSTEM, 14.0)
    p.receive_frame(STS_OK, 14.0)
    p.receive_frame(frame(OPEN), 15.0)
    p.receive_frame(frame(REVERSED), 15.0)
    assert len(md(p.events_received())) == 1
    assert p.suppressed["opening_snapshots"] == 3


def execution(exec_id: str, **extra: Any) -> dict[str, Any]:
    base = {"execution_id": exec_id, "symbol": "AAPL", "side": "B", "size": "10", "price": "1"}
    return {**base, **extra}


def str_frame(*entries: dict[str, Any]) -> str:
    return frame({"topic": "str", "args": list(entries)})


def test_one_trade_per_execution_then_trade_updated() -> None:
    p = ready()
    p.subscribe(TradesSpec(), 0.0)
    p.receive_frame(str_frame(execution("E1")), 1.0)
    p.receive_frame(str_frame(execution("E1", commission="1.05")), 1.1)
    p.receive_frame(str_frame(execution("E1", commission="1.05")), 1.2)  # adds nothing
    p.receive_frame(str_frame(execution("E2"), execution("E2", commission="0.5")), 1.3)
    events = [e for e in p.events_received() if type(e) in (Trade, TradeUpdated)]
    assert [(type(e).__name__, e.execution_id) for e in events] == [
        ("Trade", "E1"),
        ("TradeUpdated", "E1"),
        ("Trade", "E2"),
        ("TradeUpdated", "E2"),
    ]
    update = events[1]
    assert isinstance(update, TradeUpdated)
    assert update.changed == {"commission": 1.05}
    assert update.trade.commission == 1.05 and update.trade.size == 10.0
    assert update.key == TRADES_KEY
    assert p.suppressed == {"opening_snapshots": 0, "trade_resends": 1, "trade_updates": 2}


def test_replay_after_reconnect_does_not_repeat_trades() -> None:
    p = ready()
    p.subscribe(TradesSpec(), 0.0)
    p.receive_frame(str_frame(execution("E1"), execution("E1", commission="1")), 1.0)
    p.events_received()
    p.receive_frame(str_frame(execution("E1"), execution("E1", commission="1")), 5.0)
    assert not [e for e in p.events_received() if type(e) in (Trade, TradeUpdated)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
        ),
        max_size=30,
    )
)
def test_memory_one_trade_per_id_and_updates_track_the_merge(
    copies: list[tuple[str, float | None]],
) -> None:
    memory = ExecutionMemory()
    trades: dict[str, Trade] = {}
    for exec_id, commission in copies:
        t = Trade(
            key=TRADES_KEY,
            execution_id=exec_id,
            account=None,
            conid=1,
            symbol="X",
            side="B",
            size=1.0,
            price=1.0,
            commission=commission,
            net_amount=None,
            trade_time_ms=None,
            order_id=None,
            exchange=None,
            raw={},
        )
        out = memory.observe(t)
        if exec_id not in trades:
            assert out is t
            trades[exec_id] = t
        elif commission is None or commission == trades[exec_id].commission:
            assert out is None
        else:
            assert isinstance(out, TradeUpdated)
            assert out.changed == {"commission": commission}
            trades[exec_id] = out.trade
    assert len(memory) == len(trades)


def test_memory_is_bounded() -> None:
    memory = ExecutionMemory(max_size=2)
    for n in range(5):
        t = Trade(
            key=TRADES_KEY,
            execution_id=f"E{n}",
            account=None,
            conid=None,
            symbol=None,
            side=None,
            size=None,
            price=None,
            commission=None,
            net_amount=None,
            trade_time_ms=None,
            order_id=None,
            exchange=None,
            raw={},
        )
        memory.observe(t)
    assert len(memory) == 2
    with pytest.raises(InvalidArgument):
        ExecutionMemory(max_size=0)


# --- the same rules offline (recordings) ------------------------------------------------------


def test_count_once_offline_follows_the_subscribe_frames() -> None:
    once = CountOnce()
    got: list[Any] = []
    once.sent('smd+265598+{"fields":["31"]}')
    for f in (OPEN, REVERSED, DELTA, DELTA):
        got += once.received(decode(frame(f)))
    once.sent('smd+265598+{"fields":["31"]}')  # a renewal: a new opening, duplicated again
    for f in (OPEN, REVERSED):
        got += once.received(decode(frame(f)))
    got += once.received(decode(str_frame(execution("E1"), execution("E1", commission="2"))))
    got += once.received(decode(str_frame(execution("E1", commission="2"))))
    assert [type(e).__name__ for e in got] == [
        "MarketData",
        "MarketData",
        "MarketData",
        "MarketData",
        "Trade",
        "TradeUpdated",
    ]
    assert once.suppressed == {"opening_snapshots": 2, "trade_resends": 1, "trade_updates": 1}


@given(
    st.lists(
        st.dictionaries(st.sampled_from(["31", "84", "86"]), st.sampled_from(["1.5", "2.25"])),
        min_size=1,
        max_size=12,
    )
)
def test_only_an_exact_repeat_of_the_opening_is_dropped(bodies: list[dict[str, str]]) -> None:
    """Nothing is lost: the one frame that may be dropped is the second, and only when it
    carries exactly the opening's values; every other frame is delivered, in order."""
    p = ready()
    p.subscribe(MD, 0.0)
    for body in bodies:
        p.receive_frame(frame({"topic": "smd+265598", "conid": 265598, **body}), 1.0)
    got = [dict(e.raw) for e in md(p.events_received())]
    sent = [{"topic": "smd+265598", "conid": 265598, **b} for b in bodies]
    duplicate = len(bodies) > 1 and bodies[1] == bodies[0]
    assert got == (sent[:1] + sent[2:] if duplicate else sent)
    assert p.suppressed["opening_snapshots"] == int(duplicate)
