"""Property-based tests: decode() never raises; every valid spec encodes to the wire grammar."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibstream.protocol import decoding
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import Malformed, MarketData
from ibstream.protocol.specs import (
    HISTORY_BARS,
    HISTORY_SOURCES,
    ORDER_FILTERS,
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    TradesSpec,
)

TOPICS = [
    "smd+265598", "smd+X", "smd", "smh+1", "sbd+A+1", "sbd", "sor", "str", "spl", "ssd+A",
    "sld+A", "system", "sts", "act", "tic", "blt", "ntf", "error", "ech+hb", "zzz",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    ["conid", "args", "data", "result", "31", "84", "6509", "hb", "success", "serverId",
     "message", "error", "_updated", "server_id", "orderId", "execution_id", "key", "99"]
) | st.text(max_size=6)  # fmt: skip


@settings(max_examples=300)
@given(st.text())
def test_decode_never_raises_on_text(text: str) -> None:
    """Arbitrary text decodes to a list of events, never an exception."""
    assert isinstance(decode(text), list)


@settings(max_examples=300)
@given(st.binary())
def test_decode_never_raises_on_bytes(data: bytes) -> None:
    """Arbitrary bytes decode to a list of events, never an exception."""
    assert isinstance(decode(data), list)


@settings(max_examples=500)
@given(
    topic=st.sampled_from(TOPICS) | st.text(max_size=8),
    body=st.dictionaries(keys, json_values, max_size=6),
    entries=st.lists(st.dictionaries(keys, json_values, max_size=5), max_size=3),
)
def test_decode_never_raises_on_json_objects(
    topic: str, body: dict[str, Any], entries: list[dict[str, Any]]
) -> None:
    """Arbitrary JSON objects with a known or random topic decode without raising."""
    for frame in ({**body, "topic": topic}, {**body, "topic": topic, "args": entries}, body):
        events = decode(orjson.dumps(frame))
        assert isinstance(events, list)
        for event in events:
            if isinstance(event, Malformed):
                assert event.reason


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["31", "84", "87", "88", "6509", "7184"]), json_values))
def test_market_data_values_never_dropped(values: dict[str, Any]) -> None:
    """Every field of an smd frame lands in ``values`` whatever its value type."""
    frame = orjson.dumps({"topic": "smd+42", **values})
    for _ in range(2):  # first-frame path, then the hot path
        (event,) = decode(frame)
        assert isinstance(event, MarketData)
        assert set(event.values) == {int(k) for k in values}


def test_unexpected_error_becomes_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside a parser still gives Malformed, not an exception."""

    def boom(value: object) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(decoding._MD_TABLE, "84", (84, boom, decoding._ValueCache(boom)))
    decode('{"topic":"smd+7","84":"1"}')
    (event,) = decode('{"topic":"smd+7","84":"1"}')
    assert isinstance(event, Malformed) and "RuntimeError: boom" in event.reason


# --- specs ---------------------------------------------------------------------------------------

ACCOUNT = r"[A-Za-z0-9._-]+"
EXCH = r"[A-Z0-9]+"
JSON_OBJ = r"\{.*\}"
WIRE = re.compile(
    rf"^(?:smd\+[1-9]\d*(?:@{EXCH})?\+\{{\"fields\":\[\"\d+\"(?:,\"\d+\")*\]\}}"
    rf"|umd\+[1-9]\d*\+\{{\}}"
    rf"|smh\+[1-9]\d*\+{JSON_OBJ}|umh\+[^+]+"
    rf"|sbd\+{ACCOUNT}\+[1-9]\d*(?:\+{EXCH})?|ubd\+{ACCOUNT}"
    rf"|sor\+{JSON_OBJ}|uor\+\{{\}}"
    rf"|str\+{JSON_OBJ}|utr"
    rf"|spl\+\{{\}}|upl\+\{{\}}"
    rf"|ssd\+{ACCOUNT}\+{JSON_OBJ}|usd\+{ACCOUNT}\+\{{\}}"
    rf"|sld\+{ACCOUNT}\+{JSON_OBJ}|uld\+{ACCOUNT}\+\{{\}})$"
)

conids = st.integers(min_value=1, max_value=2**31 - 1)
accounts = st.from_regex(r"\A[A-Za-z0-9._-]{1,12}\Z")
exchanges = st.none() | st.from_regex(r"\A[A-Z][A-Z0-9]{0,7}\Z")
field_ids = st.lists(
    st.integers(min_value=1, max_value=99999) | st.integers(1, 9999).map(str), min_size=1
)
periods = st.sampled_from(
    [("min", 30), ("h", 8), ("d", 1000), ("w", 792), ("m", 182), ("y", 15)]
).flatmap(lambda u: st.integers(1, u[1]).map(lambda n: f"{n}{u[0]}"))
formats = st.permutations(["%o", "%c", "%h", "%l", "%v"]).flatmap(
    lambda p: st.integers(1, 5).map(lambda n: "/".join(p[:n]))
)
names = st.lists(st.from_regex(r"\A[A-Za-z0-9_-]{1,10}\Z"), max_size=4)

specs = st.one_of(
    st.builds(MarketDataSpec, conids, fields=field_ids, exchange=exchanges),
    st.builds(
        MarketHistorySpec,
        conids,
        exchange=exchanges,
        period=periods,
        bar=st.sampled_from(HISTORY_BARS),
        outside_rth=st.booleans(),
        source=st.sampled_from(sorted(HISTORY_SOURCES)),
        format=formats,
    ),
    st.builds(PriceLadderSpec, accounts, conids, exchange=exchanges),
    st.builds(OrdersSpec, filters=st.lists(st.sampled_from(ORDER_FILTERS), max_size=3)),
    st.builds(TradesSpec, realtime_only=st.booleans(), days=st.integers(1, 7)),
    st.builds(PnlSpec),
    st.builds(AccountSummarySpec, accounts, keys=names, fields=names),
    st.builds(AccountLedgerSpec, accounts, keys=names, fields=names),
)


@settings(max_examples=500)
@given(specs, st.from_regex(r"\A[0-9a-z]{1,8}\Z"))
def test_specs_encode_to_wire_grammar(spec: Any, server_id: str) -> None:
    """Every valid spec encodes to strings of the wire grammar, with compact JSON."""
    subscribe = spec.subscribe_message()
    unsubscribe = spec.unsubscribe_message(server_id)
    assert WIRE.match(subscribe), subscribe
    assert WIRE.match(unsubscribe), unsubscribe
    assert ": " not in subscribe and ", " not in subscribe.replace('", "', "")
    args = subscribe.rpartition("+")[2]
    if args.startswith("{"):
        assert isinstance(orjson.loads(args), dict)
    assert subscribe[0] == "s" and unsubscribe[0] == "u"


def test_value_cache_is_bounded_and_pure() -> None:
    """The per-parser value cache parses on a miss, answers hits, and never grows unbounded."""
    calls: list[object] = []

    def parse(raw: object) -> Any:
        calls.append(raw)
        return float(str(raw))

    cache = decoding._ValueCache(parse)
    assert cache["1.5"] == 1.5 and cache["1.5"] == 1.5
    assert calls == ["1.5"]
    for i in range(decoding._CACHE_MAX + 10):
        cache[str(i)]
    assert len(cache) <= decoding._CACHE_MAX
