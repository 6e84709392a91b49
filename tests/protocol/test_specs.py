"""Outbound specs: exact wire strings (protocol.md §4) and construction-time validation."""

from __future__ import annotations

from typing import Any

import pytest

from ibstream.exceptions import InvalidArgument, InvalidState
from ibstream.protocol.specs import (
    DEFAULT_FIELDS,
    AccountLedgerSpec,
    AccountSummarySpec,
    Confirmation,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    StreamKey,
    Topic,
    TradesSpec,
    echo_message,
    session_message,
    tic_message,
)

HISTORY_ARGS = (
    '{"exchange":"ISLAND","period":"2h","bar":"5min","outsideRth":false,'
    '"source":"trades","format":"%o/%c/%h/%l/%v"}'
)

WIRE: list[tuple[Any, str, str]] = [
    (
        MarketDataSpec(265598, fields=("31", "84", "86")),
        'smd+265598+{"fields":["31","84","86"]}',
        "umd+265598+{}",
    ),
    (
        MarketDataSpec(conid=265598, fields=[31, "84", 86, "31"], exchange="NASDAQ"),
        'smd+265598@NASDAQ+{"fields":["31","84","86"]}',
        "umd+265598+{}",
    ),
    (
        MarketHistorySpec(265598, exchange="ISLAND", period="2h", bar="5min"),
        "smh+265598+" + HISTORY_ARGS,
        "umh+SERVERID",
    ),
    (
        MarketHistorySpec(8314, period="30min", bar="1min", outside_rth=True, format="%h/%l"),
        'smh+8314+{"period":"30min","bar":"1min","outsideRth":true,"source":"trades",'
        '"format":"%h/%l"}',
        "umh+SERVERID",
    ),
    (PriceLadderSpec("DU12345", 265598), "sbd+DU12345+265598", "ubd+DU12345"),
    (
        PriceLadderSpec("DU12345", 265598, exchange="ARCA"),
        "sbd+DU12345+265598+ARCA",
        "ubd+DU12345",
    ),
    (OrdersSpec(), "sor+{}", "uor+{}"),
    (OrdersSpec(filters=["submitted"]), 'sor+{"filters":["Submitted"]}', "uor+{}"),
    (TradesSpec(), "str+{}", "utr"),
    (
        TradesSpec(realtime_only=True, days=3),
        'str+{"realtimeUpdatesOnly":true,"days":3}',
        "utr",
    ),
    (TradesSpec(days=7), 'str+{"days":7}', "utr"),
    (PnlSpec(), "spl+{}", "upl+{}"),
    (AccountSummarySpec("DU1234567"), "ssd+DU1234567+{}", "usd+DU1234567+{}"),
    (
        AccountSummarySpec(
            "DU1234567",
            keys=("AccruedCash-S", "ExcessLiquidity-S"),
            fields=("currency", "monetaryValue"),
        ),
        'ssd+DU1234567+{"keys":["AccruedCash-S","ExcessLiquidity-S"],'
        '"fields":["currency","monetaryValue"]}',
        "usd+DU1234567+{}",
    ),
    (
        AccountLedgerSpec("DU1234567", keys=["LedgerListBASE", "LedgerListEUR"]),
        'sld+DU1234567+{"keys":["LedgerListBASE","LedgerListEUR"]}',
        "uld+DU1234567+{}",
    ),
    (
        AccountLedgerSpec("U1.a_b-c", fields=["cashBalance"]),
        'sld+U1.a_b-c+{"fields":["cashBalance"]}',
        "uld+U1.a_b-c+{}",
    ),
]


@pytest.mark.parametrize(("spec", "subscribe", "unsubscribe"), WIRE)
def test_wire_strings(spec: Any, subscribe: str, unsubscribe: str) -> None:
    """Each spec encodes to the exact wire strings of protocol.md §4."""
    assert spec.subscribe_message() == subscribe
    assert spec.unsubscribe_message("SERVERID") == unsubscribe


def test_market_data_defaults() -> None:
    """Default fields are used when none are given; field ids are normalised to strings."""
    spec = MarketDataSpec(265598)
    assert spec.fields == DEFAULT_FIELDS
    assert spec.subscribe_message().startswith('smd+265598+{"fields":["31",')
    assert MarketDataSpec(1, fields=[31, 84]) == MarketDataSpec(1, fields=("31", "84"))
    # names are accepted wherever ids are, and normalised to the ids the gateway wants
    assert MarketDataSpec(1, fields=("last", "bid", "31")).fields == ("31", "84")
    assert hash(MarketDataSpec(1, fields=[31])) == hash(MarketDataSpec(1, fields=("31",)))


