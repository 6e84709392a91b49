"""Contract lookup through the session: ``client.contracts`` (asyncio).

Every security type the gateway serves: stocks (``/trsrv/stocks`` and ``/iserver/secdef/search``),
futures (``/trsrv/futures``: chains by underlying, the front month), options and futures options
(months from the search ``sections``, ``/iserver/secdef/strikes``, the contract for
expiry/strike/right from ``/iserver/secdef/info``), FX pairs, indices, CFDs and bonds (search by
type), details by conid (``/iserver/contract/{conid}/info``), price increments
(``/iserver/contract/{conid}/info-and-rules``: :class:`~ibstream.protocol.ticks.PriceRules`) and
combos (the gateway's ``spread;;;leg/ratio,...`` conid strings, usable in ``MarketDataSpec``).

:meth:`Contracts.resolve` turns any text of the instrument grammar
(:mod:`ibstream.protocol.symbols`: ``AAPL``, ``ES``, ``ESZ6``, ``EUR.USD``,
``AAPL 20261218 200 C``, ``265598``) into a :class:`Resolved` contract. Search, futures and
details answers are cached for ``cache_ttl`` seconds (an hour: contract definitions rarely
change, but a long-running process must see a futures roll); ``clear_cache()`` forgets them.
Unknown symbols and conids raise :class:`~ibstream.exceptions.NotFound` carrying the endpoint
and IBKR's message.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ibstream.aio.transport import Transport
from ibstream.exceptions import HTTPStatusError, InvalidArgument, NotFound
from ibstream.protocol.combo import ComboLeg
from ibstream.protocol.contracts import (
    Contract,
    ContractDetails,
    FutureContract,
    StockListing,
    Strikes,
    opt_int,
)
from ibstream.protocol.symbols import (
    InstrumentQuery,
    QueryKind,
    SecType,
    parse_instrument,
)
from ibstream.protocol.ticks import PriceRules

__all__ = ["COMBO_CONID", "Contracts", "Resolved"]

COMBO_CONID = 28812380
"""IBKR's conid of USD combos (spreads): ``28812380;;;leg/ratio,...``."""

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CACHE_MAX = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """A contract the grammar resolved to: what to subscribe to and what it is.

    ``conidex`` is what ``MarketDataSpec`` and the gateway take: the conid as a string, or the
    combo string for spreads.
    """

    conid: int
    conidex: str
    sec_type: str
    symbol: str
    description: str
    exchange: str | None = None
    expiry: str | None = None
    strike: float | None = None
    right: str | None = None
    legs: tuple[ComboLeg, ...] = ()

    def __str__(self) -> str:
        return f"{self.description} ({self.sec_type} {self.conidex})"


def month_name(year: int, month: int) -> str:
    """IBKR's month name: ``(2026, 12) -> "DEC26"``."""
    return f"{_MONTHS[month - 1]}{year % 100:02d}"


def _month(month: object) -> str:
    """An IBKR option month (``"dec26"`` -> ``"DEC26"``), or ``InvalidArgument``."""
    text = month.strip().upper() if isinstance(month, str) else ""
    if len(text) != 5 or text[:3] not in _MONTHS or not (text[3:].isascii() and text[3:].isdigit()):
        raise InvalidArgument("month", f"an option month such as DEC26, got {month!r}")
    return text


def _not_found(path: str, what: str) -> NotFound:
    return NotFound("GET", path, 200, what, message=f"GET {path}: {what}")


def _as_not_found(exc: HTTPStatusError) -> HTTPStatusError:
    """An HTTP 400/404 about a conid or symbol is a ``NotFound`` (IBKR's message kept); "no
    bridge" (no brokerage session) is not about the contract and stays as it is."""
    if isinstance(exc, NotFound) or exc.status not in (400, 404, 500):
        return exc
    text = (exc.error or exc.body).lower()
    if "no bridge" in text:  # the brokerage session is not up (protocol.md §2.4): no lookup
        return exc
    if exc.status == 500 and "conid" not in text and "contract" not in text:
        return exc
    return NotFound(exc.method, exc.path, exc.status, exc.body)


