"""The simulator's instrument universe: stocks, indices, futures with months, option chains
(stocks, SPX, and futures options on ES), FX pairs, bonds, a CFD and a combo spread, as IBKR's
contract endpoints describe them.

Every contract is an :class:`~ibstream.sim.config.Instrument` (so it has a market: quotes,
``smd``, snapshots, history) plus a :class:`Spec` with what the contract endpoints need (type,
underlying, expiry, strike, right, months). Derivative months are generated from the date the
simulator starts, so the front month is always live; conids of generated contracts are
deterministic (a hash of the contract's identity). The configured instruments
(``SimConfig.instruments``) are kept as they are and win on conflicts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace

from ibstream.sim.config import Instrument

__all__ = ["COMBO_SPREAD_CONID", "Spec", "Universe", "build_universe"]

COMBO_SPREAD_CONID = 28812380
"""IBKR's conid for USD combo (BAG) orders and market data (``28812380;;;leg/ratio,...``)."""

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """Contract-endpoint facts of one conid."""

    conid: int
    sec_type: str
    symbol: str
    underlying: int | None = None
    expiry: str | None = None  # YYYYMMDD
    strike: float | None = None
    right: str | None = None  # "C" / "P"
    local_symbol: str = ""
    trading_class: str = ""
    exchanges: tuple[str, ...] = ()
    is_us: bool = True

    @property
    def month(self) -> str | None:
        """IBKR month name of the expiry (``"DEC26"``)."""
        if not self.expiry:
            return None
        return f"{_MONTHS[int(self.expiry[4:6]) - 1]}{self.expiry[2:4]}"


