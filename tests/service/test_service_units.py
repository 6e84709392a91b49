"""Pure pieces of the service: encoding, spec parsing, filters, queue policy, settings."""

from __future__ import annotations

import asyncio

import pytest
import strawberry
from multidict import MultiDict

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import OrderUpdate, Trade
from ibstream.protocol.registry import TOPICS
from ibstream.protocol.specs import (
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    StreamKey,
    Topic,
    TradesSpec,
)
from ibstream.service.config import ServiceConfig, is_loopback, load_config
from ibstream.service.graphql import build_schema
from ibstream.service.graphql.subscriptions import STREAMS
from ibstream.service.graphql.types import Execution, SpecInput
from ibstream.service.queue import ConsumerQueue, QueueClosed, QueueOverflow
from ibstream.service.specs import Filters, parse_key, spec_from_dict, spec_to_dict
from ibstream.service.stream import specs_from_query

FRAMES = [
    b'{"topic":"smd+265598","conid":265598,"_updated":1712345678901,"server_id":"q0",'
    b'"31":"C271.60","55":"AAPL","84":"271.59","86":"271.61","88":"1,300","6509":"RpB"}',
    b'{"topic":"smd+265598","conid":265598,"_updated":1712345678902,"31":"H1.5","7059":"N/A"}',
    b'{"topic":"smd+265598","conid":265598}',
    b'{"topic":"smd+8314","conid":8314,"31":"1.2","87":"24.2M","99999":"x"}',
]


def test_spec_round_trip_and_errors() -> None:
    for spec in (
        MarketDataSpec(265598, fields=("31", "84")),
        MarketHistorySpec(265598, bar="1h"),
        OrdersSpec(filters=("Filled",)),
        AccountSummarySpec("DU1"),
    ):
        assert spec_from_dict(spec_to_dict(spec)) == spec
    assert spec_from_dict({"topic": "tr", "realtimeOnly": True}).key.topic is Topic.TRADES
    with pytest.raises(InvalidArgument, match="topic"):
        spec_from_dict({"topic": "xx"})
    with pytest.raises(InvalidArgument, match=r"account.*required"):
        spec_from_dict({"topic": "sd"})
    with pytest.raises(InvalidArgument, match="unknown member"):
        spec_from_dict({"topic": "pl", "conid": 1})
    assert parse_key("md:265598") == StreamKey(Topic.MARKET_DATA, "265598")


def test_filters() -> None:
    [md] = decode(FRAMES[0])
    f = Filters.parse(topics="md", conids=[265598])
    assert f is not None and f.match(md)
    assert not Filters(conids=frozenset({1})).match(md)
    assert Filters(accounts=frozenset({"DU9"})).match(md)  # no account: passes
    assert Filters.parse() is None
    with pytest.raises(InvalidArgument):
        Filters.parse(topics=["nope"])


async def test_queue_conflates_market_data_and_overflows_on_others() -> None:
    overflowed = []
    q = ConsumerQueue(2, on_overflow=lambda: overflowed.append(1))
    a, b, c = (decode(f)[0] for f in FRAMES[:3])
    q.put(a, b"a")
    q.put(b, b"b")
    q.put(c, b"c")  # full: merged into the pending entry of the same conid
    assert len(q) == 2 and q.conflated == 1
    order = OrderUpdate(
        key=StreamKey(Topic.ORDERS, ""),
        account=None,
        order_id=1,
        conid=None,
        status=None,
        changes={},
        raw={},
    )
    q.put(order, b"o")
    assert q.overflowed and overflowed == [1]
    (message,), events = q.take_ws(1 << 20)
    first, merged = message.split(b"\n")
    assert first == b"a" and events == 2 and merged.startswith(b'{"type":"MarketData"')
    with pytest.raises(QueueOverflow, match="never dropped"):
        await q.wait()
    q2 = ConsumerQueue(5)
    q2.close()
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(q2.get(), 1)


