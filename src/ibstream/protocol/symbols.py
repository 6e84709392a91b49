"""The instrument grammar shared by the library, the CLI and the service, parsed in one place.

::

    265598                      a conid (optionally ``265598@SMART``)
    AAPL                        a symbol: stock first, else the future's front month, else index
    AAPL STK | ES FUT | SPX IND a symbol with its security type (STK FUT OPT FOP CASH IND CFD BOND)
    ESZ6 | ESZ26                a future by month code (F G H J K M N Q U V X Z) and year
    ES 202612                   a future by contract month (YYYYMM)
    EUR.USD                     an FX pair (IDEALPRO)
    AAPL 20261218 200 C         an option: expiry YYYYMMDD, strike, right C/P/CALL/PUT
                                (a future's option when the underlying is a future)
    28812380;;;265598/1,8314/-1 a combo (the gateway's conidex string: spread;;;leg/ratio,...)

:func:`parse_instrument` is pure (no I/O, no clock): it only says *what* was asked. Turning the
query into a conid needs the gateway (``/iserver/secdef/search`` and friends) and is done by
:class:`ibstream.aio.contracts.Contracts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.combo import ComboLeg

__all__ = [
    "MONTH_CODES",
    "InstrumentQuery",
    "QueryKind",
    "SecType",
    "parse_instrument",
]


class SecType(StrEnum):
    """IBKR security types (``secType`` / ``assetClass``)."""

    STK = "STK"
    FUT = "FUT"
    OPT = "OPT"
    FOP = "FOP"
    CASH = "CASH"
    IND = "IND"
    CFD = "CFD"
    BOND = "BOND"
    WAR = "WAR"
    FUND = "FUND"
    BAG = "BAG"


class QueryKind(StrEnum):
    """What an instrument text asks for."""

    CONID = "conid"
    SYMBOL = "symbol"
    FUTURE = "future"
    OPTION = "option"
    FX = "fx"
    COMBO = "combo"


MONTH_CODES: dict[str, int] = {
    "F": 1, "G": 2, "H": 3, "J": 4, "K": 5, "M": 6,
    "N": 7, "Q": 8, "U": 9, "V": 10, "X": 11, "Z": 12,
}  # fmt: skip
"""Futures month codes (CME convention)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InstrumentQuery:
    """A parsed instrument text (see the module docstring). Unused fields are ``None``.

    ``year`` of a future is as written: one digit (``ESZ6``), two (``ESZ26``) or four
    (``ES 202612``); ``month`` is 1-12. ``right`` is ``"C"`` or ``"P"``.
    """

    text: str
    kind: QueryKind
    symbol: str = ""
    sec_type: SecType | None = None
    conid: int | None = None
    exchange: str | None = None
    month: int | None = None
    year: str | None = None
    expiry: str | None = None
    strike: float | None = None
    right: str | None = None
    currency: str | None = None
    legs: tuple[ComboLeg, ...] = ()

    def matches_year(self, full_year: int) -> bool:
        """Whether ``full_year`` (e.g. 2026) fits the year as written (``6``, ``26``, ``2026``)."""
        if self.year is None:
            return True
        return str(full_year).endswith(self.year)


_CONID = re.compile(r"^(\d{1,12})(?:@([A-Z0-9.]+))?$")
_FX = re.compile(r"^([A-Z]{3})\.([A-Z]{3})$")
_FUT_CODE = re.compile(r"^([A-Z][A-Z0-9]{0,4}?)([FGHJKMNQUVXZ])(\d|\d\d)$")
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-/ ]{0,23}$")
_COMBO = re.compile(r"^(\d+);;;(\d+/-?\d+(?:,\d+/-?\d+)*)$")
_RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
_SEC_TYPES = {t.value for t in SecType}


def _bad(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        "instrument",
        f"{text!r}: {why} (e.g. AAPL, ES, ESZ6, EUR.USD, 'AAPL 20261218 200 C', 265598)",
    )