def _conid(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return 600_000_000 + int.from_bytes(digest[:4], "big") % 300_000_000


def _third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (4 - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 14)


def _months_from(today: dt.date, cycle: tuple[int, ...], count: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    year, month = today.year, today.month
    while len(out) < count:
        if month in cycle and _third_friday(year, month) > today:
            out.append((year, month))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


_STOCKS: tuple[tuple[int, str, str, float, str], ...] = (
    (8314, "IBM", "INTL BUSINESS MACHINES CORP", 242.15, "NYSE"),
    (4391, "AMD", "ADVANCED MICRO DEVICES", 152.40, "NASDAQ"),
    (270639, "INTC", "INTEL CORP", 24.85, "NASDAQ"),
    (1520593, "JPM", "JPMORGAN CHASE & CO", 238.60, "NYSE"),
    (13977, "XOM", "EXXON MOBIL CORP", 112.30, "NYSE"),
    (8894, "KO", "COCA-COLA CO/THE", 68.45, "NYSE"),
    (6459, "DIS", "WALT DISNEY CO/THE", 111.20, "NYSE"),
    (15124833, "NFLX", "NETFLIX INC", 880.50, "NASDAQ"),
    (10098, "BAC", "BANK OF AMERICA CORP", 44.10, "NYSE"),
    (13824, "WMT", "WALMART INC", 92.75, "NYSE"),
    (9720, "MCD", "MCDONALD'S CORP", 295.40, "NYSE"),
    (4762, "BA", "BOEING CO/THE", 172.90, "NYSE"),
)

_INDICES: tuple[tuple[int, str, str, float, str], ...] = (
    (416904, "SPX", "S&P 500 Stock Index", 5612.40, "CBOE"),
    (416843, "NDX", "NASDAQ 100 Stock Index", 19720.10, "NASDAQ"),
    (13455763, "VIX", "CBOE Volatility Index", 16.85, "CBOE"),
    (11004968, "ES", "E-mini S&P 500", 5612.40, "CME"),
    (11004958, "NQ", "E-mini NASDAQ 100", 19720.10, "CME"),
    (17340715, "CL", "Light Sweet Crude Oil", 71.20, "NYMEX"),
    (69067924, "GC", "Gold", 2650.30, "COMEX"),
)

# symbol, underlying index conid, company, exchange, multiplier, months cycle, count, price
_FUTURES: tuple[tuple[str, int, str, str, float, tuple[int, ...], int, float], ...] = (
    ("ES", 11004968, "E-mini S&P 500", "CME", 50.0, (3, 6, 9, 12), 4, 5620.25),
    ("NQ", 11004958, "E-mini NASDAQ 100", "CME", 20.0, (3, 6, 9, 12), 4, 19750.50),
    ("CL", 17340715, "Light Sweet Crude Oil", "NYMEX", 1000.0, tuple(range(1, 13)), 6, 71.35),
    ("GC", 69067924, "Gold", "COMEX", 100.0, (2, 4, 6, 8, 10, 12), 4, 2662.40),
)

_FX: tuple[tuple[int, str, str, float], ...] = (
    (12087797, "GBP", "USD", 1.2715),
    (15016059, "USD", "JPY", 151.42),
    (12087807, "EUR", "GBP", 0.8535),
    (14433401, "AUD", "USD", 0.6545),
    (15016062, "USD", "CAD", 1.3905),
    (12087820, "EUR", "JPY", 164.33),
)

# conid, issuer symbol, description, price
_BONDS: tuple[tuple[int, str, str, float], ...] = (
    (712354017, "US-T", "T 4 1/4 11/15/34", 98.75),
    (712354024, "US-T", "T 4 5/8 02/15/55", 95.40),
    (719055343, "IBM", "IBM 4.15 05/15/39", 91.20),
)

# underlying symbol, strike step, underlying type, option type, multiplier, exchanges
_OPTION_UNDERLYINGS: tuple[tuple[str, float, str, str, float, tuple[str, ...]], ...] = (
    ("AAPL", 5.0, "STK", "OPT", 100.0, ("SMART", "CBOE", "AMEX", "ISE")),
    ("SPY", 5.0, "STK", "OPT", 100.0, ("SMART", "CBOE", "AMEX", "ISE")),
    ("MSFT", 5.0, "STK", "OPT", 100.0, ("SMART", "CBOE", "AMEX", "ISE")),
    ("SPX", 25.0, "IND", "OPT", 100.0, ("SMART", "CBOE")),
    ("ES", 25.0, "IND", "FOP", 50.0, ("CME",)),
)
_OPTION_EXPIRIES = 4
_STRIKES_EACH_SIDE = 8


class Universe:
    """Instruments and their contract specs, with the lookups the endpoints need."""

    def __init__(self, instruments: dict[int, Instrument], specs: dict[int, Spec]) -> None:
        self.instruments = instruments
        self.specs = specs
        self._by_symbol: dict[str, list[int]] = {}
        for conid, spec in specs.items():
            self._by_symbol.setdefault(spec.symbol, []).append(conid)

    def spec(self, conid: int) -> Spec | None:
        return self.specs.get(conid)

    def of_symbol(self, symbol: str, sec_type: str | None = None) -> list[Spec]:
        """Specs whose symbol is ``symbol`` (optionally of one type), by conid."""
        out = [self.specs[c] for c in self._by_symbol.get(symbol.upper(), ())]
        if sec_type:
            out = [s for s in out if s.sec_type == sec_type]
        return sorted(out, key=lambda s: (s.expiry or "", s.strike or 0.0, s.right or "", s.conid))

    def derivatives(self, underlying: int, sec_type: str) -> list[Spec]:
        """Futures or options on ``underlying``, sorted by expiry, strike, right."""
        return sorted(
            (
                s
                for s in self.specs.values()
                if s.underlying == underlying and s.sec_type == sec_type
            ),
            key=lambda s: (s.expiry or "", s.strike or 0.0, s.right or ""),
        )

    def symbols(self) -> set[str]:
        return set(self._by_symbol)


def _stock_spec(inst: Instrument) -> Spec:
    exchanges = ("SMART", inst.exchange, "ARCA", "BATS", "IEX")
    return Spec(
        conid=inst.conid,
        sec_type=inst.sec_type,
        symbol=inst.symbol,
        local_symbol=inst.description or inst.symbol,
        trading_class=inst.listing_exchange.split(".")[-1] if inst.sec_type == "STK" else "",
        exchanges=tuple(dict.fromkeys(exchanges)),
        is_us=inst.currency == "USD",
    )


def build_universe(base: tuple[Instrument, ...], today: dt.date) -> Universe:
    """The configured instruments plus the generated universe (months from ``today``)."""
    insts: dict[int, Instrument] = {}
    specs: dict[int, Spec] = {}

    def add(inst: Instrument, spec: Spec) -> None:
        insts.setdefault(inst.conid, inst)
        specs.setdefault(inst.conid, spec)

    configured_futures = {i.symbol: i for i in base if i.sec_type == "FUT"}
    for inst in base:
        if inst.sec_type in ("STK", "CASH"):
            add(inst, _stock_spec(inst) if inst.sec_type == "STK" else _fx_spec(inst))
    for conid, sym, company, price, exch in _STOCKS:
        listing = f"{exch}.NMS" if exch == "NASDAQ" else exch
        add(
            Instrument(conid, sym, company, price, exchange=exch, listing_exchange=listing),
            _stock_spec(
                Instrument(conid, sym, company, price, exchange=exch, listing_exchange=listing)
            ),
        )
    # A second, non-US listing of AAPL (trsrv/stocks lists both; isUS tells them apart).
    mexi = Instrument(
        38708077,
        "AAPL",
        "APPLE INC",
        4950.0,
        exchange="MEXI",
        listing_exchange="MEXI",
        currency="MXN",
    )
    add(mexi, replace(_stock_spec(mexi), exchanges=("MEXI",), is_us=False))
    for conid, sym, company, price, exch in _INDICES:
        add(
            Instrument(
                conid,
                sym,
                company,
                price,
                sec_type="IND",
                exchange=exch,
                listing_exchange=exch,
                description=sym,
            ),
            Spec(conid=conid, sec_type="IND", symbol=sym, local_symbol=sym, exchanges=(exch,)),
        )
    for conid, base_ccy, quote, price in _FX:
        pair = f"{base_ccy}.{quote}"
        inst = Instrument(
            conid,
            base_ccy,
            f"{base_ccy} vs {quote}",
            price,
            sec_type="CASH",
            exchange="IDEALPRO",
            listing_exchange="IDEALPRO",
            currency=quote,
            description=pair,
        )
        add(inst, _fx_spec(inst))
    for sym, und, company, exch, mult, cycle, count, price in _FUTURES:
        for n, (year, month) in enumerate(_months_from(today, cycle, count)):
            expiry = _third_friday(year, month)
            code = "FGHJKMNQUVXZ"[month - 1]
            configured = configured_futures.get(sym) if n == 0 else None
            conid = configured.conid if configured else _conid("FUT", sym, year, month)
            name = f"{sym} {_MONTHS[month - 1]}{str(year)[2:]}"
            inst = Instrument(
                conid,
                sym,
                company,
                round(price * (1 + 0.004 * n), 2),
                sec_type="FUT",
                exchange=exch,
                listing_exchange=exch,
                description=name,
                multiplier=mult,
            )
            insts[conid] = inst  # the configured front month takes the live month's name
            specs[conid] = Spec(
                conid=conid,
                sec_type="FUT",
                symbol=sym,
                underlying=und,
                expiry=expiry.strftime("%Y%m%d"),
                local_symbol=f"{sym}{code}{year % 10}",
                trading_class=sym,
                exchanges=(exch,),
            )
    for sym, step, kind, opt_type, opt_mult, opt_exchanges in _OPTION_UNDERLYINGS:
        und_inst = next((i for i in insts.values() if i.symbol == sym and i.sec_type == kind), None)
        if und_inst is None:
            continue
        atm = round(und_inst.price / step) * step
        for year, month in _months_from(today, tuple(range(1, 13)), _OPTION_EXPIRIES):
            opt_expiry = _third_friday(year, month).strftime("%Y%m%d")
            for k in range(-_STRIKES_EACH_SIDE, _STRIKES_EACH_SIDE + 1):
                strike = float(atm + k * step)
                for right in ("C", "P"):
                    conid = _conid(opt_type, sym, opt_expiry, strike, right)
                    intrinsic = max(0.0, (und_inst.price - strike) * (1 if right == "C" else -1))
                    premium = round(intrinsic + und_inst.price * 0.02 + 0.05, 2)
                    label = (
                        f"{sym} {_MONTHS[month - 1]}{str(year)[2:]} {strike:g} "
                        f"{'Call' if right == 'C' else 'Put'}"
                    )
                    inst = Instrument(
                        conid,
                        sym,
                        und_inst.company,
                        premium,
                        sec_type=opt_type,
                        exchange=opt_exchanges[0],
                        listing_exchange=opt_exchanges[-1],
                        description=label,
                        multiplier=opt_mult,
                    )
                    add(
                        inst,
                        Spec(
                            conid=conid,
                            sec_type=opt_type,
                            symbol=sym,
                            underlying=und_inst.conid,
                            expiry=opt_expiry,
                            strike=strike,
                            right=right,
                            local_symbol=label,
                            trading_class=sym if opt_type == "OPT" else f"{sym}{opt_expiry[4:6]}",
                            exchanges=opt_exchanges,
                        ),
                    )
    for conid, issuer, desc, price in _BONDS:
        company = "United States Treasury" if issuer == "US-T" else "IBM CORP"
        inst = Instrument(conid, issuer, company, price, sec_type="BOND", exchange="SMART",
                          listing_exchange="SMART", description=desc)  # fmt: skip
        add(inst, Spec(conid=conid, sec_type="BOND", symbol=issuer, local_symbol=desc,
                       exchanges=("SMART",)))  # fmt: skip
    # A CFD on AAPL and the combo spread contract.
    cfd = Instrument(
        143669519,
        "AAPL",
        "APPLE INC",
        271.60,
        sec_type="CFD",
        exchange="SMART",
        listing_exchange="SMART",
        description="AAPL CFD",
    )
    add(
        cfd,
        Spec(
            conid=cfd.conid,
            sec_type="CFD",
            symbol="AAPL",
            underlying=265598,
            local_symbol="AAPL",
            exchanges=("SMART",),
        ),
    )
    for inst in base:  # anything configured that is not modelled above
        if inst.conid not in insts:
            add(inst, _stock_spec(inst))
    return Universe(insts, specs)


def _fx_spec(inst: Instrument) -> Spec:
    return Spec(
        conid=inst.conid,
        sec_type="CASH",
        symbol=inst.symbol,
        local_symbol=inst.description,
        trading_class=inst.description,
        exchanges=("IDEALPRO",),
    )