def test_history_unsubscribe_needs_server_id() -> None:
    """``umh`` without the server id of the first frame is an InvalidState."""
    spec = MarketHistorySpec(265598)
    with pytest.raises(InvalidState):
        spec.unsubscribe_message()
    with pytest.raises(InvalidArgument) as info:
        spec.unsubscribe_message("a+b")
    assert info.value.argument == "server_id"
    assert spec.unsubscribe_message("341115") == "umh+341115"


KEYS = [
    (MarketDataSpec(265598), StreamKey(Topic.MARKET_DATA, "265598"), Confirmation.FIRST_FRAME),
    (MarketHistorySpec(5), StreamKey(Topic.MARKET_HISTORY, "5"), Confirmation.FIRST_FRAME),
    (PriceLadderSpec("DU1", 5), StreamKey(Topic.PRICE_LADDER, "DU1"), Confirmation.ON_SEND),
    (OrdersSpec(), StreamKey(Topic.ORDERS, ""), Confirmation.ON_SEND),
    (TradesSpec(), StreamKey(Topic.TRADES, ""), Confirmation.FIRST_FRAME),
    (PnlSpec(), StreamKey(Topic.PNL, ""), Confirmation.FIRST_FRAME),
    (AccountSummarySpec("DU1"), StreamKey(Topic.ACCOUNT_SUMMARY, "DU1"), Confirmation.FIRST_FRAME),
    (AccountLedgerSpec("DU1"), StreamKey(Topic.ACCOUNT_LEDGER, "DU1"), Confirmation.FIRST_FRAME),
]


@pytest.mark.parametrize(("spec", "key", "confirmation"), KEYS)
def test_key_confirmation_expiry(spec: Any, key: StreamKey, confirmation: Confirmation) -> None:
    """Keys follow IBKR's stream identity; only market data expires (§4.0, §4.1)."""
    assert spec.key == key
    assert spec.confirmation is confirmation
    assert spec.expires is isinstance(spec, MarketDataSpec)
    assert spec.topic is key.topic
    assert spec.same_stream_as(spec)
    assert not spec.same_stream_as("md:1")


def test_same_stream_ignores_parameters() -> None:
    """Two specs for one stream with different parameters are the same stream, not equal."""
    a, b = MarketDataSpec(1, fields=["31"]), MarketDataSpec(1, fields=["84"])
    assert a.same_stream_as(b) and a != b
    assert OrdersSpec().same_stream_as(OrdersSpec(filters=["Filled"]))
    assert not MarketDataSpec(1).same_stream_as(MarketHistorySpec(1))


def test_stream_key_repr_and_hash() -> None:
    """StreamKey reads like ``md:265598`` and works as a dict key."""
    key = StreamKey(Topic.MARKET_DATA, "265598")
    assert str(key) == "md:265598"
    assert repr(key) == "StreamKey(md:265598)"
    assert str(StreamKey(Topic.ORDERS, "")) == "or"
    assert {key: 1}[StreamKey(Topic("md"), "265598")] == 1


def test_session_messages() -> None:
    """tic, echo and the session message are encoded exactly."""
    assert tic_message() == "tic"
    assert echo_message() == "ech+hb"
    assert session_message("e5af95a05fe55041a403680abb434efa") == (
        '{"session":"e5af95a05fe55041a403680abb434efa"}'
    )
    with pytest.raises(InvalidArgument) as info:
        session_message("")
    assert info.value.argument == "session_id"


