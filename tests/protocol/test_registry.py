"""The topic registry: one table, spec words, spec objects and stream keys (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.registry import (
    TOPICS,
    format_spec_word,
    key_from_topic,
    parse_key,
    parse_spec_word,
    parse_topic,
    spec_from_args,
    spec_from_dict,
    spec_to_args,
    topic_entry,
)
from ibstream.protocol.specs import (
    HISTORY_BARS,
    ORDER_FILTERS,
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    Spec,
    StreamKey,
    Topic,
    TradesSpec,
)


def test_one_entry_per_topic_with_its_spec_class() -> None:
    assert list(TOPICS) == list(Topic)
    for topic, entry in TOPICS.items():
        assert entry.spec.topic is topic
        assert set(entry.required) <= set(entry.positional) <= set(entry.members)
    assert TOPICS[Topic.PRICE_LADDER].required == ("account", "conid")
    assert TOPICS[Topic.MARKET_DATA].ident == "conid"
    assert TOPICS[Topic.ACCOUNT_LEDGER].ident == "account"
    assert TOPICS[Topic.PNL].ident is None


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("md", Topic.MARKET_DATA),
        ("SMD", Topic.MARKET_DATA),
        ("market_data", Topic.MARKET_DATA),
        ("history", Topic.MARKET_HISTORY),
        ("ladder", Topic.PRICE_LADDER),
        ("sor", Topic.ORDERS),
        ("trades", Topic.TRADES),
        ("spl", Topic.PNL),
        ("summary", Topic.ACCOUNT_SUMMARY),
        ("ld", Topic.ACCOUNT_LEDGER),
    ],
)
def test_topic_names_and_aliases(name: str, topic: Topic) -> None:
    assert parse_topic(name) is topic


def test_strict_topic_codes() -> None:
    assert topic_entry("md", aliases=False).topic is Topic.MARKET_DATA
    with pytest.raises(InvalidArgument, match="must be one of md, mh, bd"):
        topic_entry("orders", aliases=False)
    with pytest.raises(InvalidArgument, match="got 'quotes'"):
        parse_topic("quotes")


WORDS: list[tuple[str, Spec]] = [
    ("md:265598", MarketDataSpec(265598)),
    ("md:265598:31,84,86", MarketDataSpec(265598, fields=("31", "84", "86"))),
    ("md:265598:exchange=NASDAQ", MarketDataSpec(265598, exchange="NASDAQ")),
    ("mh:265598:2d", MarketHistorySpec(265598, period="2d")),
    ("mh:265598:1d:1min", MarketHistorySpec(265598, bar="1min")),
    ("mh:265598:source=midpoint", MarketHistorySpec(265598, source="midpoint")),
    ("ladder:DU1234567:265598", PriceLadderSpec("DU1234567", 265598)),
    ("orders", OrdersSpec()),
    ("orders:filters=Submitted,Filled", OrdersSpec(filters=("Submitted", "Filled"))),
    ("trades:realtime_only=true:days=3", TradesSpec(realtime_only=True, days=3)),
    ("pnl", PnlSpec()),
    ("summary:DU1:keys=NetLiquidation", AccountSummarySpec("DU1", keys=("NetLiquidation",))),
    ("ledger:DU1", AccountLedgerSpec("DU1")),
]


@pytest.mark.parametrize(("word", "spec"), WORDS)
def test_words_parse_and_print(word: str, spec: Spec) -> None:
    assert parse_spec_word(word).to_spec() == spec
    assert format_spec_word(spec) == word


def test_word_aliases_and_camel_case() -> None:
    assert parse_spec_word("smh:1:outsideRth=yes").to_spec() == MarketHistorySpec(
        1, outside_rth=True
    )
    assert parse_spec_word("sor:filters=submitted").to_spec() == OrdersSpec(filters=("Submitted",))


def test_symbols_are_left_to_the_caller() -> None:
    word = parse_spec_word("ladder:DU1:AAPL", symbols=True)
    assert word.instrument == "AAPL"
    assert word.to_spec(265598) == PriceLadderSpec("DU1", 265598)
    with pytest.raises(InvalidArgument, match="positive contract id"):
        parse_spec_word("md:AAPL")


@pytest.mark.parametrize(
    ("word", "fragment"),
    [
        ("quotes:1", "unknown stream 'quotes'"),
        ("md", "md takes 1 to 2 argument(s)"),
        ("md:1:31:84", "md takes 1 to 2"),
        ("md::31", "empty argument"),
        ("md:1:nope=2", "md has no option 'nope' (allowed: fields, exchange)"),
        ("mh:1:1d:period=2d", "mh has no option 'period'"),
        ("md:1:exchange=X:exchange=Y", "given twice"),
        ("md:1:exchange=NASDAQ:31", "after a name=value"),
        ("trades:days=x", "days: must be an integer"),
        ("trades:days=9", "from 1 to 7"),
        ("trades:realtime_only=maybe", "true or false"),
        ("mh:1:1d:7min", "bar: must be one of"),
        ("md:A$B", "positive contract id"),
        ("orders:filters=,", "at least one comma-separated item"),
    ],
)
def test_bad_words(word: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_spec_word(word)
    assert fragment in str(info.value)


def test_bad_symbol_word() -> None:
    with pytest.raises(InvalidArgument, match="neither a conid nor a symbol"):
        parse_spec_word("md:A$B", symbols=True)
    with pytest.raises(InvalidArgument, match="must be a string"):
        parse_spec_word(265598)  # type: ignore[arg-type]


def test_spec_objects() -> None:
    spec = PriceLadderSpec("DU1", 265598, exchange="ARCA")
    assert spec_to_args(spec) == {
        "topic": "bd",
        "account": "DU1",
        "conid": 265598,
        "exchange": "ARCA",
    }
    assert spec_from_dict(spec_to_args(spec)) == spec
    assert spec_from_args("tr", {"realtimeOnly": True, "days": None}) == TradesSpec(
        realtime_only=True
    )
    assert spec_from_args(Topic.MARKET_DATA, {"conid": 1, "fields": [31, "84"]}) == (
        MarketDataSpec(1, fields=("31", "84"))
    )
    with pytest.raises(InvalidArgument, match="account: is required for topic 'sd'"):
        spec_from_args("sd", {})
    with pytest.raises(InvalidArgument, match=r"unknown member\(s\) conid for topic 'pl'"):
        spec_from_args("pl", {"conid": 1})
    with pytest.raises(InvalidArgument, match="topic"):
        spec_from_dict({"conid": 1})
    with pytest.raises(InvalidArgument, match="must be an object"):
        spec_from_dict(["md"])


def test_keys() -> None:
    assert parse_key("md:265598") == StreamKey(Topic.MARKET_DATA, "265598")
    assert parse_key("or") is StreamKey.of(Topic.ORDERS, "")
    assert parse_key(" sd:DU1 ") == StreamKey(Topic.ACCOUNT_SUMMARY, "DU1")
    for bad, fragment in [
        ("md", "needs a conid"),
        ("sd", "needs an account"),
        ("or:x", "have no ident"),
        ("md:AAPL", "is a conid"),
        ("zz:1", "must be one of"),
        ("orders", "must be one of"),
    ]:
        with pytest.raises(InvalidArgument, match=fragment):
            parse_key(bad)
    with pytest.raises(InvalidArgument):
        parse_key(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("smd+265598", "md:265598"),
        ("smd+265598@NASDAQ", "md:265598"),
        ("umh+265598", "mh:265598"),
        ("sbd+DU1+265598+ARCA", "bd:DU1"),
        ("sor", "or"),
        ("str+{}", "tr"),
        ("ssd+DU1", "sd:DU1"),
        ("sld+DU1+{}", "ld:DU1"),
    ],
)
def test_key_from_wire_topic(topic: str, key: str) -> None:
    assert key_from_topic(topic) == parse_key(key)


@pytest.mark.parametrize("topic", [None, "", "sts", "system", "smd", "smd+", "sorx", "szz+1"])
def test_no_key_from_other_topics(topic: str | None) -> None:
    assert key_from_topic(topic) is None


_token = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6)
_account = st.from_regex(r"[A-Za-z0-9._-]{1,10}", fullmatch=True)
_conid = st.integers(min_value=1, max_value=10**9)
_names = st.lists(st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True), max_size=3).map(tuple)


def _exchange() -> st.SearchStrategy[str | None]:
    return st.none() | _token.filter(lambda t: not t.isdigit())


SPECS: st.SearchStrategy[Spec] = st.one_of(
    st.builds(
        MarketDataSpec,
        _conid,
        fields=st.lists(st.integers(1, 9999), min_size=1, max_size=5).map(
            lambda ids: tuple(str(i) for i in ids)
        ),
        exchange=_exchange(),
    ),
    st.builds(
        MarketHistorySpec,
        _conid,
        exchange=_exchange(),
        period=st.sampled_from(["1d", "2h", "30min", "3w", "1y"]),
        bar=st.sampled_from(HISTORY_BARS),
        outside_rth=st.booleans(),
        source=st.sampled_from(["midpoint", "trades", "bid_ask", "bid", "ask"]),
        format=st.sampled_from(["%o/%c/%h/%l/%v", "%h/%l", "%c"]),
    ),
    st.builds(PriceLadderSpec, _account, _conid, exchange=_exchange()),
    st.builds(OrdersSpec, filters=st.lists(st.sampled_from(ORDER_FILTERS), max_size=3)),
    st.builds(TradesSpec, realtime_only=st.booleans(), days=st.integers(1, 7)),
    st.just(PnlSpec()),
    st.builds(AccountSummarySpec, _account, keys=_names, fields=_names),
    st.builds(AccountLedgerSpec, _account, keys=_names, fields=_names),
)


@given(SPECS)
def test_every_spec_round_trips_through_a_word_and_an_object(spec: Spec) -> None:
    word = format_spec_word(spec)
    assert parse_spec_word(word).to_spec() == spec
    args: dict[str, Any] = spec_to_args(spec)
    assert spec_from_dict(args) == spec
    assert parse_key(str(spec.key)) == spec.key