def _option(text: str, words: list[str]) -> InstrumentQuery:
    symbol, expiry, strike_text, right_text = words
    if not (len(expiry) == 8 and expiry.isdigit()):
        raise _bad(text, f"option expiry {expiry!r} must be YYYYMMDD")
    month = int(expiry[4:6])
    day = int(expiry[6:8])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise _bad(text, f"option expiry {expiry!r} is not a date")
    try:
        strike = float(strike_text)
    except ValueError:
        raise _bad(text, f"strike {strike_text!r} is not a number") from None
    if not strike > 0 or strike != strike or strike == float("inf"):
        raise _bad(text, f"strike {strike_text!r} must be a positive number")
    right = _RIGHTS.get(right_text)
    if right is None:
        raise _bad(text, f"right {right_text!r} must be C, P, CALL or PUT")
    if not _SYMBOL.match(symbol):
        raise _bad(text, f"{symbol!r} is not a symbol")
    return InstrumentQuery(
        text=text,
        kind=QueryKind.OPTION,
        symbol=symbol,
        expiry=expiry,
        month=month,
        year=expiry[:4],
        strike=strike,
        right=right,
    )


def parse_instrument(text: str) -> InstrumentQuery:
    """Parse one instrument text; raises ``InvalidArgument`` naming what is wrong."""
    if not isinstance(text, str):
        raise InvalidArgument("instrument", f"expected a string, got {type(text).__name__}")
    original = text
    norm = " ".join(text.strip().upper().split())
    if not norm:
        raise _bad(original, "empty")
    if m := _COMBO.match(norm):
        legs = []
        for part in m.group(2).split(","):
            conid, ratio = part.split("/")
            if int(ratio) == 0:
                raise _bad(original, "a combo leg ratio cannot be 0")
            legs.append(ComboLeg(int(conid), int(ratio)))
        return InstrumentQuery(
            text=norm, kind=QueryKind.COMBO, conid=int(m.group(1)), legs=tuple(legs)
        )
    if m := _CONID.match(norm):
        conid = int(m.group(1))
        if conid <= 0:
            raise _bad(original, "a conid is a positive integer")
        return InstrumentQuery(text=norm, kind=QueryKind.CONID, conid=conid, exchange=m.group(2))
    if m := _FX.match(norm):
        return InstrumentQuery(
            text=norm,
            kind=QueryKind.FX,
            symbol=m.group(1),
            currency=m.group(2),
            sec_type=SecType.CASH,
        )
    words = norm.split(" ")
    if len(words) == 4:
        return _option(norm, words)
    if len(words) == 2 and words[1] in _SEC_TYPES:
        if not _SYMBOL.match(words[0]):
            raise _bad(original, f"{words[0]!r} is not a symbol")
        return InstrumentQuery(
            text=norm, kind=QueryKind.SYMBOL, symbol=words[0], sec_type=SecType(words[1])
        )
    if len(words) == 2 and len(words[1]) == 6 and words[1].isdigit():
        month = int(words[1][4:])
        if not 1 <= month <= 12:
            raise _bad(original, f"contract month {words[1]!r} must be YYYYMM")
        return InstrumentQuery(
            text=norm,
            kind=QueryKind.FUTURE,
            symbol=words[0],
            sec_type=SecType.FUT,
            month=month,
            year=words[1][:4],
        )
    if len(words) != 1:
        raise _bad(original, "not understood")
    word = words[0]
    if m := _FUT_CODE.match(word):
        return InstrumentQuery(
            text=norm,
            kind=QueryKind.FUTURE,
            symbol=m.group(1),
            sec_type=SecType.FUT,
            month=MONTH_CODES[m.group(2)],
            year=m.group(3),
        )
    if not _SYMBOL.match(word):
        raise _bad(original, f"{word!r} is neither a conid nor a symbol")
    return InstrumentQuery(text=norm, kind=QueryKind.SYMBOL, symbol=word)
