"""Issue 11, defects 3, 4 and 8: values that cannot be represented are rejected per field.

A ``sor`` entry with ``"conid":"inf"`` once made the order book raise out of dispatch; an
``orderId`` of ``1e308`` became a 10^308 int that no JSON encoder carries; a 5,000-digit integer
turned a whole frame Malformed. Each case below failed before the fix.
"""

from __future__ import annotations

import orjson
import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.protocol import decoding
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import Malformed, MarketData, OrderUpdate, Trade, ValueRejected
from ibstream.protocol.fields import CONID_MAX, INT64_MAX, parse_value
from ibstream.protocol.specs import MarketDataSpec
from ibstream.serialize import event_to_json
from ibstream.state import OrderBook, TradeBook

BAD_VALUES = [
    '"inf"',
    '"nan"',
    '"1e999"',
    "1e999",
    '"-Infinity"',
    "9" * 5000,
    '"' + "9" * 5000 + '"',
]


def _sor(*entries: str) -> bytes:
    return ('{"topic":"sor","args":[' + ",".join(entries) + "]}").encode()


def _encodable(events: list[object]) -> None:
    for ev in events:
        event_to_json(ev)
        event_to_json(ev, include_raw=True)


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("name", ["conid", "price", "lastExecutionTime_r", "filledQuantity"])
def test_sor_bad_field_is_rejected_and_neighbours_kept(bad: str, name: str) -> None:
    frame = _sor(
        '{"orderId":1,"conid":265598,"status":"Submitted","ticker":"AAPL"}',
        f'{{"orderId":1,"{name}":{bad},"status":"Submitted","side":"BUY"}}',
        '{"orderId":2,"conid":265598,"status":"Filled","ticker":"MSFT"}',
    )
    events = decode(frame)
    updates = [e for e in events if isinstance(e, OrderUpdate)]
    rejected = [e for e in events if isinstance(e, ValueRejected)]
    assert [u.order_id for u in updates] == [1, 1, 2]
    assert name not in updates[1].changes  # the bad field only
    assert updates[1].changes["side"] == "BUY"
    assert len(rejected) == 1
    assert (rejected[0].topic, rejected[0].index, rejected[0].field) == ("sor", 1, name)
    assert not any(isinstance(e, Malformed) for e in events)
    book = OrderBook()
    book.apply_all(events)  # raised OverflowError / ValueError before the fix
    assert book[1].conid == 265598 and book[1].side == "BUY" and book[2].symbol == "MSFT"
    _encodable(events)


@pytest.mark.parametrize("bad", ["inf", "nan", "1e999", "-1e400", "9" * 400])
def test_order_book_never_raises_on_rest_records(bad: str) -> None:
    book = OrderBook()
    book.load_rest(
        {
            "orders": [
                {"orderId": 7, "conid": bad, "status": "Submitted", "lastExecutionTime_r": bad},
                {"orderId": bad, "conid": 1, "status": "Submitted"},
                {"orderId": 8, "conid": 265598, "status": "Submitted", "price": bad},
            ]
        }
    )
    assert book[7].conid is None and book[7].last_execution_ms is None
    assert book[8].conid == 265598 and book[8].price is None
    assert sorted(book) == [7, 8]


@pytest.mark.parametrize("order_id", ["1e308", "-1e308", "1e19", "9223372036854775808"])
def test_order_id_out_of_int64_is_malformed_entry_only(order_id: str) -> None:
    events = decode(_sor(f'{{"orderId":{order_id},"status":"Submitted"}}', '{"orderId":3}'))
    assert isinstance(events[0], Malformed) and "orderId" in events[0].reason
    assert isinstance(events[1], OrderUpdate) and events[1].order_id == 3
    _encodable(events)


def test_int64_bounds_are_kept() -> None:
    events = decode(_sor(f'{{"orderId":{INT64_MAX},"status":"Submitted"}}'))
    assert isinstance(events[0], OrderUpdate) and events[0].order_id == INT64_MAX


def test_huge_integer_string_fails_one_field_not_the_frame() -> None:
    digits = "7" * 5000
    frame = (
        '{"topic":"str","args":['
        f'{{"execution_id":"a","size":100,"order_id":"{digits}","price":1.5}},'
        '{"execution_id":"b","size":2,"price":3}]}'
    ).encode()
    events = decode(frame)
    trades = [e for e in events if isinstance(e, Trade)]
    assert [t.execution_id for t in trades] == ["a", "b"]
    assert trades[0].order_id is None and trades[0].size == 100.0
    assert [e.field for e in events if isinstance(e, ValueRejected)] == ["order_id"]
    _encodable(events)
    TradeBook().apply_all(events)


