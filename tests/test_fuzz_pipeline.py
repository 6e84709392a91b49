"""Fuzz campaign over the whole pipeline (issue 11): 0 exceptions allowed.

frame -> ``StreamProtocol`` (decoder, session machine, subscription book) -> live state
(tickers, orders, trades, account, ladders, histories) -> JSON (``serialize``) -> what the service
does per consumer (filters, the hub's encoding, request ids in replies).

Two fuzzers, both seeded by the real frames of the protocol tests (protocol.md's samples):

* a mutation fuzzer (deterministic ``random.Random``): replaces values at random paths of a seed
  frame with hostile ones (``"inf"``, ``1e308``, 2**64, 5,000-digit numbers, 300-deep lists,
  100 KB strings, wrong types...), adds keys, drops keys, duplicates entries, and mutates the
  bytes of the encoded frame (flips, truncation, insertion, invalid UTF-8);
* a hypothesis test composing the same hostile values structurally.

``IBSTREAM_FUZZ_ITERATIONS`` (default 6,000 frames, about 10 s) sets the mutation campaign's
length; a long run: ``IBSTREAM_FUZZ_ITERATIONS=1000000 pytest tests/test_fuzz_pipeline.py``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibstream.protocol.connection import ProtocolConfig, StreamProtocol
from ibstream.protocol.events import MarketData, OrderUpdate
from ibstream.protocol.fields import CONID_MAX, INT64_MAX, INT64_MIN
from ibstream.protocol.lifecycle import SessionState
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    StreamKey,
    Topic,
    TradesSpec,
)
from ibstream.serialize import event_to_json, jsonable
from ibstream.service.specs import Filters, event_account, event_conid, event_topic
from ibstream.state import (
    AccountState,
    MarketHistories,
    Order,
    OrderBook,
    PriceLadders,
    Tickers,
    TradeBook,
)

SID = "e5af95a05fe55041a403680abb434efa"
ACCOUNT = "U25235077"
STS_OK = (
    '{"topic":"sts","args":{"connected":true,"authenticated":true,"established":true,'
    '"competing":false,"message":"","fail":"","username":"u"}}'
)
SYSTEM = '{"topic":"system","success":"u","isFT":false,"isPaper":false}'


def _load_samples() -> dict[str, str]:
    """The protocol.md frame samples of tests/protocol/test_decoding.py (the real frames)."""
    path = Path(__file__).parent / "protocol" / "test_decoding.py"
    spec = importlib.util.spec_from_file_location("_ibstream_decoding_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    samples: dict[str, str] = dict(module.SAMPLES)
    return samples


EXTRA = [
    '{"topic":"sbd+U25235077+265598+SMART","data":[{"row":0,"focus":0,"price":"271.70",'
    '"ask":"300"},{"row":1,"focus":1,"price":"271.65","bid":"100","ask":"200"}]}',
    '{"topic":"smh+265598","serverId":"341115","symbol":"AAPL","data":[{"o":271.1,"c":271.5,'
    '"h":271.9,"l":270.9,"v":1200,"t":1777552110000}],"points":1,"barLength":60}',
    '{"topic":"sld+U25235077","result":[{"key":"LedgerListUSD","secondKey":"USD",'
    '"cashbalance":1000.5,"timestamp":1777552110}]}',
    '{"topic":"ntf","args":[{"id":"1","text":"t","title":"T"}]}',
    '{"topic":"blt","args":{"id":"2","message":"m"}}',
    '{"error":"Bad Request","code":400,"topic":"smd+1"}',
    '{"topic":"str","args":[]}',
    '{"message":"waiting for session"}',
    '{"result":"unsubscribed from summary"}',
]

SEEDS: list[str] = [
    s for s in (*_load_samples().values(), *EXTRA) if "…" not in s
]  # the elided sample is not JSON on purpose; byte mutations cover non-JSON anyway

_DEEP = [0]
for _ in range(300):
    _DEEP = [_DEEP]
HOSTILE: list[Any] = [
    "inf",
    "-inf",
    "nan",
    "NaN",
    "Infinity",
    "1e999",
    "-1e999",
    1e308,
    -1e308,
    1.5,
    0,
    -1,
    2**31,
    2**31 - 1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    "9" * 5000,
    "-" + "9" * 30,
    "",
    "-",
    "N/A",
    "C271.5",
    "H",
    "1,300",
    "24.2M",
    "+0.45%",
    None,
    True,
    False,
    [],
    {},
    [1, 2],
    {"a": {"b": {}}},
    _DEEP,
    "x" * 100_000,
    "\u00e9\u4e2d\U0001f600",
    "DU1234567",
    "Submitted",
]
# Raw JSON number literals orjson refuses (the decoder's fallback must handle them).
RAW_NUMBERS = ["1e999", "-1e999", "9" * 5000, "-" + "9" * 400, "1" + "0" * 400 + ".5"]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = value


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def mutate(rng: random.Random, seed: str) -> bytes:
    """One hostile frame derived from ``seed``."""
    try:
        msg = orjson.loads(seed)
    except orjson.JSONDecodeError:
        msg = None
    kind = rng.random()
    if msg is not None and kind < 0.75:
        msg = copy.deepcopy(msg)
        paths = _paths(msg)
        raw_number: str | None = None
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            path = rng.choice(paths) if paths else ()
            if not path:
                continue
            try:
                if op < 0.6:
                    _set(msg, path, copy.deepcopy(rng.choice(HOSTILE)))
                elif op < 0.7:
                    parent = _get(msg, path[:-1])
                    if isinstance(parent, dict):
                        parent.pop(path[-1], None)
                elif op < 0.8:
                    parent = _get(msg, path[:-1])
                    if isinstance(parent, dict):
                        key = rng.choice(["1" * 5000, "99999999999", "7777", "conid", "orderId"])
                        parent[key] = copy.deepcopy(rng.choice(HOSTILE))
                    elif isinstance(parent, list) and parent:
                        parent.append(copy.deepcopy(rng.choice(parent)))
                elif op < 0.9:
                    raw_number = rng.choice(RAW_NUMBERS)
                    _set(msg, path, "__RAW__")
                else:
                    _set(msg, path, str(_get(msg, path)))
            except (KeyError, IndexError, TypeError):
                continue
            paths = _paths(msg)
        data = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
        if raw_number is not None:
            data = data.replace(b'"__RAW__"', raw_number.encode(), 1)
        return data
    data = bytearray(seed.encode())
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op < 0.5:
            del data[pos:]
        elif op < 0.8:
            data[pos:pos] = rng.choice([b"\x99", b"\\ud800", b"{", b"]", b'"', b",", b"1e999"])
        else:
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
    return bytes(data)


class Pipeline:
    """One StreamProtocol, the live state a client keeps, and the service's per-event work."""

    SPECS = (
        MarketDataSpec(265598),
        MarketHistorySpec(265598),
        PriceLadderSpec(ACCOUNT, 265598),
        OrdersSpec(),
        TradesSpec(),
        PnlSpec(),
        AccountSummarySpec(ACCOUNT),
        AccountLedgerSpec(ACCOUNT),
    )
    FILTERS = (
        Filters.parse(topics="md,or,session", conids=[265598], accounts=[ACCOUNT]),
        Filters.parse(conids=[CONID_MAX]),
    )

    def __init__(self) -> None:
        self.now = 0.0
        self.events = 0
        self.types: Counter[str] = Counter()
        self.frames = 0
        self.reconnects = 0
        self._connect()

    def _connect(self) -> None:
        self.proto = StreamProtocol(ProtocolConfig(max_unauthenticated=None))
        self.tickers = Tickers()
        self.orders = OrderBook()
        self.trades = TradeBook()
        self.account = AccountState()
        self.ladders = PriceLadders()
        self.histories = MarketHistories()
        self.proto.connecting(self.now)
        self.proto.connection_made(self.now, SID)
        for frame in (SYSTEM, STS_OK):
            self.proto.receive_frame(frame.encode(), self.now)
        assert self.proto.state is SessionState.AUTHENTICATED
        for spec in self.SPECS:
            self.proto.subscribe(spec, self.now)
        self.drain()

    def feed(self, frame: bytes) -> None:
        self.now += 0.001
        self.frames += 1
        self.proto.receive_frame(frame, self.now)
        self.drain()
        if self.proto.state is not SessionState.AUTHENTICATED:
            self.reconnects += 1
            self.proto.connection_lost(self.now, 1006, "fuzz")
            self._connect()

    def drain(self) -> None:
        events = self.proto.events_received()
        self.proto.data_to_send()
        self.proto.actions_requested()
        self.events += len(events)
        self.types.update(type(ev).__name__ for ev in events)
        self.tickers.apply_all(events)
        self.orders.apply_all(events)
        self.trades.apply_all(events)
        self.account.apply_all(events)
        self.ladders.apply_all(events)
        self.histories.apply_all(events)
        for ev in events:
            for include_raw in (False, True):
                _check_json(event_to_json(ev, include_raw=include_raw))
            event_topic(ev)
            event_account(ev)
            conid = event_conid(ev)
            assert conid is None or INT64_MIN <= conid <= INT64_MAX
            for f in self.FILTERS:
                assert f is not None
                f.match(ev)

    def check_state(self) -> None:
        """Everything the state hands out encodes, and identities fit their types."""
        for conid, snap in self.tickers.snapshot().items():
            assert 0 < conid <= CONID_MAX
            _check_json(event_to_json(snap))
            _check_json(event_to_json(self._md_snapshot(conid)))
            for value in (snap.last, snap.bid, snap.ask, snap.volume):
                assert value is None or value - value == 0
        for order in self.orders.orders():
            assert INT64_MIN <= order.order_id <= INT64_MAX
            assert order.conid is None or 0 < order.conid <= CONID_MAX
            for value in (order.price, order.filled, order.remaining, order.total_size):
                assert value is None or value - value == 0
            _check_json(event_to_json(order))
            _check_json(event_to_json(self._order_snapshot(order)))
        for trade in self.trades.trades():
            assert trade.conid is None or 0 < trade.conid <= CONID_MAX
            _check_json(event_to_json(trade))
        _check_json(orjson.dumps(jsonable(dict(self.account.pnl))))

    # what the hub sends a consumer joining a live stream (Hub.snapshot_events)
    def _md_snapshot(self, conid: int) -> MarketData:
        ticker = self.tickers[conid]
        return MarketData(
            key=StreamKey.of(Topic.MARKET_DATA, str(conid)),
            conid=conid,
            server_id=ticker.server_id,
            updated_ms=ticker.updated_ms,
            values=dict(ticker.values),
            raw={str(k): v for k, v in ticker.raw.items()},
        )

    def _order_snapshot(self, o: Order) -> OrderUpdate:
        return OrderUpdate(
            key=StreamKey.of(Topic.ORDERS, ""),
            account=o.account,
            order_id=o.order_id,
            conid=o.conid,
            status=o.status.value if o.status is not None else None,
            changes=dict(o.fields),
            raw={},
        )