class Contracts:
    """Typed contract lookups over one gateway session (see the module docstring)."""

    def __init__(self, rest: Transport, *, cache_ttl: float = 3600.0) -> None:
        self._rest = rest
        self.cache_ttl = cache_ttl
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def __repr__(self) -> str:
        return f"<Contracts cached={len(self._cache)}>"

    def clear_cache(self) -> None:
        """Forget cached search answers."""
        self._cache.clear()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            _, body = await self._rest.request("GET", path, params=params)
        except HTTPStatusError as exc:
            raise _as_not_found(exc) from None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            raise NotFound("GET", path, 200, body["error"])
        return body

    async def _cached(self, key: tuple[Any, ...], path: str, params: dict[str, str]) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.cache_ttl:
            return hit[1]
        body = await self._get(path, params)
        self._cache.pop(key, None)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.pop(next(iter(self._cache)))  # the oldest entry
        self._cache[key] = (now, body)
        return body

    # -- search -----------------------------------------------------------------------------

    async def search(
        self, symbol: str, *, sec_type: str | None = None, by_name: bool = False
    ) -> list[Contract]:
        """``/iserver/secdef/search``: underlyings matching ``symbol`` with their ``sections``.

        ``sec_type`` narrows the answer (``STK``, ``IND``, ``FUT``, ``CASH``, ``BOND``...);
        ``by_name`` searches company names. Returns ``[]`` when nothing matches.
        """
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidArgument("symbol", "a non-empty symbol")
        params = {"symbol": symbol.strip().upper()}
        if sec_type:
            try:
                params["secType"] = SecType(str(sec_type).upper()).value
            except ValueError:
                kinds = " ".join(t.value for t in SecType)
                raise InvalidArgument("sec_type", f"one of {kinds}, got {sec_type!r}") from None
        if by_name:
            params["name"] = "true"
        key = ("search", params["symbol"], params.get("secType"), by_name)
        try:
            body = await self._cached(key, "/iserver/secdef/search", params)
        except NotFound:
            return []
        out = (
            [Contract.from_json(d) for d in body if isinstance(d, dict)]
            if isinstance(body, list)
            else []
        )
        return [c for c in out if c is not None]

    async def _first(self, symbol: str, sec_type: str, need_section: str | None = None) -> Contract:
        found = await self.search(symbol, sec_type=sec_type)
        if need_section is not None:
            found = [c for c in found if c.section(need_section) is not None]
        if not found:
            what = f"{sec_type} {need_section or ''}".strip()
            raise _not_found("/iserver/secdef/search", f"no {what} contract for {symbol!r}")
        return found[0]

    # -- stocks -----------------------------------------------------------------------------

    async def stocks(self, *symbols: str) -> dict[str, list[StockListing]]:
        """``/trsrv/stocks``: each symbol's companies and their exchange listings."""
        names = [s.strip().upper() for s in symbols if s and s.strip()]
        if not names:
            raise InvalidArgument("symbols", "at least one symbol")
        body = await self._get("/trsrv/stocks", {"symbols": ",".join(names)})
        out: dict[str, list[StockListing]] = {}
        for name in names:
            items = body.get(name) if isinstance(body, dict) else None
            out[name] = [
                StockListing.from_json(name, d) for d in items or [] if isinstance(d, dict)
            ]
        return out

    async def stock(self, symbol: str, *, exchange: str | None = None, us: bool = True) -> int:
        """The conid of a stock: its US listing (or the listing on ``exchange``)."""
        listings = (await self.stocks(symbol))[symbol.strip().upper()]
        for company in listings:
            for listing in company.listings:
                if exchange is not None and listing.exchange.upper() != exchange.upper():
                    continue
                if exchange is None and us and not listing.is_us:
                    continue
                return listing.conid
        where = f" on {exchange}" if exchange else (" (US listing)" if us else "")
        raise _not_found("/trsrv/stocks", f"no stock {symbol.upper()!r}{where}")

    # -- futures ----------------------------------------------------------------------------

    async def futures(self, symbol: str) -> list[FutureContract]:
        """``/trsrv/futures``: the live contracts of a future, nearest expiry first."""
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidArgument("symbol", "a non-empty symbol such as ES")
        name = symbol.strip().upper()
        body = await self._cached(("futures", name), "/trsrv/futures", {"symbols": name})
        items = body.get(name) if isinstance(body, dict) else None
        out = [FutureContract.from_json(d) for d in items or [] if isinstance(d, dict)]
        chain = sorted((f for f in out if f is not None), key=lambda f: f.expiration_date or "")
        if not chain:
            raise _not_found("/trsrv/futures", f"no futures for {name!r}")
        return chain

    async def front_month(self, symbol: str) -> FutureContract:
        """The nearest live contract of a future (``ES`` -> ES of the front month)."""
        return (await self.futures(symbol))[0]

    async def future(self, symbol: str, month: int, year: str | int) -> FutureContract:
        """The contract of ``month`` (1-12) and ``year`` (``6``, ``26`` or ``2026``)."""
        if type(month) is not int or not 1 <= month <= 12:
            raise InvalidArgument("month", f"1-12, got {month!r}")
        ytext = str(year).strip() if isinstance(year, int | str) else ""
        if isinstance(year, bool) or not (ytext.isascii() and ytext.isdigit() and len(ytext) <= 4):
            raise InvalidArgument("year", f"6, 26 or 2026, got {year!r}")
        for fut in await self.futures(symbol):
            exp = fut.expiration_date or ""
            if len(exp) >= 6 and int(exp[4:6]) == month and exp[:4].endswith(ytext):
                return fut
        raise _not_found("/trsrv/futures", f"no {symbol.upper()} future for {month:02d}/{ytext}")

    # -- options ----------------------------------------------------------------------------

    async def _underlying(self, symbol: str | int, sec_type: str) -> Contract:
        if isinstance(symbol, int):
            details = await self.details(symbol)
            symbol = details.symbol or str(symbol)
        for c in await self.search(str(symbol)):
            if c.section(sec_type) is not None:
                return c
        raise _not_found("/iserver/secdef/search", f"no {sec_type} on {symbol!r}")

    async def option_months(self, symbol: str | int, *, sec_type: str = "OPT") -> tuple[str, ...]:
        """Months with options (``OPT``) or futures options (``FOP``): ``("DEC26", ...)``."""
        und = await self._underlying(symbol, sec_type)
        section = und.section(sec_type)
        return section.months if section is not None else ()

    async def option_expiries(
        self, symbol: str | int, month: str, *, sec_type: str = "OPT", exchange: str = "SMART"
    ) -> tuple[str, ...]:
        """Expiry dates (``YYYYMMDD``) of ``month`` (weeklies included): the maturities
        ``/iserver/secdef/info`` lists for a strike of that month."""
        month = _month(month)
        und = await self._underlying(symbol, sec_type)
        strikes = await self.strikes(und.conid, month, sec_type=sec_type, exchange=exchange)
        if not strikes.call:
            return ()
        strike = strikes.call[len(strikes.call) // 2]
        found = await self._secdef_info(und.conid, sec_type, month, strike, "C", exchange)
        return tuple(sorted({d.expiry for d in found if d.expiry}))

    async def _secdef_info(
        self, conid: int, sec_type: str, month: str, strike: float, right: str, exchange: str
    ) -> list[ContractDetails]:
        """``/iserver/secdef/info``: the contracts of one strike and right of ``month``."""
        params = {
            "conid": str(conid),
            "sectype": sec_type,
            "month": month,
            "strike": f"{float(strike):g}",
            "right": right,
            "exchange": exchange,
        }
        body = await self._get("/iserver/secdef/info", params)
        if not isinstance(body, list):
            return []
        found = (ContractDetails.from_json(d) for d in body if isinstance(d, dict))
        return [d for d in found if d is not None]

    async def strikes(
        self,
        symbol: str | int,
        month: str,
        *,
        sec_type: str = "OPT",
        exchange: str = "SMART",
    ) -> Strikes:
        """``/iserver/secdef/strikes`` of ``month`` (``"DEC26"``) on an underlying."""
        month = _month(month)
        und = await self._underlying(symbol, sec_type)
        params = {"conid": str(und.conid), "sectype": sec_type, "month": month}
        params["exchange"] = exchange
        return Strikes.from_json(await self._get("/iserver/secdef/strikes", params))

    async def option(
        self,
        symbol: str | int,
        expiry: str,
        strike: float,
        right: str,
        *,
        sec_type: str | None = None,
        exchange: str = "SMART",
    ) -> ContractDetails:
        """The option on ``symbol`` (or the underlying's conid) for ``expiry`` (YYYYMMDD),
        ``strike`` and ``right`` (C/P).

        ``sec_type`` defaults to ``OPT``, or ``FOP`` when the underlying only has futures
        options.
        """
        r = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}.get(str(right).upper())
        if r is None:
            raise InvalidArgument("right", "C, P, CALL or PUT")
        if not (isinstance(expiry, str) and len(expiry) == 8 and expiry.isascii()):
            raise InvalidArgument("expiry", f"a date as YYYYMMDD, got {expiry!r}")
        try:
            dt.datetime.strptime(expiry, "%Y%m%d")  # month 13 or 00, February 31st
        except ValueError:
            raise InvalidArgument("expiry", f"a date as YYYYMMDD, got {expiry!r}") from None
        if (
            isinstance(strike, bool)
            or not isinstance(strike, int | float)
            or not 0 < strike < float("inf")
        ):
            raise InvalidArgument("strike", f"a positive price, got {strike!r}")
        if isinstance(symbol, int):  # the underlying's conid, as for strikes()
            symbol = (await self.details(symbol)).symbol or str(symbol)
        kinds = [sec_type.upper()] if sec_type else ["OPT", "FOP"]
        und: Contract | None = None
        for kind in kinds:
            for c in await self.search(str(symbol)):
                if c.section(kind) is not None:
                    und, sec_type = c, kind
                    break
            if und is not None:
                break
        if und is None or sec_type is None:
            raise _not_found("/iserver/secdef/search", f"no options on {symbol!r}")
        month = month_name(int(expiry[:4]), int(expiry[4:6]))
        for d in await self._secdef_info(und.conid, sec_type, month, strike, r, exchange):
            if (d.expiry or "") == expiry:
                return d
        raise _not_found("/iserver/secdef/info", f"no {sec_type} {symbol} {expiry} {strike:g} {r}")

    # -- other types ------------------------------------------------------------------------

    async def fx(self, pair: str) -> Contract:
        """An FX pair: ``"EUR.USD"`` (IDEALPRO)."""
        q = parse_instrument(pair)
        if q.kind is not QueryKind.FX:
            raise InvalidArgument("pair", f"{pair!r} is not an FX pair such as EUR.USD")
        for c in await self.search(q.text, sec_type="CASH"):
            if (c.description or c.symbol).upper() == q.text or c.symbol.upper() == q.text:
                return c
        raise _not_found("/iserver/secdef/search", f"no FX pair {q.text!r}")

    async def index(self, symbol: str) -> Contract:
        """An index (``SPX``, ``NDX``, ``VIX``...)."""
        return await self._first(symbol, "IND")

    async def cfd(self, symbol: str) -> int:
        """The conid of the CFD on ``symbol`` (from the search ``sections``)."""
        for c in await self.search(symbol):
            section = c.section("CFD")
            if section is not None and section.conid is not None:
                return section.conid
        found = await self.search(symbol, sec_type="CFD")
        if found:
            return found[0].conid
        raise _not_found("/iserver/secdef/search", f"no CFD on {symbol!r}")

    async def bonds(self, issuer: str) -> list[Contract]:
        """Bonds of an issuer (``/iserver/secdef/search`` with ``secType=BOND``)."""
        return await self.search(issuer, sec_type="BOND")

    async def details(self, conid: int) -> ContractDetails:
        """``/iserver/contract/{conid}/info``: full details of one contract."""
        if isinstance(conid, bool) or not isinstance(conid, int) or conid <= 0:
            raise InvalidArgument("conid", f"a positive integer, got {conid!r}")
        body = await self._cached(("details", conid), f"/iserver/contract/{conid}/info", {})
        parsed = ContractDetails.from_json(body) if isinstance(body, dict) else None
        if parsed is None:
            raise _not_found(f"/iserver/contract/{conid}/info", f"no contract {conid}")
        return parsed

    async def price_rules(self, conid: int) -> PriceRules:
        """``/iserver/contract/{conid}/info-and-rules``: the contract's price increments (its
        minimum tick, the per-price ladder) and the decimals its prices are shown with."""
        if isinstance(conid, bool) or not isinstance(conid, int) or conid <= 0:
            raise InvalidArgument("conid", f"a positive integer, got {conid!r}")
        path = f"/iserver/contract/{conid}/info-and-rules"
        body = await self._cached(("rules", conid), path, {"isBuy": "true"})
        if not isinstance(body, dict):
            raise _not_found(path, f"no rules for contract {conid}")
        return PriceRules.from_json(body, conid)

    # -- combos -----------------------------------------------------------------------------

    async def combo(self, legs: Iterable[tuple[int, int]]) -> Resolved:
        """A combo of ``(conid, ratio)`` legs; every leg is checked to exist.

        The result's ``conidex`` (``28812380;;;265598/1,272093/-1``) is what
        ``MarketDataSpec`` and the gateway take for spreads.
        """
        parsed = tuple(ComboLeg(_whole(c, "conid"), _whole(r, "ratio")) for c, r in legs)
        if len(parsed) < 2:
            raise InvalidArgument("legs", "a combo needs at least two legs")
        if any(leg.ratio == 0 for leg in parsed):
            raise InvalidArgument("legs", "a leg ratio cannot be 0")
        symbols = []
        for leg in parsed:
            d = await self.details(leg.conid)
            symbols.append(f"{'+' if leg.ratio > 0 else '-'}{abs(leg.ratio)} {d.symbol}")
        conidex = f"{COMBO_CONID};;;" + ",".join(f"{leg.conid}/{leg.ratio}" for leg in parsed)
        return Resolved(
            conid=COMBO_CONID,
            conidex=conidex,
            sec_type="BAG",
            symbol="COMBO",
            description=" ".join(symbols),
            legs=parsed,
        )

    # -- the grammar ------------------------------------------------------------------------

    async def resolve(self, text: str | InstrumentQuery) -> Resolved:
        """Resolve any text of the instrument grammar (see :mod:`ibstream.protocol.symbols`)."""
        q = text if isinstance(text, InstrumentQuery) else parse_instrument(text)
        if q.kind is QueryKind.CONID:
            assert q.conid is not None
            d = await self.details(q.conid)
            return _from_details(d, exchange=q.exchange)
        if q.kind is QueryKind.COMBO:
            return await self.combo((leg.conid, leg.ratio) for leg in q.legs)
        if q.kind is QueryKind.FX:
            c = await self.fx(q.text)
            return Resolved(conid=c.conid, conidex=str(c.conid), sec_type="CASH",
                            symbol=q.text, description=q.text, exchange="IDEALPRO")  # fmt: skip
        if q.kind is QueryKind.OPTION:
            assert q.expiry is not None and q.strike is not None and q.right is not None
            d = await self.option(q.symbol, q.expiry, q.strike, q.right)
            return _from_details(d)
        if q.kind is QueryKind.FUTURE:
            assert q.month is not None and q.year is not None
            fut = await self.future(q.symbol, q.month, q.year)
            return await self._resolved_future(fut)
        return await self._resolve_symbol(q)

    async def _resolved_future(self, fut: FutureContract) -> Resolved:
        exp = fut.expiration_date or ""
        name = month_name(int(exp[:4]), int(exp[4:6])) if len(exp) >= 6 else exp
        return Resolved(
            conid=fut.conid,
            conidex=str(fut.conid),
            sec_type="FUT",
            symbol=fut.symbol,
            description=f"{fut.symbol} {name}",
            expiry=exp or None,
        )

    async def _resolve_symbol(self, q: InstrumentQuery) -> Resolved:
        sec_type = q.sec_type.value if q.sec_type is not None else None
        if sec_type == "FUT":
            return await self._resolved_future(await self.front_month(q.symbol))
        if sec_type == "CFD":
            conid = await self.cfd(q.symbol)
            return _from_details(await self.details(conid))
        if sec_type == "STK" or sec_type is None:
            stocks = await self.search(q.symbol, sec_type="STK")
            exact = [c for c in stocks if c.symbol.upper() == q.symbol]
            if exact:
                c = exact[0]
                return Resolved(conid=c.conid, conidex=str(c.conid), sec_type="STK",
                                symbol=c.symbol, description=f"{c.symbol} {c.description or ''}"
                                .strip(), exchange=c.description)  # fmt: skip
            if sec_type == "STK":
                raise _not_found("/iserver/secdef/search", f"no stock {q.symbol!r}")
        found = await self.search(q.symbol, sec_type=sec_type)
        exact = [c for c in found if c.symbol.upper() == q.symbol] or found
        if not exact:
            raise _not_found("/iserver/secdef/search", f"unknown symbol {q.symbol!r}")
        c = exact[0]
        if sec_type is None and c.section("FUT") is not None:
            return await self._resolved_future(await self.front_month(q.symbol))
        kind = sec_type or (c.sections[0].sec_type if c.sections else "STK")
        return Resolved(conid=c.conid, conidex=str(c.conid), sec_type=kind, symbol=c.symbol,
                        description=c.company_name or c.symbol, exchange=c.description)  # fmt: skip

    async def resolve_many(self, texts: Sequence[str]) -> dict[str, Resolved]:
        """Resolve several texts (duplicates once); ``{text: Resolved}``."""
        out: dict[str, Resolved] = {}
        for text in dict.fromkeys(texts):
            out[text] = await self.resolve(text)
        return out