def test_trade_values_out_of_range_are_rejected() -> None:
    frame = _sor()  # unused, keeps the helper honest
    assert decode(frame) == []
    events = decode(
        b'{"topic":"str","args":[{"execution_id":"x","conid":4294967296,"size":"inf",'
        b'"trade_time_r":1e300}]}'
    )
    trade = events[0]
    assert isinstance(trade, Trade)
    assert trade.conid is None and trade.size is None and trade.trade_time_ms is None
    assert {e.field for e in events if isinstance(e, ValueRejected)} == {
        "conid",
        "size",
        "trade_time_r",
    }


def test_conid_beyond_32_bits_is_refused() -> None:
    assert isinstance(decode(b'{"topic":"smd+2147483648","31":"1"}')[0], Malformed)
    big = "9" * 5000
    assert isinstance(decode(f'{{"topic":"smd+{big}","31":"1"}}'.encode())[0], Malformed)
    ok = decode(f'{{"topic":"smd+{CONID_MAX}","31":"1"}}'.encode())[0]
    assert isinstance(ok, MarketData) and ok.conid == CONID_MAX
    with pytest.raises(InvalidArgument):
        MarketDataSpec(CONID_MAX + 1)
    with pytest.raises(InvalidArgument):
        MarketDataSpec(10**5000)


@pytest.mark.parametrize("raw", ["inf", "nan", "1e999", "-inf", "1" * 5000])
def test_market_data_never_yields_non_finite_or_huge_numbers(raw: str) -> None:
    for fid in (31, 84, 87, 83, 6008, 7762, 99999):
        value = parse_value(fid, raw)
        assert value == raw  # kept as text, like any value that does not parse
    frame = f'{{"topic":"smd+265598","31":"{raw}","84":1e999,"86":"271.5"}}'.encode()
    (ev,) = decode(frame)
    assert isinstance(ev, MarketData)
    assert ev.values[86] == 271.5
    assert all(not isinstance(v, float) or v - v == 0 for v in ev.values.values())
    _encodable([ev])


def test_huge_numeric_key_is_skipped_not_fatal() -> None:
    key = "1" * 5000
    (ev,) = decode(f'{{"topic":"smd+265598","{key}":1,"31":"2.5"}}'.encode())
    assert isinstance(ev, MarketData) and ev.values == {31: 2.5}
    from ibstream.state import Ticker

    ticker = Ticker(265598)
    ticker.merge(ev)
    assert dict(ticker.snapshot().raw) == {31: "2.5"}


def test_value_caches_are_bounded_by_bytes() -> None:
    """8,000 unique 100 KB values once stayed cached (779 MB); long values are not kept."""
    before = sum(len(c) for c in decoding._CACHES.values())
    for i in range(50):
        decode(orjson.dumps({"topic": "smd+265598", "55": f"{i}" + "x" * 100_000}))
    after = sum(len(c) for c in decoding._CACHES.values())
    assert after == before
    long_topic = "smd+265598@" + "Z" * 10_000
    decode(orjson.dumps({"topic": long_topic, "31": "1"}))
    assert long_topic not in decoding._MD_KEYS


def test_event_to_json_never_raises_on_values_json_cannot_carry() -> None:
    """A 300-deep value in an order entry once failed the hub's encoding for every consumer."""
    from ibstream.protocol.events import Unknown
    from ibstream.protocol.specs import StreamKey, Topic

    deep: object = 0
    for _ in range(900):
        deep = [deep]
    update = OrderUpdate(
        key=StreamKey.of(Topic.ORDERS, ""),
        account=None,
        order_id=1,
        conid=None,
        status="Submitted",
        changes={"orderId": 1, "odd": deep, "big": 2**70, "text": "bad \ud800 surrogate"},
        raw={"odd": deep},
    )
    for include_raw in (False, True):
        out = orjson.loads(event_to_json(update, include_raw=include_raw))
        assert out["order_id"] == 1 and out["changes"]["big"] == "<integer of 71 bits>"
        assert "nested too deep" in orjson.dumps(out["changes"]["odd"]).decode()
    assert orjson.loads(event_to_json(Unknown(topic="x", payload=deep)))["topic"] == "x"


def test_cache_limits_are_configurable() -> None:
    try:
        decoding.set_cache_limits(max_entries=4, max_value_chars=8)
        for i in range(50):
            decode(orjson.dumps({"topic": "smd+265598", "31": f"{i}.5", "55": f"S{i}"}))
        stats = decoding.cache_stats()
        assert stats["max_entries_per_parser"] == 4
        assert all(len(c) <= 4 for c in decoding._CACHES.values())
        decoding.set_cache_limits(max_entries=0)
        (ev,) = decode(b'{"topic":"smd+265598","31":"1.25"}')
        assert isinstance(ev, MarketData) and ev.values[31] == 1.25
        assert decoding.cache_stats()["entries"] == 0
        with pytest.raises(ValueError):
            decoding.set_cache_limits(max_entries=-1)
    finally:
        decoding.set_cache_limits()