def _check_json(data: bytes) -> None:
    orjson.loads(data)  # what a consumer does with it


def run_campaign(iterations: int, seed: int = 11) -> Pipeline:
    rng = random.Random(seed)
    pipe = Pipeline()
    for i in range(iterations):
        frame = mutate(rng, rng.choice(SEEDS))
        try:
            pipe.feed(frame)
            if i % 200 == 0:
                pipe.check_state()
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"frame {i} broke the pipeline: {frame[:300]!r}") from exc
    pipe.check_state()
    return pipe


def test_seeds_pass_cleanly() -> None:
    pipe = Pipeline()
    for s in SEEDS:
        pipe.feed(s.encode())
        pipe.check_state()
    assert pipe.events > len(SEEDS)


def test_mutation_campaign_zero_exceptions() -> None:
    iterations = int(os.environ.get("IBSTREAM_FUZZ_ITERATIONS", "6000"))
    pipe = run_campaign(iterations)
    assert pipe.frames >= iterations
    kinds = ", ".join(f"{n} {k}" for k, n in pipe.types.most_common(4))
    print(
        f"\nfuzz: {pipe.frames} frames, {pipe.events} events ({kinds}, "
        f"{pipe.types['ValueRejected']} ValueRejected...), {pipe.reconnects} session resets, "
        "0 exceptions"
    )


