"""Combos (spreads): the gateway's combo "conid" strings as a typed value.

The Client Portal gateway streams market data for a combo under one topic whose "conid" is a
string naming the spread and its legs, e.g. IBKR's own sample script subscribes with
``smd+28812380;;;497222760/1,495512552/-1+{"fields":["31","84","86"]}`` (see
docs/gateway-fidelity.md)::

    <spread conid>;;;<leg conid>/<ratio>,<leg conid>/<ratio>,...

``28812380`` is IBKR's USD spread conid; a negative ratio is a sell leg. :class:`Combo` parses and
renders that string (:attr:`Combo.wire` is canonical: the legs in the order given, no spaces).

:class:`ComboId` is the ``conid`` a combo's :class:`~ibstream.protocol.events.MarketData` carries:
an ``int`` equal to the spread conid (so code expecting an int keeps working) that compares and
hashes as the whole combo, so two combos on the same spread conid never share a ticker or a
mapping slot, and never equal the bare spread conid. ``event.conid.combo`` gives the legs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibstream.exceptions import InvalidArgument

__all__ = ["Combo", "ComboId", "ComboLeg", "is_combo_text"]

_SEPARATOR = ";;;"
_MAX_LEGS = 32  # bounded: combo strings come from the network too


def _positive_int(text: str, what: str, source: str) -> int:
    if not (text.isascii() and text.isdigit() and text[0] != "0"):
        raise InvalidArgument("conid", f"{what} must be a positive integer in {source!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class ComboLeg:
    """One leg: its contract id and signed ratio (negative = the sell side)."""

    conid: int
    ratio: int

    def __post_init__(self) -> None:
        if type(self.conid) is not int or self.conid <= 0:
            raise InvalidArgument("conid", f"leg conid must be a positive int, got {self.conid!r}")
        if type(self.ratio) is not int or self.ratio == 0:
            raise InvalidArgument("ratio", f"leg ratio must be a non-zero int, got {self.ratio!r}")

    @property
    def wire(self) -> str:
        return f"{self.conid}/{self.ratio}"


@dataclass(frozen=True, slots=True)
class Combo:
    """A combo contract: the spread conid and two or more legs (protocol.md §4.1, combos)."""

    spread_conid: int
    legs: tuple[ComboLeg, ...]

    def __post_init__(self) -> None:
        if type(self.spread_conid) is not int or self.spread_conid <= 0:
            raise InvalidArgument(
                "conid", f"spread conid must be a positive int, got {self.spread_conid!r}"
            )
        legs = tuple(self.legs)
        if not all(isinstance(leg, ComboLeg) for leg in legs):
            raise InvalidArgument("legs", "must be ComboLeg values")
        if not 2 <= len(legs) <= _MAX_LEGS:
            raise InvalidArgument("legs", f"a combo has 2 to {_MAX_LEGS} legs, got {len(legs)}")
        if len({leg.conid for leg in legs}) != len(legs):
            raise InvalidArgument("legs", "each leg conid may appear once")
        object.__setattr__(self, "legs", legs)

    @classmethod
    def of(cls, spread_conid: int, *legs: tuple[int, int]) -> Combo:
        """``Combo.of(28812380, (497222760, 1), (495512552, -1))``."""
        return cls(spread_conid, tuple(ComboLeg(conid, ratio) for conid, ratio in legs))

    @classmethod
    def parse(cls, text: str) -> Combo:
        """Parse ``SPREAD;;;LEG/RATIO,LEG/RATIO...``; ``InvalidArgument`` says what is wrong."""
        if not isinstance(text, str):
            raise InvalidArgument("conid", f"a combo must be a string, got {text!r}")
        head, sep, tail = text.strip().partition(_SEPARATOR)
        if not sep:
            raise InvalidArgument("conid", f"a combo reads SPREAD;;;LEG/RATIO,..., got {text!r}")
        spread = _positive_int(head, "the spread conid", text)
        legs: list[ComboLeg] = []
        for item in tail.split(","):
            conid_text, slash, ratio_text = item.strip().partition("/")
            if not slash:
                raise InvalidArgument("conid", f"leg {item!r} must read CONID/RATIO in {text!r}")
            number = ratio_text.lstrip("+-")
            if not (number.isascii() and number.isdigit()):
                raise InvalidArgument("ratio", f"leg ratio must be an integer in {text!r}")
            ratio = int(number) * (-1 if ratio_text.startswith("-") else 1)
            legs.append(ComboLeg(_positive_int(conid_text, "a leg conid", text), ratio))
        return cls(spread, tuple(legs))

    @property
    def wire(self) -> str:
        """The gateway's form, e.g. ``28812380;;;497222760/1,495512552/-1``."""
        return f"{self.spread_conid}{_SEPARATOR}" + ",".join(leg.wire for leg in self.legs)

    def __str__(self) -> str:
        return self.wire


def is_combo_text(text: str) -> bool:
    """Whether ``text`` looks like a combo conid string (has the ``;;;`` separator)."""
    return _SEPARATOR in text


class ComboId(int):
    """The ``conid`` of a combo's market data: the spread conid's value, the combo's identity.

    Equal only to a ``ComboId`` of the same combo (not to the bare spread conid, nor to another
    combo on the same spread), hashed by the combo: safe as a dict key next to plain conids.
    """

    combo: Combo
    _wire: str
    _hash: int

    def __new__(cls, combo: Combo) -> ComboId:
        self = super().__new__(cls, combo.spread_conid)
        self.combo = combo
        self._wire = combo.wire
        self._hash = hash(self._wire)  # looked up per frame by the ticker map: computed once
        return self

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, ComboId) and other._wire == self._wire)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"ComboId({self._wire!r})"

    def __str__(self) -> str:
        return self._wire

    def __reduce__(self) -> tuple[Any, ...]:
        return (ComboId, (self.combo,))
