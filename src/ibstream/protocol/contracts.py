"""Typed contract records parsed from the gateway's REST answers (pure, no I/O).

* :class:`Contract` - one ``/iserver/secdef/search`` result with its ``sections`` (the
  derivative types IBKR offers on that underlying and their months);
* :class:`ContractDetails` - ``/iserver/contract/{conid}/info`` and ``/iserver/secdef/info``;
* :class:`FutureContract` - one ``/trsrv/futures`` entry;
* :class:`StockListing` - one ``/trsrv/stocks`` instrument with its exchange listings;
* :class:`Strikes` - ``/iserver/secdef/strikes``.

Parsers take the decoded JSON and never raise on odd values: a field that is missing or of the
wrong type becomes ``None``; ``raw`` keeps the gateway's dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Contract",
    "ContractDetails",
    "FutureContract",
    "Listing",
    "Section",
    "StockListing",
    "Strikes",
]


def opt_int(value: object) -> int | None:
    """``int`` from an int or a numeric string, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if digits.isascii() and digits.isdigit():  # not "--5", not "²" (isdigit, int refuses)
            return int(text)
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def opt_float(value: object) -> float | None:
    """``float`` from a number or a numeric string (``"1,234.5"`` allowed), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def opt_str(value: object) -> str | None:
    """A non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Section:
    """One ``sections`` entry of a search result: a security type offered on the symbol.

    ``months`` are IBKR month names (``"DEC26"``); ``exchanges`` the listed exchanges; ``conid``
    is set for types with their own contract (``CFD``, ``IND`` sometimes).
    """

    sec_type: str
    months: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    conid: int | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Section:
        months = d.get("months")
        exch = d.get("exchange")
        return cls(
            sec_type=str(d.get("secType") or ""),
            months=tuple(m for m in months.split(";") if m) if isinstance(months, str) else (),
            exchanges=tuple(e for e in exch.split(";") if e) if isinstance(exch, str) else (),
            conid=opt_int(d.get("conid")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """A ``/iserver/secdef/search`` result (the underlying and what trades on it)."""

    conid: int
    symbol: str
    company_name: str | None
    description: str | None
    sections: tuple[Section, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def sec_types(self) -> tuple[str, ...]:
        """Security types in ``sections``, in the gateway's order."""
        return tuple(s.sec_type for s in self.sections)

    def section(self, sec_type: str) -> Section | None:
        """The section of ``sec_type`` (``"OPT"``, ``"FUT"``...), if offered."""
        return next((s for s in self.sections if s.sec_type == sec_type), None)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Contract | None:
        """Parse one search result; ``None`` when it has no usable conid."""
        conid = opt_int(d.get("conid"))
        if conid is None:
            return None
        sections = d.get("sections")
        return cls(
            conid=conid,
            symbol=str(d.get("symbol") or ""),
            company_name=opt_str(d.get("companyName")),
            description=opt_str(d.get("description")),
            sections=tuple(Section.from_json(s) for s in sections if isinstance(s, Mapping))
            if isinstance(sections, list)
            else (),
            raw=d,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractDetails:
    """Full details of one contract (``/iserver/contract/{conid}/info`` or
    ``/iserver/secdef/info``; the two name their fields differently, both are read)."""

    conid: int
    symbol: str | None
    sec_type: str | None
    exchange: str | None
    valid_exchanges: tuple[str, ...]
    currency: str | None
    company_name: str | None
    local_symbol: str | None
    trading_class: str | None
    multiplier: float | None
    expiry: str | None
    strike: float | None
    right: str | None
    underlying_conid: int | None
    description: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ContractDetails | None:
        conid = opt_int(d.get("con_id", d.get("conid")))
        if conid is None:
            return None
        exchanges = d.get("valid_exchanges", d.get("validExchanges"))
        right = opt_str(d.get("right"))
        desc = " ".join(x for x in (opt_str(d.get("desc1")), opt_str(d.get("desc2"))) if x)
        return cls(
            conid=conid,
            symbol=opt_str(d.get("symbol")),
            sec_type=opt_str(d.get("instrument_type", d.get("secType"))),
            exchange=opt_str(d.get("exchange")),
            valid_exchanges=tuple(e for e in exchanges.split(",") if e)
            if isinstance(exchanges, str)
            else (),
            currency=opt_str(d.get("currency")),
            company_name=opt_str(d.get("company_name", d.get("companyName"))),
            local_symbol=opt_str(d.get("local_symbol")),
            trading_class=opt_str(d.get("trading_class", d.get("tradingClass"))),
            multiplier=opt_float(d.get("multiplier")),
            expiry=opt_str(d.get("maturity_date", d.get("maturityDate"))),
            strike=opt_float(d.get("strike")) or None,
            right={"CALL": "C", "PUT": "P"}.get(right, right) if right else None,
            underlying_conid=opt_int(d.get("underlying_con_id")) or None,
            description=desc or opt_str(d.get("text")),
            raw=d,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FutureContract:
    """One ``/trsrv/futures`` entry. Dates are ``YYYYMMDD`` strings."""

    symbol: str
    conid: int
    underlying_conid: int | None
    expiration_date: str | None
    last_trading_day: str | None

    @property
    def month(self) -> str | None:
        """``YYYYMM`` of the expiry."""
        return self.expiration_date[:6] if self.expiration_date else None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FutureContract | None:
        conid = opt_int(d.get("conid"))
        if conid is None:
            return None
        exp = d.get("expirationDate")
        ltd = d.get("ltd")
        return cls(
            symbol=str(d.get("symbol") or ""),
            conid=conid,
            underlying_conid=opt_int(d.get("underlyingConid")),
            expiration_date=str(exp) if isinstance(exp, int | str) and str(exp) else None,
            last_trading_day=str(ltd) if isinstance(ltd, int | str) and str(ltd) else None,
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """One exchange listing of a stock (``/trsrv/stocks`` ``contracts``)."""

    conid: int
    exchange: str
    is_us: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StockListing:
    """One ``/trsrv/stocks`` instrument: a company and its listings."""

    symbol: str
    name: str | None
    asset_class: str | None
    listings: tuple[Listing, ...]

    @classmethod
    def from_json(cls, symbol: str, d: Mapping[str, Any]) -> StockListing:
        contracts = d.get("contracts")
        listings = []
        for c in contracts if isinstance(contracts, list) else ():
            if isinstance(c, Mapping) and (conid := opt_int(c.get("conid"))) is not None:
                listings.append(Listing(conid, str(c.get("exchange") or ""), c.get("isUS") is True))
        return cls(
            symbol=symbol,
            name=opt_str(d.get("name")),
            asset_class=opt_str(d.get("assetClass")),
            listings=tuple(listings),
        )


@dataclass(frozen=True, slots=True)
class Strikes:
    """``/iserver/secdef/strikes``: the strikes of calls and puts of one month."""

    call: tuple[float, ...]
    put: tuple[float, ...]

    @classmethod
    def from_json(cls, d: object) -> Strikes:
        if not isinstance(d, Mapping):
            return cls((), ())
        out: list[tuple[float, ...]] = []
        for key in ("call", "put"):
            values = d.get(key)
            items = [opt_float(v) for v in values] if isinstance(values, list) else []
            out.append(tuple(sorted(v for v in items if v is not None)))
        return cls(out[0], out[1])
