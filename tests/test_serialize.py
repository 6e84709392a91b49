"""Events to JSON."""

from __future__ import annotations

import orjson
import pytest

from ibstream.exceptions import SlowConsumerError
from ibstream.protocol.connection import StreamProtocol
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import OrderUpdate, TradeUpdated
from ibstream.protocol.lifecycle import Gap, SessionState, SessionStateChanged
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.serialize import event_to_dict, event_to_json, jsonable

SMD = (
    '{"6509":"DPB","conidEx":"265598","topic":"smd+265598","conid":265598,"_updated":1777552110061,'
    '"6119":"q1","83":0.56,"server_id":"q1","84":"271.55","31":"C271.67","86":"271.66"}'
)


def test_market_data_to_json() -> None:
    """Market data: typed values with string keys, key as text, availability as its code."""
    (md,) = decode(SMD)
    d = orjson.loads(event_to_json(md))
    assert d["type"] == "MarketData"
    assert d["key"] == "md:265598"
    assert d["values"]["84"] == 271.55 and d["values"]["6509"] == "DPB"
    assert d["closed"] is True
    assert "raw" not in d
    assert event_to_dict(md, include_raw=True)["raw"]["31"] == "C271.67"


def test_lifecycle_events_to_json() -> None:
    """Enums become names, nested values recurse."""
    ev = SessionStateChanged(
        previous=SessionState.CONNECTED, current=SessionState.AUTHENTICATED, reason="sts"
    )
    assert event_to_dict(ev)["current"] == "AUTHENTICATED"
    gap = Gap(key=StreamKey(Topic.ORDERS, ""), start=1.0, end=2.5)
    assert event_to_dict(gap) == {"type": "Gap", "key": "or", "start": 1.0, "end": 2.5}


def test_jsonable_fallbacks() -> None:
    """Collections, exceptions and unknown objects have a JSON form."""
    assert jsonable((1, {2: {3}})) == [1, {"2": [3]}]
    assert jsonable(SlowConsumerError("x", 3)).startswith("SlowConsumerError: x")
    assert jsonable(object()).startswith("<object")


FRAMES = [
    b'{"topic":"smd+265598","conid":265598,"_updated":1712345678901,"server_id":"q0",'
    b'"31":"C271.60","55":"AAPL","84":"271.59","86":"271.61","88":"1,300","6509":"RpB"}',
    b'{"topic":"smd+265598","conid":265598,"_updated":1712345678902,"31":"H1.5","7059":"N/A"}',
    b'{"topic":"smd+265598","conid":265598}',
    b'{"topic":"smd+8314","conid":8314,"31":"1.2","87":"24.2M","99999":"x"}',
]


@pytest.mark.parametrize("frame", FRAMES)
def test_market_data_fast_path_writes_the_generic_bytes(frame: bytes) -> None:
    """The direct market-data path writes exactly the bytes of the generic encoding."""
    [ev] = decode(frame)
    assert event_to_json(ev) == orjson.dumps(event_to_dict(ev))
    assert orjson.loads(event_to_json(ev, include_raw=True))["raw"] == orjson.loads(frame)


def test_other_events_use_the_generic_encoding() -> None:
    """Every other event is event_to_dict encoded with orjson."""
    ev = OrderUpdate(
        key=StreamKey(Topic.ORDERS, ""),
        account="DU1",
        order_id=1,
        conid=2,
        status="Filled",
        changes={"a": 1},
        raw={},
    )
    assert event_to_json(ev) == orjson.dumps(event_to_dict(ev))


def test_market_data_json_by_field_name() -> None:
    from ibstream.protocol.decoding import decode
    from ibstream.serialize import event_to_json

    (ev,) = decode(b'{"topic":"smd+1","conid":1,"31":"10.5","84":"10.4","6509":"RpB","9999":"7"}')
    by_name = orjson.loads(event_to_json(ev, field_names=True))
    assert by_name["values"] == {"last": 10.5, "bid": 10.4, "availability": "RpB", "9999": 7.0}
    by_id = orjson.loads(event_to_json(ev))
    assert set(by_id["values"]) == {"31", "84", "6509", "9999"}


def test_trade_updated_to_json() -> None:
    """A TradeUpdated carries the whole execution and the changed fields; raw only on request."""
    p = StreamProtocol()
    fill = {"execution_id": "E1", "symbol": "AAPL", "side": "B", "size": 2, "price": "10.5"}
    p.receive_frame(orjson.dumps({"topic": "str", "args": [fill]}), 0.0)
    p.receive_frame(orjson.dumps({"topic": "str", "args": [{**fill, "commission": "1"}]}), 0.0)
    [update] = [e for e in p.events_received() if isinstance(e, TradeUpdated)]
    out = orjson.loads(event_to_json(update))
    assert out["type"] == "TradeUpdated" and out["key"] == "tr" and out["execution_id"] == "E1"
    assert out["changed"] == {"commission": 1.0}
    assert out["trade"]["type"] == "Trade" and out["trade"]["commission"] == 1.0
    assert out["trade"]["price"] == 10.5 and "raw" not in out and "raw" not in out["trade"]
    assert orjson.loads(event_to_json(update, include_raw=True))["raw"]["commission"] == "1"
