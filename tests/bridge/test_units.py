"""Pure parts of the bridge and the remote client: codec, wire format, demand, lease, state."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream import (
    AccountSummary,
    Bar,
    Gap,
    LadderRow,
    MarketData,
    MarketDataSpec,
    MarketHistory,
    OrderUpdate,
    Pnl,
    PriceLadder,
    SessionState,
    SessionStateChanged,
    StreamKey,
    SubscriptionState,
    SubscriptionStateChanged,
    SubscriptionTimeout,
    SummaryValue,
    Topic,
    Trade,
    TradesSpec,
)
from ibstream.bridge.core import DemandTable, LeaderLease, StateMirror, merge_event
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import Malformed, Unknown
from ibstream.protocol.fields import parse_availability
from ibstream.remote.codec import event_from_json
from ibstream.remote.wire import (
    FenceGuard,
    Layout,
    StateEntry,
    format_position,
    message_id,
    parse_position,
    spec_from_json,
    spec_to_json,
)
from ibstream.serialize import event_to_json

MD = StreamKey.of(Topic.MARKET_DATA, "265598")
OR = StreamKey.of(Topic.ORDERS, "")
TR = StreamKey.of(Topic.TRADES, "")


def _md(values: dict[int, object], updated: int = 1, last_raw: str | None = None) -> MarketData:
    raw = {str(k): v for k, v in values.items()}
    if last_raw is not None:
        raw["31"] = last_raw
    return MarketData(
        key=MD, conid=265598, server_id="q1", updated_ms=updated, values=values, raw=raw
    )


def _trade(exec_id: str, commission: float | None) -> Trade:
    return Trade(
        key=TR,
        execution_id=exec_id,
        account="DU1",
        conid=1,
        symbol="A",
        side="B",
        size=1.0,
        price=2.0,
        commission=commission,
        net_amount=2.0,
        trade_time_ms=3,
        order_id=4,
        exchange="X",
        raw={},
    )


EVENTS = [
    _md({31: 271.2, 84: 271.1, 6509: parse_availability("RpB")}, last_raw="C271.2"),
    OrderUpdate(
        key=OR,
        account="DU1",
        order_id=7,
        conid=1,
        status="Filled",
        changes={"orderId": 7, "status": "Filled", "filledQuantity": 3.0},
        raw={},
    ),
    _trade("e1", 1.5),
    Pnl(
        key=StreamKey.of(Topic.PNL, ""),
        account="DU1",
        row="DU1.Core",
        row_type=1,
        daily_pnl=1.0,
        unrealized_pnl=None,
        net_liquidity=3.0,
        excess_liquidity=None,
        market_value=None,
        raw={},
    ),
    AccountSummary(
        key=StreamKey.of(Topic.ACCOUNT_SUMMARY, "DU1"),
        account="DU1",
        timestamp=5,
        values={"netliquidation": SummaryValue(value=1.5, currency="USD")},
        raw={},
    ),
    MarketHistory(
        key=StreamKey.of(Topic.MARKET_HISTORY, "1"),
        conid=1,
        server_id="s",
        symbol="A",
        text=None,
        bars=(Bar(time_ms=1, open=1.0, high=2.0, low=0.5, close=1.5, volume=10.0),),
        price_factor=None,
        start_time=None,
        bar_length_s=60,
        points=1,
        raw={},
    ),
    PriceLadder(
        key=StreamKey.of(Topic.PRICE_LADDER, "DU1"),
        account="DU1",
        conid=1,
        exchange=None,
        rows=(LadderRow(row=0, focus=True, price=1.0, bid_size=2.0, ask_size=None),),
        raw={},
    ),
    Gap(key=MD, start=1.0, end=2.0),
    SessionStateChanged(
        previous=SessionState.CONNECTED, current=SessionState.AUTHENTICATED, reason="sts"
    ),
    SubscriptionStateChanged(
        key=MD,
        previous=SubscriptionState.SUBSCRIBING,
        current=SubscriptionState.FAILED,
        reason="no answer",
        error=SubscriptionTimeout("md:265598: no answer"),
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_codec_round_trip(event: object) -> None:
    """Decoding the bridge's JSON gives back an equal event (``raw`` aside)."""
    back = event_from_json(event_to_json(event))
    assert type(back) is type(event)
    assert event_to_json(back) == event_to_json(event)