def test_config_sources_and_token_rule(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    cfg_file = d / "serve.json"
    cfg_file.write_text('{"port": 9000, "grace": 2, "host": "127.0.0.1"}')
    token_file = d / "token"
    token_file.write_text("file-token-123\n")
    cfg = load_config(
        str(cfg_file),
        env={"IBSTREAM_PORT": "9100", "IBSTREAM_TOKEN_FILE": str(token_file)},
        overrides={"grace": 1.0, "port": None},
    )
    assert (cfg.port, cfg.grace) == (9100, 1.0)
    assert cfg.check() == "file-token-123"
    assert "file-token" not in repr(cfg)
    with pytest.raises(InvalidArgument, match="without a bearer token"):
        ServiceConfig(host="0.0.0.0").check()
    assert ServiceConfig(host="0.0.0.0", token="long-enough-token").check()
    with pytest.raises(InvalidArgument, match="unknown setting"):
        cfg_file.write_text('{"prot": 1}')
        load_config(str(cfg_file), env={})
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("10.0.0.1")


def test_graphql_stream_table_covers_every_topic() -> None:

    assert [row.topic for row in STREAMS] == list(TOPICS)
    assert len({row.name for row in STREAMS}) == len({row.union for row in STREAMS}) == 8


def test_graphql_stream_plan_filters_by_account() -> None:
    """An ``account`` argument that is not a spec member filters events (orders/trades/pnl)."""

    [row] = [r for r in STREAMS if r.name == "trades"]
    specs, convert = row.plan(None, {"account": "DU2"})  # type: ignore[arg-type]
    assert specs == [TradesSpec()]

    def trade(account: str) -> Trade:
        return Trade(
            key=TradesSpec().key,
            execution_id=f"x-{account}",
            account=account,
            conid=1,
            symbol=None,
            side="B",
            size=1.0,
            price=2.0,
            commission=None,
            net_amount=None,
            trade_time_ms=None,
            order_id=None,
            exchange=None,
            raw={},
        )

    assert convert(trade("DU1")) is None
    out = convert(trade("DU2"))
    assert isinstance(out, Execution) and out.execution_id == "x-DU2"
    assert convert(object()) is None  # not a trade
    _, everything = row.plan(None, {"account": None})  # type: ignore[arg-type]
    assert isinstance(everything(trade("DU1")), Execution)


def test_graphql_schema_takes_extra_parts() -> None:
    """The extension hook: extra Query parts merge into the schema; a clash fails loudly."""

    @strawberry.type
    class Extra:
        @strawberry.field
        def answer(self) -> int:
            return 42

    schema = build_schema(ServiceConfig(), queries=(Extra,))
    assert schema.execute_sync("{ answer }").data == {"answer": 42}
    assert "answer" not in build_schema(ServiceConfig()).as_str()

    @strawberry.type
    class Clash:
        @strawberry.field
        def accounts(self) -> int:
            return 1

    with pytest.raises(ValueError, match=r"Query\.accounts is defined by both Query and"):
        build_schema(ServiceConfig(), queries=(Clash,))


def test_graphql_spec_input_has_every_spec_member() -> None:
    """SpecInput names every member of every spec the registry knows (nothing unreachable)."""
    names = {f.python_name for f in SpecInput.__strawberry_definition__.fields}
    members = {m for entry in TOPICS.values() for m in entry.members}
    assert names == members | {"topic"}


def test_long_topic_names_everywhere() -> None:
    """JSON specs, filters and /events queries take the registry's names (orders, smd...)."""
    assert spec_from_dict({"topic": "orders"}) == OrdersSpec()
    assert spec_from_dict({"topic": "smd", "conid": 1}) == MarketDataSpec(1)
    f = Filters.parse(topics="orders,md")
    assert f is not None and f.topics == {"or", "md"}
    with pytest.raises(InvalidArgument, match="unknown quotes"):
        Filters.parse(topics="quotes")
    specs, filters = specs_from_query(
        MultiDict([("topic", "orders,summary,smd"), ("account", "DU1"), ("conid", "5")])
    )
    assert specs == [OrdersSpec(), AccountSummarySpec("DU1"), MarketDataSpec(5)]
    assert filters is not None and filters.topics == {"or", "sd", "md", "session"}