INVALID: list[tuple[Any, dict[str, Any], str]] = [
    (MarketDataSpec, {"conid": 0}, "conid"),
    (MarketDataSpec, {"conid": -5}, "conid"),
    (MarketDataSpec, {"conid": True}, "conid"),
    (MarketDataSpec, {"conid": "265598"}, "conid"),
    (MarketDataSpec, {"conid": 1.0}, "conid"),
    (MarketDataSpec, {"conid": 1, "fields": ()}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": "31"}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": 31}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": ["abc"]}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": [""]}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": ["031"]}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": [0]}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": [True]}, "fields"),
    (MarketDataSpec, {"conid": 1, "fields": ["3 1"]}, "fields"),
    (MarketDataSpec, {"conid": 1, "exchange": "nasdaq"}, "exchange"),
    (MarketDataSpec, {"conid": 1, "exchange": ""}, "exchange"),
    (MarketDataSpec, {"conid": 1, "exchange": "NAS+DAQ"}, "exchange"),
    (MarketDataSpec, {"conid": 1, "exchange": "123"}, "exchange"),
    (MarketDataSpec, {"conid": 1, "exchange": 5}, "exchange"),
    (MarketHistorySpec, {"conid": 0}, "conid"),
    (MarketHistorySpec, {"conid": 1, "exchange": "isl"}, "exchange"),
    (MarketHistorySpec, {"conid": 1, "period": "31min"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "0d"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "9h"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "1001d"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "793w"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "183m"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "16y"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "01d"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "d"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": "1s"}, "period"),
    (MarketHistorySpec, {"conid": 1, "period": 5}, "period"),
    (MarketHistorySpec, {"conid": 1, "bar": "7min"}, "bar"),
    (MarketHistorySpec, {"conid": 1, "outside_rth": "no"}, "outside_rth"),
    (MarketHistorySpec, {"conid": 1, "source": "t"}, "source"),
    (MarketHistorySpec, {"conid": 1, "format": "%x"}, "format"),
    (MarketHistorySpec, {"conid": 1, "format": "%o/%o"}, "format"),
    (MarketHistorySpec, {"conid": 1, "format": ""}, "format"),
    (MarketHistorySpec, {"conid": 1, "format": None}, "format"),
    (PriceLadderSpec, {"account": "", "conid": 1}, "account"),
    (PriceLadderSpec, {"account": "DU1+2", "conid": 1}, "account"),
    (PriceLadderSpec, {"account": None, "conid": 1}, "account"),
    (PriceLadderSpec, {"account": "DU1", "conid": -1}, "conid"),
    (PriceLadderSpec, {"account": "DU1", "conid": 1, "exchange": "arca"}, "exchange"),
    (OrdersSpec, {"filters": ["Bogus"]}, "filters"),
    (OrdersSpec, {"filters": "Submitted"}, "filters"),
    (OrdersSpec, {"filters": [1]}, "filters"),
    (OrdersSpec, {"filters": None}, "filters"),
    (TradesSpec, {"days": 0}, "days"),
    (TradesSpec, {"days": 8}, "days"),
    (TradesSpec, {"days": True}, "days"),
    (TradesSpec, {"days": "2"}, "days"),
    (TradesSpec, {"realtime_only": 1}, "realtime_only"),
    (AccountSummarySpec, {"account": ""}, "account"),
    (AccountSummarySpec, {"account": "DU 1"}, "account"),
    (AccountSummarySpec, {"account": "DU1", "keys": "NetLiquidation"}, "keys"),
    (AccountSummarySpec, {"account": "DU1", "keys": [""]}, "keys"),
    (AccountSummarySpec, {"account": "DU1", "fields": [3]}, "fields"),
    (AccountSummarySpec, {"account": "DU1", "fields": None}, "fields"),
    (AccountLedgerSpec, {"account": "DU1", "keys": ["a+b"]}, "keys"),
    (AccountLedgerSpec, {"account": "+"}, "account"),
]


@pytest.mark.parametrize(("cls", "kwargs", "argument"), INVALID)
def test_invalid_arguments(cls: Any, kwargs: dict[str, Any], argument: str) -> None:
    """Invalid arguments raise InvalidArgument naming the argument and what is allowed."""
    with pytest.raises(InvalidArgument) as info:
        cls(**kwargs)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert isinstance(info.value, ValueError)


def test_valid_edge_values() -> None:
    """Boundary values of the history grammar and order filters are accepted."""
    for period in ("1min", "30min", "8h", "1000d", "792w", "182m", "15y"):
        assert MarketHistorySpec(1, period=period).period == period
    for source in ("midpoint", "trades", "bid_ask", "bid", "ask"):
        assert MarketHistorySpec(1, source=source).source == source
    assert OrdersSpec(filters=("inactive", "INACTIVE", "SortByTime")).filters == (
        "Inactive",
        "SortByTime",
    )
    assert AccountSummarySpec("DU1", keys=["a", "a", "b"]).keys == ("a", "b")


def test_specs_are_frozen() -> None:
    """Specs cannot be modified after construction."""
    spec = MarketDataSpec(1)
    with pytest.raises(AttributeError):
        spec.conid = 2  # type: ignore[misc]


def test_stream_keys_are_shared_instances() -> None:
    """Specs and the decoder hand out one StreamKey object per stream (identity lookups)."""
    from ibstream.protocol.decoding import decode

    spec_key = MarketDataSpec(265598).key
    assert spec_key is MarketDataSpec(265598, fields=("31",)).key
    (event,) = decode('{"topic":"smd+265598","conid":265598,"31":"1.5"}')
    assert event.key is spec_key
    assert StreamKey.of(Topic.ORDERS, "") is OrdersSpec().key
    assert StreamKey(Topic.ORDERS, "") == OrdersSpec().key  # plain construction still equal