def test_market_data_flags_and_availability_survive() -> None:
    """``closed`` (field 31's C prefix) and Availability values come back typed."""
    back = event_from_json(event_to_json(EVENTS[0]))
    assert back.closed and not back.halted
    assert back.values[6509] == parse_availability("RpB")
    assert back.values[31] == 271.2


def test_subscription_error_comes_back_as_its_class() -> None:
    back = event_from_json(event_to_json(EVENTS[-1]))
    assert isinstance(back.error, SubscriptionTimeout)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (b"not json", Malformed),
        (b"[1]", Malformed),
        (b'{"type":"Nope"}', Unknown),
        (b'{"type":"Gap","key":"zz:1","start":1,"end":2}', Malformed),
        (b'{"type":"Trade"}', Malformed),
    ],
)
def test_codec_bad_input_is_an_event(data: bytes, cls: type) -> None:
    assert isinstance(event_from_json(data), cls)


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
        max_size=6,
    ),
    st.sampled_from(["MarketData", "OrderUpdate", "Trade", "Gap", "SessionStateChanged", "X"]),
)
def test_codec_never_raises(d: dict[str, object], kind: str) -> None:
    """Any JSON object, whatever its type tag, decodes to an event without raising."""
    event_from_json(orjson.dumps({**d, "type": kind}))


def test_message_ids() -> None:
    """Stamped market data by content and trades by execution id and commission, whoever
    publishes; every other event by publisher and serial, so a state that comes back (an order
    back to a status, P&L back to a value) is never the duplicate of an earlier message."""
    md = EVENTS[0]
    assert isinstance(md, MarketData) and md.updated_ms is not None
    body = event_to_json(md)
    assert message_id(md, body, 1, 1) == message_id(md, body, 2, 99)
    unstamped = md._replace(updated_ms=None)
    ub = event_to_json(unstamped)
    assert message_id(unstamped, ub, 1, 1) != message_id(unstamped, ub, 1, 2)
    assert message_id(_trade("e1", None), b"", 1, 1) == "tr:e1:0"
    assert message_id(_trade("e1", 1.0), b"", 2, 7) == "tr:e1:1"
    gap = EVENTS[7]
    assert message_id(gap, event_to_json(gap), 1, 1) != message_id(gap, event_to_json(gap), 1, 2)
    ev = EVENTS[8]
    assert message_id(ev, event_to_json(ev), 3, 5) == "f3:5"
    for state in (EVENTS[1], EVENTS[3]):  # an order, a P&L row
        sb = event_to_json(state)
        assert message_id(state, sb, 1, 1) != message_id(state, sb, 1, 2)  # came back
        assert message_id(state, sb, 1, 1) != message_id(state, sb, 2, 1)  # a new leader


def test_fence_guard_rejects_stale_tokens() -> None:
    g = FenceGuard()
    assert g.admit(3) and g.admit(3) and g.admit(5)
    assert not g.admit(4)
    assert g.rejected == 1 and g.current == 5


def test_positions_and_layout() -> None:
    assert parse_position("17-3") == (17, 3) and parse_position(9) == (9, 0)
    assert format_position((17, 3)) == "17-3" and format_position((9, 0)) == "9"
    assert parse_position("1700-2") > parse_position("1700-1") > parse_position("1699-9")
    with pytest.raises(InvalidArgument):
        parse_position("x-y")
    lay = Layout("ibs")
    assert lay.subject(MD) == "ibs.md.265598"
    assert lay.subject(OR) == "ibs.or._"
    assert lay.subject(None, "Gap") == "ibs.ev.Gap"
    assert lay.stream(Topic.MARKET_DATA) == "IBS_MD" and lay.stream(None) == "IBS_EVENTS"
    assert lay.redis_stream(MD) == "{ibs}:s:md:265598"
    assert lay.state_key(StreamKey.of(Topic.PNL, ""), "DU1.Core") == "pl._.DU1_Core"
    with pytest.raises(InvalidArgument):
        Layout("a.b")


