"""Display decimals from price increments (pure): the usual ticks, odd ones, absurd values and
the rules objects of IBKR's contract rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.protocol.ticks import MAX_DECIMALS, PriceRules, decimals_for_increment


@pytest.mark.parametrize(
    ("increment", "decimals"),
    [
        (0.00005, 5),  # FX majors (half a pip)
        (0.0001, 4),
        (0.01, 2),  # US stocks
        (0.25, 2),  # ES futures
        (0.005, 3),  # JPY crosses
        (1 / 64, 6),  # bond futures (0.015625)
        (1 / 32, 5),  # 0.03125
        (0.1, 1),
        (0.5, 1),
        (1, 0),
        (5, 0),
        (25.0, 0),
        ("0.01", 2),
        (" 0.00005 ", 5),
        ("1E-4", 4),
        (1 / 3, MAX_DECIMALS),  # no finite expansion: capped
        (1e-9, MAX_DECIMALS),
    ],
)
def test_usual_and_odd_increments(increment: object, decimals: int) -> None:
    assert decimals_for_increment(increment) == decimals


@pytest.mark.parametrize(
    "absurd",
    [
        0,
        0.0,
        -0.01,
        -1,
        math.nan,
        math.inf,
        -math.inf,
        1e-12,
        1e9,
        "",
        "abc",
        "nan",
        None,
        True,
        False,
        [0.01],
        {"increment": 0.01},
        b"0.01",
    ],
)
def test_absurd_increments_give_none(absurd: object) -> None:
    assert decimals_for_increment(absurd) is None


@given(st.floats(allow_nan=True, allow_infinity=True) | st.text() | st.integers())
def test_any_value_gives_a_bounded_count_or_none(value: object) -> None:
    found = decimals_for_increment(value)
    assert found is None or 0 <= found <= MAX_DECIMALS


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=8))
def test_a_decimal_increment_gives_its_own_decimals(mantissa: int, exponent: int) -> None:
    increment = mantissa / 10**exponent
    found = decimals_for_increment(increment)
    text = f"{increment:.{exponent}f}".rstrip("0").rstrip(".")
    expected = len(text.split(".")[1]) if "." in text else 0
    assert found == expected
    assert round(round(increment, found) - increment, 12) == 0  # the decimals show the tick


def test_rules_from_info_and_rules_and_from_a_bare_rules_object() -> None:
    body = {
        "con_id": 12087792,
        "symbol": "EUR",
        "rules": {
            "increment": 0.00005,
            "incrementDigits": 5,
            "incrementRules": [{"lowerEdge": 0.0, "increment": 0.00005}],
        },
    }
    rules = PriceRules.from_json(body)
    assert rules.conid == 12087792 and rules.increment == 0.00005 and rules.digits == 5
    assert rules.decimals() == 5 and rules.decimals(1.0861) == 5 and rules.known
    bare = PriceRules.from_json({"increment": "0.01", "incrementDigits": 2}, conid=265598)
    assert bare.conid == 265598 and bare.decimals() == 2 and bare.ladder == ()


def test_a_price_ladder_picks_the_row_of_the_price() -> None:
    rules = PriceRules.from_json(
        {
            "incrementRules": [
                {"lowerEdge": 1.0, "increment": 0.01},
                {"lowerEdge": 0.0, "increment": 0.0001},
                {"lowerEdge": "x", "increment": 0.5},  # bad rows are skipped
                {"lowerEdge": 0.0, "increment": -1},
                "junk",
            ]
        }
    )
    assert rules.ladder == ((0.0, 0.0001), (1.0, 0.01))
    assert rules.increment == 0.0001  # no "increment": the smallest of the ladder
    assert rules.decimals(0.5) == 4 and rules.decimals(12.5) == 2 and rules.decimals() == 4
    assert rules.decimals(math.nan) == 4


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"rules": {}},
        {"increment": 0},
        {"increment": "abc", "incrementDigits": 99},
        {"rules": "none"},
        {"incrementRules": "x", "incrementDigits": True},
    ],
)
def test_rules_without_a_usable_increment_are_unknown(body: dict[str, object]) -> None:
    rules = PriceRules.from_json(body)
    assert rules.decimals() is None and not rules.known


def test_increment_digits_are_the_fallback() -> None:
    rules = PriceRules.from_json({"increment": None, "incrementDigits": 3})
    assert rules.decimals() == 3 and rules.known
