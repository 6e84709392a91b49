"""Market-data field catalogue and value parsing (protocol.md §6)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from ibstream.protocol.fields import (
    FIELDS,
    Availability,
    FieldKind,
    field_by_name,
    parse_availability,
    parse_value,
    value_parser,
)

VALUES: list[tuple[int, Any, Any]] = [
    # prices
    (31, "271.67", 271.67),
    (31, "C271.20", 271.2),
    (31, "H12.5", 12.5),
    (31, "N/A", None),
    (31, "", None),
    (31, "-", None),
    (31, 271.5, 271.5),
    (31, 271, 271.0),
    (84, "1.2E2", 120.0),
    (82, "-1.25", -1.25),
    (31, "1,234.50", 1234.5),
    (31, "Cabc", "abc"),
    (31, "garbage", "garbage"),
    # sizes and volumes
    (88, "1,300", 1300.0),
    (88, "3,500", 3500.0),
    (85, "1.5K", 1500.0),
    (87, "24.2M", 24200000.0),
    (87, "512K", 512000.0),
    (87, "1.1B", 1.1e9),
    (7059, "100", 100.0),
    (7059, 100, 100.0),
    (88, "N/A", None),
    (87, "lots", "lots"),
    (7762, "2.0201311791131118E8", 2.0201311791131118e8),
    # percentages
    (83, 0.56, 0.56),
    (83, -1.63, -1.63),
    (83, "0.56", 0.56),
    (83, "+0.45%", 0.45),
    (83, "-1.2%", -1.2),
    (83, " 2.5 % ", 2.5),
    # other numbers
    (7289, "2.7T", 2.7e12),
    (7290, None, None),
    # integers
    (6008, "265598", 265598),
    (6008, 265598, 265598),
    (6008, "1.5", 1.5),
    # text
    (55, "AAPL", "AAPL"),
    (55, "-", None),
    (6119, "q1", "q1"),
    (7051, 5, 5),
    (7051, [1, 2], "[1, 2]"),
    # flags
    (7184, "1", True),
    (7184, "0", False),
    (7768, 1, True),
    (7768, False, False),
    (7768, "maybe", "maybe"),
    # unknown field ids: number if possible, else text, never dropped
    (99999, "1.5", 1.5),
    (99999, 7, 7.0),
    (99999, "abc", "abc"),
    (99999, "N/A", None),
    (99999, {"a": 1}, "{'a': 1}"),
]


@pytest.mark.parametrize(("field_id", "raw", "expected"), VALUES)
def test_parse_value(field_id: int, raw: Any, expected: Any) -> None:
    """Wire values are parsed by the kind of their field."""
    assert parse_value(field_id, raw) == expected


def test_parse_value_exponent_and_types() -> None:
    """Exponent notation and numbers sent as numbers give floats; bools stay bools for flags."""
    value = parse_value(7762, "1.2e5")
    assert isinstance(value, float) and value == 120000.0
    # not finite: kept as the text, like any value that does not parse (issue 11)
    assert parse_value(31, "nan") == "nan"
    assert parse_value(7184, True) is True


AVAILABILITY = [
    ("DPB", dict(delayed=True, snapshot=True, book=True)),
    ("RPB", dict(realtime=True, snapshot=True, book=True)),
    ("RpB", dict(realtime=True, consolidated=True, book=True)),
    ("ZB", dict(frozen=True, book=True)),
    ("Y", dict(frozen_delayed=True)),
    ("N", dict(not_subscribed=True)),
    ("S", dict(streaming=True)),
]


@pytest.mark.parametrize(("code", "flags"), AVAILABILITY)
def test_availability(code: str, flags: dict[str, bool]) -> None:
    """Field 6509 decodes into its availability flags (§6.3)."""
    names = [f.name for f in fields(Availability) if f.name != "code"]
    expected = Availability(code=code, **{name: flags.get(name, False) for name in names})
    assert parse_value(6509, code) == expected
    assert parse_availability(code) == expected


def test_availability_edge_cases() -> None:
    """Empty or non-string availability values are not decoded."""
    assert parse_value(6509, "") is None
    assert parse_value(6509, 5) == 5


def test_availability_cache_is_bounded() -> None:
    """Network-supplied codes cannot grow the cache without bound."""
    for i in range(300):
        assert parse_availability(f"R{i}").realtime


def test_catalogue() -> None:
    """The catalogue has every field of §6.2 with lookups by id and name."""
    assert len(FIELDS) == 116
    last = FIELDS[31]
    assert (last.id, last.name, last.kind) == (31, "last", FieldKind.PRICE)
    assert field_by_name("bid_size") is FIELDS[88]
    # one canonical short name per field; the earlier long names stay accepted on input
    assert field_by_name("last") is field_by_name("last_price") is FIELDS[31]
    assert (FIELDS[84].name, FIELDS[86].name, FIELDS[6509].name) == ("bid", "ask", "availability")
    assert FIELDS[88].kind is FieldKind.SIZE
    assert FIELDS[87].kind is FieldKind.VOLUME
    assert FIELDS[83].kind is FieldKind.PERCENT
    assert FIELDS[6509].kind is FieldKind.AVAILABILITY
    assert FIELDS[7184].kind is FieldKind.FLAG
    assert FIELDS[6008].kind is FieldKind.INTEGER
    assert FIELDS[55].kind is FieldKind.TEXT
    assert field_by_name("nope") is None
    assert all(info.description for info in FIELDS.values())
    assert len({info.name for info in FIELDS.values()}) == len(FIELDS)


def test_value_parser_for_unknown_id() -> None:
    """Unknown ids get the best-effort parser."""
    assert value_parser(424242)("3") == 3.0


def test_names_resolve_and_print() -> None:
    from ibstream.protocol.fields import field_name, resolve_field

    assert [resolve_field(x) for x in (31, "31", "last", " Bid ", "ask_price")] == [
        31,
        31,
        31,
        84,
        86,
    ]
    for bad in (0, -1, "031", "", "nope", True, 3.0):
        with pytest.raises(ValueError, match="field id"):
            resolve_field(bad)  # type: ignore[arg-type]
    assert field_name(31) == "last" and field_name(424242) == "424242"