def test_specs_travel_as_json() -> None:
    for spec in (MarketDataSpec(1, fields=("31", "84"), exchange="NYSE"), TradesSpec(days=3)):
        assert spec_from_json(orjson.loads(orjson.dumps(spec_to_json(spec)))) == spec
    with pytest.raises(InvalidArgument):
        spec_from_json({"type": "MarketDataSpec", "conid": -1})
    with pytest.raises(InvalidArgument):
        spec_from_json({"type": "os.system"})


def test_demand_table_follows_leases() -> None:
    t = DemandTable()
    spec = MarketDataSpec(1)
    t.renew("a", spec, 10, now=0)
    t.renew("b", spec, 5, now=0)
    assert t.wanted() == {spec.key: spec} and t.consumers(spec.key) == 2
    assert t.expire(6) == [] and t.consumers(spec.key) == 1
    assert t.next_expiry() == 10
    assert t.expire(10) == [spec.key] and t.wanted() == {}
    t.renew("a", spec, 10, now=0)
    t.renew("a", spec, 0, now=1)  # released
    assert t.wanted() == {}


def test_leader_lease_counts_from_the_request() -> None:
    lease = LeaderLease(ttl=3.0, margin=0.5)
    assert not lease.valid(0)
    lease.granted(7, sent_at=10.0)
    assert lease.valid(12.4) and not lease.valid(12.5)
    lease.renewed(sent_at=11.0)
    assert lease.valid(13.4)
    lease.lost()
    assert not lease.valid(11.0) and lease.token is None


def test_merge_event_keeps_every_field() -> None:
    a = _md({31: 1.0, 84: 0.9}, updated=5)
    b = _md({84: 0.95}, updated=4)
    m = merge_event(a, b)
    assert dict(m.values) == {31: 1.0, 84: 0.95} and m.updated_ms == 5
    o1 = EVENTS[1]
    o2 = OrderUpdate(
        key=OR,
        account=None,
        order_id=7,
        conid=None,
        status=None,
        changes={"remainingQuantity": 0.0},
        raw={},
    )
    mo = merge_event(o1, o2)
    assert mo.status == "Filled" and mo.changes["filledQuantity"] == 3.0
    assert mo.changes["remainingQuantity"] == 0.0


def test_state_mirror_hands_out_entries_with_positions() -> None:
    m = StateMirror()
    order = EVENTS[1]
    m.applied(order, 0, (5, 0))
    m.applied(order, 1, (1700, 1))
    out0 = m.take(0, fence=2)
    assert len(out0) == 1
    key, entries, wm = out0[0]
    assert key == OR and wm == (5, 0)
    entry = StateEntry.from_json(entries["7"])
    assert entry.position == (5, 0) and entry.fence == 2 and entry.event["order_id"] == 7
    assert m.take(0, fence=2) == []  # nothing changed since
    assert m.take(1, fence=2)[0][2] == (1700, 1)
    later = OrderUpdate(
        key=OR,
        account=None,
        order_id=7,
        conid=None,
        status=None,
        changes={"remainingQuantity": 0.0},
        raw={},
    )
    m.applied(later, 0, (9, 0))
    [(_, entries, wm)] = m.take(0, fence=2)
    merged = StateEntry.from_json(entries["7"])
    assert wm == (9, 0) and merged.position == (9, 0)
    assert merged.event["changes"] == {
        "orderId": 7,
        "status": "Filled",
        "filledQuantity": 3.0,
        "remainingQuantity": 0.0,
    }
    assert m.entity(1, OR, "7").changes.get("remainingQuantity") is None  # bus 1 never stored it
    with pytest.raises(InvalidArgument):
        StateEntry.from_json(b"{}")