hostile = st.sampled_from(HOSTILE) | st.integers(INT64_MIN * 4, INT64_MAX * 4) | st.floats()
entry = st.dictionaries(
    st.sampled_from(
        ["orderId", "conid", "price", "status", "lastExecutionTime_r", "execution_id", "size",
         "order_id", "trade_time_r", "filledQuantity", "acct", "31", "84", "6008", "dpl"]
    ),
    hostile,
    max_size=6,
)  # fmt: skip


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(["sor", "str", "smd+265598", "spl", "sbd+U25235077+265598"]),
    st.lists(entry, max_size=4),
)
def test_structured_hostile_entries(topic: str, entries: list[dict[str, Any]]) -> None:
    if topic.startswith("smd"):
        msg: dict[str, Any] = {"topic": topic, **(entries[0] if entries else {})}
    elif topic == "spl":
        msg = {"topic": topic, "args": {f"{ACCOUNT}.Core": e for e in entries}}
    elif topic.startswith("sbd"):
        msg = {"topic": topic, "data": entries}
    else:
        msg = {"topic": topic, "args": entries}
    # the stdlib encoder writes what orjson will not (ints beyond 64 bits, deep nesting, NaN)
    frame = json.dumps(msg, separators=(",", ":")).encode()
    pipe = Pipeline()
    pipe.feed(frame)
    pipe.check_state()
