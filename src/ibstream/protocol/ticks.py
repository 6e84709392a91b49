"""Price increments (minimum ticks) and the decimals a price is shown with (pure).

IBKR's contract rules (``GET /iserver/contract/{conid}/info-and-rules``, its ``rules`` object;
``POST /iserver/contract/rules``) carry ``increment`` (the minimum price increment),
``incrementDigits`` and ``incrementRules`` (``[{"lowerEdge": 0.0, "increment": 0.01}]``: the
increment from each price level up). A price is shown with the decimals of its increment:
``0.00005`` -> 5 (``1.08615``), ``0.01`` -> 2, ``0.25`` -> 2, ``0.005`` -> 3, ``1/64`` -> 6,
``1`` or ``5`` -> 0. Absurd increments (zero, negative, not finite, out of any market's range,
not a number) give ``None``: the caller keeps its own choice.

    >>> decimals_for_increment(0.00005), decimals_for_increment("0.25"), decimals_for_increment(0)
    (5, 2, None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["MAX_DECIMALS", "PriceRules", "decimals_for_increment"]

MAX_DECIMALS = 8
"""The most decimals a price is shown with (an increment like 1/3 has no finite expansion)."""

_SMALLEST = 1e-10
_LARGEST = 1e6


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def decimals_for_increment(increment: object) -> int | None:
    """The decimals prices moving in steps of ``increment`` need (at most
    :data:`MAX_DECIMALS`), or ``None`` for an increment no market uses."""
    value = _number(increment)
    if value is None or not _SMALLEST <= value <= _LARGEST:
        return None
    try:  # the shortest text that reads back as the float: 0.1 stays "0.1"
        exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    except InvalidOperation:  # pragma: no cover - repr of a finite float always parses
        return None
    if not isinstance(exponent, int):  # pragma: no cover - NaN/Infinity were refused above
        return None
    return min(MAX_DECIMALS, max(0, -exponent))


def _digits(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_DECIMALS else None


@dataclass(frozen=True, slots=True)
class PriceRules:
    """The price increments of one contract: ``increment`` (the minimum), ``digits`` (IBKR's
    ``incrementDigits``) and ``ladder`` (``(lower_edge, increment)`` rows, lowest edge first)."""

    conid: int | None
    increment: float | None
    digits: int | None
    ladder: tuple[tuple[float, float], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any], conid: int | None = None) -> PriceRules:
        """From a rules object, or an ``info-and-rules`` answer (its ``rules`` key)."""
        rules = body.get("rules")
        src: Mapping[str, Any] = rules if isinstance(rules, Mapping) else body
        rows: list[tuple[float, float]] = []
        ladder = src.get("incrementRules")
        if isinstance(ladder, list):
            for row in ladder:
                if not isinstance(row, Mapping):
                    continue
                edge, step = _number(row.get("lowerEdge")), _number(row.get("increment"))
                if (
                    edge is not None
                    and step is not None
                    and decimals_for_increment(step) is not None
                ):
                    rows.append((edge, step))
        rows.sort()
        increment = _number(src.get("increment"))
        if increment is not None and decimals_for_increment(increment) is None:
            increment = None
        if increment is None and rows:
            increment = min(step for _, step in rows)
        if conid is None:
            raw_id = body.get("con_id", body.get("conid"))
            conid = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        return cls(
            conid=conid,
            increment=increment,
            digits=_digits(src.get("incrementDigits")),
            ladder=tuple(rows),
            raw=body,
        )

    @property
    def known(self) -> bool:
        """Whether the rules name any usable increment."""
        return self.decimals() is not None

    def increment_at(self, price: float | None) -> float | None:
        """The increment at ``price`` (the ladder row whose lower edge is the highest at or below
        it), else the minimum increment."""
        if price is not None and self.ladder and math.isfinite(price):
            step = None
            for edge, inc in self.ladder:
                if abs(price) >= edge:
                    step = inc
            if step is not None:
                return step
        return self.increment

    def decimals(self, price: float | None = None) -> int | None:
        """The decimals a price (at ``price``, when the increment depends on it) is shown with:
        from the increment, else ``incrementDigits``; ``None`` when neither is usable."""
        found = decimals_for_increment(self.increment_at(price))
        return found if found is not None else self.digits