def _whole(value: object, name: str) -> int:
    """An int, or a digit string as its int; anything else is refused (``int()`` would turn
    ``265598.7`` into another contract, a ratio of ``1.5`` into 1 and ``True`` into 1)."""
    if isinstance(value, str) and (number := opt_int(value)) is not None:
        return number
    if type(value) is int:
        return value
    raise InvalidArgument(name, f"a whole number, got {value!r}")


def _from_details(d: ContractDetails, *, exchange: str | None = None) -> Resolved:
    parts = [d.symbol or str(d.conid)]
    if d.sec_type == "FUT" and d.expiry:
        parts.append(month_name(int(d.expiry[:4]), int(d.expiry[4:6])))
    elif d.sec_type in ("OPT", "FOP") and d.expiry:
        parts += [d.expiry, f"{d.strike:g}" if d.strike else "", d.right or ""]
    elif d.sec_type == "CASH" and d.local_symbol:
        parts = [d.local_symbol]
    return Resolved(
        conid=d.conid,
        conidex=f"{d.conid}@{exchange}" if exchange else str(d.conid),
        sec_type=d.sec_type or "",
        symbol=d.symbol or "",
        description=" ".join(p for p in parts if p),
        exchange=exchange or d.exchange,
        expiry=d.expiry,
        strike=d.strike,
        right=d.right,
    )
