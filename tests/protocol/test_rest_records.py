"""Typed records parsed from REST answers: the documented shapes, and any JSON never crashes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ibstream.protocol.contracts import (
    Contract,
    ContractDetails,
    FutureContract,
    StockListing,
    Strikes,
    opt_int,
)
from ibstream.protocol.portfolio import PortfolioAccount, Position, parse_ledger, parse_summary
from ibstream.state.positions import PositionBook

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    ["conid", "con_id", "symbol", "sections", "secType", "months", "exchange", "position",
     "mktPrice", "strike", "putOrCall", "right", "expirationDate", "contracts", "amount",
     "isNull", "call", "put", "accountId", "id", "multiplier", "valid_exchanges"]
)  # fmt: skip
json_dicts = st.dictionaries(keys | st.text(max_size=6), json_values, max_size=10)


def test_search_result() -> None:
    c = Contract.from_json(
        {"conid": "265598", "symbol": "AAPL", "companyName": "APPLE INC", "description": "NASDAQ",
         "sections": [{"secType": "STK"}, {"secType": "OPT", "months": "DEC26;JAN27",
                       "exchange": "SMART;AMEX"}, {"secType": "CFD", "conid": "143669519"}]}
    )  # fmt: skip
    assert c is not None and c.conid == 265598 and c.sec_types == ("STK", "OPT", "CFD")
    opt = c.section("OPT")
    assert opt is not None and opt.months == ("DEC26", "JAN27") and opt.exchanges[0] == "SMART"
    assert c.section("CFD").conid == 143669519  # type: ignore[union-attr]
    assert c.section("FUT") is None
    assert Contract.from_json({"symbol": "X"}) is None


def test_details_both_shapes() -> None:
    a = ContractDetails.from_json(
        {"con_id": 1, "instrument_type": "FUT", "multiplier": "50", "maturity_date": "20261218",
         "valid_exchanges": "CME,QBALGO", "underlying_con_id": 0}
    )  # fmt: skip
    assert a is not None and (a.sec_type, a.multiplier, a.expiry) == ("FUT", 50.0, "20261218")
    assert a.valid_exchanges == ("CME", "QBALGO") and a.underlying_conid is None
    b = ContractDetails.from_json(
        {"conid": 2, "secType": "OPT", "right": "CALL", "strike": 200.0, "maturityDate": "20261218",
         "desc1": "AAPL", "desc2": "DEC 18 '26 200 Call", "validExchanges": "SMART"}
    )  # fmt: skip
    assert b is not None and (b.right, b.strike, b.description) == (
        "C",
        200.0,
        "AAPL DEC 18 '26 200 Call",
    )


def test_futures_stocks_strikes_portfolio() -> None:
    f = FutureContract.from_json(
        {"symbol": "ES", "conid": 5, "expirationDate": 20261218, "ltd": 20261217}
    )
    assert f is not None and f.month == "202612" and f.last_trading_day == "20261217"
    s = StockListing.from_json(
        "AAPL", {"name": "APPLE", "assetClass": "STK",
                 "contracts": [{"conid": 1, "exchange": "NASDAQ", "isUS": True}, {"bad": 1}]}
    )  # fmt: skip
    assert [(x.conid, x.is_us) for x in s.listings] == [(1, True)]
    assert Strikes.from_json({"call": [210, "200", None], "put": []}) == Strikes((200.0, 210.0), ())
    p = Position.from_json({"conid": 3, "position": -2, "putOrCall": "P", "acctId": "DU1"})
    assert p is not None and (p.quantity, p.right, p.account) == (-2.0, "P", "DU1")
    acct = PortfolioAccount.from_json({"id": "DU1", "faclient": True})
    assert acct is not None and acct.account_id == "DU1" and acct.is_advisor
    summary = parse_summary({"netliquidation": {"amount": 5.5, "currency": "USD"}, "x": 1,
                             "accountready": {"value": "true", "isNull": True}})  # fmt: skip
    assert summary["netliquidation"].amount == 5.5 and summary["accountready"].amount is None
    ledger = parse_ledger({"USD": {"cashbalance": "1,000.5"}, "BASE": 3})
    assert list(ledger) == ["USD"] and ledger["USD"].cash_balance == 1000.5


@given(json_dicts)
def test_property_parsers_never_raise(d: dict[str, Any]) -> None:
    for parse in (Contract.from_json, ContractDetails.from_json, FutureContract.from_json,
                  PortfolioAccount.from_json, Position.from_json):  # fmt: skip
        parse(d)
    StockListing.from_json("X", d)
    Strikes.from_json(d)
    parse_summary(d)
    parse_ledger(d)
    parse_summary({"k": d})
    parse_ledger({"USD": d})


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(-3, 3)), max_size=8),
       st.lists(st.tuples(st.integers(1, 5), st.integers(-3, 3)), max_size=8))  # fmt: skip
def test_property_position_book_changes_replay_to_the_new_state(
    first: list[tuple[int, int]], second: list[tuple[int, int]]
) -> None:
    def positions(rows: list[tuple[int, int]]) -> list[Position]:
        out = [Position.from_json({"conid": c, "position": q}, "A") for c, q in dict(rows).items()]
        return [p for p in out if p is not None]

    book = PositionBook()
    book.replace_account("A", positions(first))
    state = {p.conid: p.quantity for p in book.of("A")}
    changes = book.replace_account("A", positions(second))
    for ch in changes:
        assert ch.account == "A"
        if ch.current is None:
            state.pop(ch.conid)
        else:
            state[ch.conid] = ch.current.quantity
    assert state == {p.conid: p.quantity for p in book.of("A")}
    assert all(q != 0 for q in state.values())


numberish = st.text(alphabet="-+0123456789.,e ²³¹٣１", max_size=8)


@given(numberish)
def test_property_number_like_text_never_raises(text: str) -> None:
    # "--5" passed the digit check after lstrip("-"), "²" is a digit to str.isdigit(): both
    # reached int() and raised ValueError out of the "never raise" parsers
    for key in ("conid", "position", "strike", "multiplier"):
        Contract.from_json({key: text})
        ContractDetails.from_json({"con_id": text, key: text})
        Position.from_json({"conid": text, key: text})
        FutureContract.from_json({"conid": text, "expirationDate": text})
    assert opt_int(text) is None or str(opt_int(text)).lstrip("-").isascii()


def test_number_like_text_values() -> None:
    assert opt_int("--5") is None and opt_int("²") is None and opt_int("-") is None
    assert opt_int("-5") == -5 and opt_int(" 42 ") == 42 and opt_int("265598") == 265598
