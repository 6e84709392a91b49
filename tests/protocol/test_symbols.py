"""The instrument grammar shared by the library, the CLI and the service."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.symbols import ComboLeg, QueryKind, SecType, parse_instrument


@pytest.mark.parametrize(
    ("text", "kind", "symbol"),
    [
        ("AAPL", QueryKind.SYMBOL, "AAPL"),
        (" aapl ", QueryKind.SYMBOL, "AAPL"),
        ("ES", QueryKind.SYMBOL, "ES"),
        ("BRK.B", QueryKind.SYMBOL, "BRK.B"),
        ("EUR.USD", QueryKind.FX, "EUR"),
        ("ESZ6", QueryKind.FUTURE, "ES"),
        ("CLF27", QueryKind.FUTURE, "CL"),
        ("ES 202612", QueryKind.FUTURE, "ES"),
        ("AAPL 20261218 200 C", QueryKind.OPTION, "AAPL"),
        ("265598", QueryKind.CONID, ""),
    ],
)
def test_kinds(text: str, kind: QueryKind, symbol: str) -> None:
    q = parse_instrument(text)
    assert q.kind is kind and q.symbol == symbol


def test_fields() -> None:
    fut = parse_instrument("ESZ6")
    assert (fut.month, fut.year, fut.sec_type) == (12, "6", SecType.FUT)
    assert fut.matches_year(2026) and not fut.matches_year(2027)
    opt = parse_instrument("aapl 20261218 200.5 put")
    assert (opt.expiry, opt.strike, opt.right, opt.month, opt.year) == (
        "20261218",
        200.5,
        "P",
        12,
        "2026",
    )
    fx = parse_instrument("usd.jpy")
    assert (fx.symbol, fx.currency, fx.sec_type, fx.text) == ("USD", "JPY", SecType.CASH, "USD.JPY")
    conid = parse_instrument("265598@smart")
    assert (conid.conid, conid.exchange) == (265598, "SMART")
    typed = parse_instrument("SPX IND")
    assert (typed.symbol, typed.sec_type) == ("SPX", SecType.IND)
    combo = parse_instrument("28812380;;;265598/1,272093/-1")
    assert combo.kind is QueryKind.COMBO and combo.conid == 28812380
    assert combo.legs == (ComboLeg(265598, 1), ComboLeg(272093, -1))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "AAPL 2026 200 C",
        "AAPL 20261318 200 C",
        "AAPL 20261218 -5 C",
        "AAPL 20261218 nan C",
        "AAPL 20261218 200 X",
        "ES 202613",
        "AAPL FOO",
        "$$$",
        "28812380;;;265598/0,1/1",
        "A B C",
    ],
)
def test_bad_input_names_the_problem(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_instrument(text)
    assert info.value.argument == "instrument"


def test_not_a_string() -> None:
    with pytest.raises(InvalidArgument):
        parse_instrument(265598)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_property_any_text_parses_or_raises_invalid_argument(text: str) -> None:
    try:
        q = parse_instrument(text)
    except InvalidArgument:
        return
    assert q.kind in QueryKind
    assert q.text == q.text.strip().upper() or q.kind is QueryKind.COMBO
