"""The pure order-entry core: requests, answers, prompt policy, rails (no event loop)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.orders import (
    Bracket,
    LimitExceeded,
    Limits,
    Modification,
    OcaGroup,
    OrderRequest,
    OrderType,
    PromptPolicy,
    Side,
    TimeInForce,
    TradingConfig,
    TradingDisabled,
)
from ibstream.orders.prompts import Accepted, Decision, Prompt, Prompted, Refused, parse_answer
from ibstream.orders.rails import check_allowed, check_limits
from ibstream.orders.results import Execution, OrderStatusInfo, WhatIf, parse_number

AAPL = 265598


def test_builders_produce_the_wire_form() -> None:
    """Each builder sets the fields IBKR expects for its order type."""
    wire = OrderRequest.stop_limit(AAPL, "sell", 5, 99.5, 99.0, tif="gtc", symbol="AAPL").to_wire(
        "DU1", "c1"
    )
    assert wire == {
        "acctId": "DU1",
        "conid": AAPL,
        "cOID": "c1",
        "orderType": "STOP_LIMIT",
        "side": "SELL",
        "tif": "GTC",
        "outsideRTH": False,
        "quantity": 5.0,
        "price": 99.0,
        "auxPrice": 99.5,
        "ticker": "AAPL",
    }
    trail = OrderRequest.trailing(AAPL, Side.BUY, 1, 2.5, "%").to_wire("DU1", "c2")
    assert (trail["trailingAmt"], trail["trailingType"], trail["orderType"]) == (2.5, "%", "TRAIL")
    cash = OrderRequest.market(AAPL, "BUY", cash_qty=1000).to_wire("DU1", "c3")
    assert cash["cashQty"] == 1000.0 and "quantity" not in cash
    moc = OrderRequest.market_on_close(AAPL, "BUY", 1)
    assert moc.order_type is OrderType.MARKET_ON_CLOSE and moc.tif is TimeInForce.DAY
    child = OrderRequest.limit(AAPL, "SELL", 1, 10.0).to_wire("DU1", "k", parent_coid="p", oca=True)
    assert child["parentId"] == "p" and child["isSingleGroup"] is True


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"order_type": "LMT", "quantity": 1}, "price"),
        ({"order_type": "MKT", "quantity": 1, "price": 1.0}, "price"),
        ({"order_type": "STP", "quantity": 1}, "aux_price"),
        ({"order_type": "MKT", "quantity": 1, "aux_price": 1.0}, "aux_price"),
        ({"order_type": "MKT"}, "quantity"),
        ({"order_type": "MKT", "quantity": 1, "cash_qty": 5.0}, "quantity"),
        ({"order_type": "STP", "cash_qty": 5.0, "aux_price": 1.0}, "cash_qty"),
        ({"order_type": "TRAIL", "quantity": 1}, "trailing_amount"),
        ({"order_type": "MKT", "quantity": 1, "trailing_amount": 1.0}, "trailing_amount"),
        (
            {"order_type": "TRAIL", "quantity": 1, "trailing_amount": 150.0, "trailing_type": "%"},
            "trailing_amount",
        ),
        ({"order_type": "MOC", "quantity": 1, "tif": "GTC"}, "tif"),
        ({"order_type": "LOC", "quantity": 1, "price": 1.0, "outside_rth": True}, "outside_rth"),
        ({"order_type": "MKT", "quantity": -1}, "quantity"),
        ({"order_type": "MKT", "quantity": math.nan}, "quantity"),
        ({"order_type": "MKT", "quantity": True}, "quantity"),
        ({"order_type": "XYZ", "quantity": 1}, "order_type"),
        ({"order_type": "MKT", "quantity": 1, "tif": "FOREVER"}, "tif"),
        ({"order_type": "MKT", "quantity": 1, "coid": "has space"}, "coid"),
        ({"order_type": "MKT", "quantity": 1, "account": ""}, "account"),
    ],
)
def test_invalid_requests_are_refused_with_the_argument_named(kwargs: dict, argument: str) -> None:  # type: ignore[type-arg]
    """Every combination the gateway would refuse raises InvalidArgument naming the argument."""
    with pytest.raises(InvalidArgument) as info:
        OrderRequest(conid=AAPL, side=Side.BUY, **kwargs)
    assert info.value.argument == argument
    with pytest.raises(InvalidArgument):
        OrderRequest(conid=0, side=Side.BUY, order_type=OrderType.MARKET, quantity=1)


def test_bracket_orders_and_checks() -> None:
    """A bracket builds opposite-side children; prices on the wrong side are refused."""
    entry = OrderRequest.limit(AAPL, "BUY", 10, 100.0)
    tp, sl = Bracket(entry=entry, take_profit=110.0, stop_loss=95.0).orders()[1:]
    assert (tp.side, tp.order_type, tp.price, tp.quantity) == (
        Side.SELL,
        OrderType.LIMIT,
        110.0,
        10,
    )
    assert (sl.side, sl.order_type, sl.aux_price) == (Side.SELL, OrderType.STOP, 95.0)
    for bad in (
        {"take_profit": 90.0},
        {"stop_loss": 105.0},
        {},
        {"take_profit": 94.0, "stop_loss": 95.0},
    ):
        with pytest.raises(InvalidArgument):
            Bracket(entry=entry, **bad)
    with pytest.raises(InvalidArgument):
        Bracket(entry=OrderRequest.market(AAPL, "BUY", cash_qty=100), take_profit=1.0)
    with pytest.raises(InvalidArgument):
        OcaGroup((entry,))
    with pytest.raises(InvalidArgument):
        OcaGroup((entry, OrderRequest.limit(AAPL, "SELL", 1, 1.0, account="DU2")))


def test_modification_applies_only_given_values() -> None:
    """A modification overrides only what it names; an empty one is refused."""
    base = {"conid": AAPL, "orderType": "LMT", "price": 1.0, "quantity": 5, "tif": "DAY"}
    assert Modification(price=2.0).apply(base) == base | {"price": 2.0}
    assert Modification(tif="gtc", quantity=7).apply(base) == base | {"tif": "GTC", "quantity": 7.0}
    with pytest.raises(InvalidArgument):
        Modification()


def test_parse_answer_shapes() -> None:
    """Prompts, successes (with or without local_order_id) and errors are told apart."""
    prompt = parse_answer(
        [{"id": "r1", "message": ["Sure?"], "isSuppressed": False, "messageIds": ["o163"]}]
    )
    assert prompt == Prompted(Prompt("r1", ("Sure?",), ("o163",)))
    ok = parse_answer([{"order_id": "12", "order_status": "Submitted", "local_order_id": "c1"}])
    assert isinstance(ok, Accepted) and ok.orders[0].order_id == 12 and ok.orders[0].coid == "c1"
    assert parse_answer({"error": "bad"}) == Refused("bad")
    assert parse_answer([{"error": "bad"}]) == Refused("bad")
    for junk in (None, [], "text", [1], [{"order_id": "x"}], [{"foo": 1}]):
        unread = parse_answer(junk)
        assert isinstance(unread, Refused) and not unread.definite  # no proof of anything


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_parse_answer_never_raises_and_never_invents_success(body: object) -> None:
    """Any JSON: a classification, never an exception; a success only with order ids."""
    answer = parse_answer(body)
    if isinstance(answer, Accepted):
        assert answer.orders and all(isinstance(p.order_id, int) for p in answer.orders)


def test_prompt_policy_decisions() -> None:
    """Accepted ids confirm only when all ids are listed; else the callback, else decline."""
    p = Prompt("r", ("?",), ("o163", "o354"))
    assert PromptPolicy(accept=["o163", "o354"]).decide(p) is Decision.ACCEPT
    assert PromptPolicy(accept=["o163"]).decide(p) is Decision.DECLINE
    assert PromptPolicy(accept=["o163"], callback=lambda pr, w: True).decide(p) is Decision.ASK
    assert PromptPolicy(accept=["x"]).decide(Prompt("r", ("?",), ())) is Decision.DECLINE
    # two questions, one id: the question without an id was accepted by nobody
    two = Prompt("r", ("Price far from the market?", "Order size over the limit?"), ("o163",))
    assert PromptPolicy(accept=["o163"]).decide(two) is Decision.DECLINE
    assert PromptPolicy(accept=["o163"], callback=lambda pr, w: True).decide(two) is Decision.ASK
    both = Prompt("r", two.messages, ("o163", "o383"))
    assert PromptPolicy(accept=["o163", "o383"]).decide(both) is Decision.ACCEPT
    for bad in ({"accept": "o163"}, {"accept": [""]}, {"max_chain": 0}, {"callback": 3}):
        with pytest.raises(InvalidArgument):
            PromptPolicy(**bad)  # type: ignore[arg-type]


def test_rails() -> None:
    """Off by default, read-only wins, limits refuse before sending."""
    with pytest.raises(TradingDisabled, match="trading is off"):
        check_allowed(TradingConfig(), "placing")
    with pytest.raises(TradingDisabled, match="read-only"):
        check_allowed(TradingConfig(enabled=True, read_only=True), "placing")
    check_allowed(TradingConfig(enabled=True), "placing")
    limits = Limits(
        max_quantity=10, max_notional=1000, allowed_conids=[AAPL], allowed_symbols=["aapl"]
    )
    check_limits(limits, OrderRequest.limit(AAPL, "BUY", 10, 100.0, symbol="AAPL"))
    cases = [
        (OrderRequest.limit(AAPL, "BUY", 11, 1.0, symbol="AAPL"), "max_quantity"),
        (OrderRequest.limit(AAPL, "BUY", 10, 101.0, symbol="AAPL"), "max_notional"),
        (OrderRequest.market(AAPL, "BUY", 1, symbol="AAPL"), "max_notional"),  # no price known
        (OrderRequest.limit(1, "BUY", 1, 1.0, symbol="AAPL"), "allowed_conids"),
        (OrderRequest.limit(AAPL, "BUY", 1, 1.0, symbol="MSFT"), "allowed_symbols"),
        (OrderRequest.limit(AAPL, "BUY", 1, 1.0), "allowed_symbols"),
        (OrderRequest.market(AAPL, "BUY", cash_qty=5000, symbol="AAPL"), "max_quantity"),
    ]
    for order, limit in cases:
        with pytest.raises(LimitExceeded) as info:
            check_limits(limits, order)
        assert info.value.limit == limit
    check_limits(limits, OrderRequest.market(AAPL, "BUY", 1, symbol="AAPL"), reference_price=50.0)
    with pytest.raises(LimitExceeded, match="max_quantity"):
        check_limits(
            Limits(max_quantity=10), OrderRequest.market(AAPL, "BUY", cash_qty=2000), 100.0
        )
    for bad in ({"max_quantity": 0}, {"max_notional": math.inf}, {"allowed_symbols": "AAPL"}):
        with pytest.raises(InvalidArgument):
            Limits(**bad)  # type: ignore[arg-type]
    for bad_cfg in ({"enabled": 1}, {"max_posts": 0}, {"lookup_delay": -1}, {"coid_prefix": "a-b"}):
        with pytest.raises(InvalidArgument):
            TradingConfig(**bad_cfg)  # type: ignore[arg-type]


def test_results_parse_ibkr_text_values() -> None:
    """What-if values are text with separators and currencies; status and trades are flat."""
    assert parse_number("1,030.50 USD") == 1030.5 and parse_number("-12") == -12.0
    assert parse_number(None) is None and parse_number("n/a") is None and parse_number(True) is None
    w = WhatIf.parse(
        {
            "amount": {
                "amount": "2,716.00 USD (10 Shares)",
                "commission": "1.00 USD",
                "total": "2,717.00 USD",
            },
            "initial": {"current": "0", "change": "679", "after": "679"},
            "warn": "w",
        }
    )
    assert (w.amount, w.commission, w.total, w.initial_margin.after, w.warning) == (
        2716.0,
        1.0,
        2717.0,
        679.0,
        "w",
    )
    assert WhatIf.parse("garbage").amount is None
    s = OrderStatusInfo.parse(
        5, {"order_status": "Submitted", "conid": "265598", "limit_price": "1.50"}
    )
    assert (s.order_id, s.status, s.conid, s.limit_price) == (5, "Submitted", AAPL, 1.5)
    e = Execution.parse(
        {"execution_id": "x1", "order_id": 7, "size": 2.0, "price": "10.5", "trade_time_r": 1}
    )
    assert e is not None and (e.order_id, e.size, e.price, e.time_ms) == (7, 2.0, 10.5, 1)
    assert Execution.parse({"no": "id"}) is None


def test_core_modules_are_pure() -> None:
    """The order-entry core imports no asyncio, sockets, threads, clocks or aiohttp."""
    import ast
    from pathlib import Path

    import ibstream.orders

    root = Path(ibstream.orders.__file__).parent
    forbidden = {"asyncio", "socket", "threading", "time", "aiohttp", "selectors"}
    for name in ("model", "prompts", "reconcile", "rails", "results", "errors"):
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = {node.module.split(".")[0]}
            else:
                continue
            assert not mods & forbidden, f"orders/{name}.py imports {mods & forbidden}"
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(
                    ("ibstream.aio", "ibstream.orders.trading", "ibstream.orders.handle")
                ), name


def test_describe_and_small_helpers() -> None:
    """Descriptions name what is sent; coids are checked."""
    trail = OrderRequest.trailing(AAPL, "SELL", 3, 1.5, outside_rth=True, symbol="AAPL")
    assert trail.describe() == "SELL 3 AAPL TRAIL trail 1.5amt DAY outside RTH"
    cash = OrderRequest.market(AAPL, "BUY", cash_qty=250.0)
    assert cash.describe() == "BUY cash 250 conid=265598 MKT DAY"
    assert cash.with_coid("x-1").coid == "x-1"
    with pytest.raises(InvalidArgument):
        cash.with_coid("")
    assert Side.BUY.opposite is Side.SELL and Side.SELL.opposite is Side.BUY
    stop = OrderRequest.stop(AAPL, "SELL", 1, 90.0, exchange="SMART")
    assert stop.reference_price == 90.0 and stop.to_wire("DU1", "c")["listingExchange"] == "SMART"
    sell = Bracket(
        entry=OrderRequest.limit(AAPL, "SELL", 2, 100.0), take_profit=90.0, stop_loss=105.0
    )
    assert [o.side for o in sell.orders()] == [Side.SELL, Side.BUY, Side.BUY]
    with pytest.raises(InvalidArgument):
        Bracket(entry=OrderRequest.limit(AAPL, "SELL", 2, 100.0), stop_loss=95.0)
    with pytest.raises(InvalidArgument):
        Modification(outside_rth="yes")  # type: ignore[arg-type]
    assert Modification(outside_rth=True, trailing_amount=2.0).apply({}) == {
        "outsideRTH": True,
        "trailingAmt": 2.0,
    }


def test_a_modification_counts_as_done_only_when_the_status_shows_it() -> None:
    """After a lost modify answer, only values the status shows can prove the change: a new
    time in force must be visible, an outside-RTH flag or trailing amount never is."""
    from ibstream.orders._modify import _modified

    info = OrderStatusInfo.parse(
        7, {"order_id": 7, "limit_price": "10.00", "total_size": "3.0", "tif": "DAY"}
    )
    assert _modified(info, Modification(price=10.0))
    assert not _modified(info, Modification(price=10.5))
    assert _modified(info, Modification(tif="DAY"))
    assert not _modified(info, Modification(tif="GTC"))
    assert not _modified(info, Modification(outside_rth=True))
    assert not _modified(info, Modification(trailing_amount=0.5))
