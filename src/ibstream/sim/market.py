"""Deterministic synthetic market: one seeded random walk per conid (protocol.md §4.1, §6).

The n-th step of a conid's walk depends only on ``(seed, conid, n)``, so two runs with the same
seed produce the same price paths whatever the timing. Values are rendered in the wire formats
of §6.1: prices as strings, ``83`` as a number, sizes with thousands separators, volume with
``K``/``M`` suffixes, ``C``/``H`` prefixes on ``31`` when the market is closed/halted, and the
6509 availability code of §6.3.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ibstream.sim.config import Instrument, MarketState

__all__ = [
    "DEFAULT_FIELDS",
    "SERVICE_PARAMS",
    "Market",
    "Quote",
    "format_volume",
]

DEFAULT_FIELDS: tuple[str, ...] = ("31", "55", "83", "84", "85", "86", "88", "6509", "7059")
"""Fields served when ``smd`` carries no ``fields`` (§4.1: optional in current docs)."""

SERVICE_PARAMS = (
    "&serviceID1=122&serviceID2=123&serviceID3=203&serviceID4=775"
    "&serviceID5=204&serviceID6=206&serviceID7=108&serviceID8=109"
)
"""The sporadic ``6508`` value recorded in S9 (§6.1)."""


def format_volume(volume: float) -> str:
    """Day volume with ``K``/``M`` suffix (§6.1: ``"24.2M"``)."""
    if volume >= 1_000_000:
        return f"{volume / 1_000_000:.1f}M".replace(".0M", "M")
    if volume >= 1_000:
        return f"{volume / 1_000:.1f}K".replace(".0K", "K")
    return str(int(volume))


def _decimals(price: float) -> int:
    return 5 if price < 10 else 2


@dataclass(slots=True)
class Quote:
    """Mutable level-1 state of one instrument."""

    instrument: Instrument
    rng: random.Random
    last: float
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: float
    open: float
    high: float
    low: float
    prior_close: float
    steps: int = 0

    @property
    def tick(self) -> float:
        """Minimum price increment."""
        return 0.00005 if self.instrument.price < 10 else 0.01

    def step(self) -> None:
        """Advance the walk by one deterministic step."""
        rng = self.rng
        tick = self.tick
        drift = rng.gauss(0.0, 0.0004) * self.last
        moves = round(drift / tick)
        self.last = max(tick, round(self.last + moves * tick, 6))
        spread = tick * rng.randint(1, 4)
        self.bid = round(self.last - tick * rng.randint(0, 2), 6)
        self.ask = round(self.bid + spread, 6)
        self.bid_size = rng.randint(1, 60) * 100
        self.ask_size = rng.randint(1, 60) * 100
        self.last_size = rng.choice((1, 5, 10, 50, 100, 200, 300, 500))
        self.volume += self.last_size * rng.randint(1, 40)
        self.high = max(self.high, self.last)
        self.low = min(self.low, self.last)
        self.steps += 1

    def hot_fields(self, state: MarketState) -> dict[str, Any]:
        """Only the fast-moving fields (31, 84, 85, 86, 88, 7059), for saturation."""
        d = _decimals(self.instrument.price)
        last = f"{self.last:.{d}f}"
        if state != "open":
            last = ("C" if state == "closed" else "H") + last
        div = 100 if self.instrument.sec_type == "STK" else 1
        return {
            "31": last,
            "84": f"{self.bid:.{d}f}",
            "85": f"{self.ask_size // div:,}",
            "86": f"{self.ask:.{d}f}",
            "88": f"{self.bid_size // div:,}",
            "7059": str(self.last_size),
        }

    def fields(self, state: MarketState, delayed: bool) -> dict[str, Any]:
        """Every field id the simulator knows, rendered in wire format (§6.1, §6.2)."""
        inst = self.instrument
        d = _decimals(inst.price)
        last = f"{self.last:.{d}f}"
        if state == "closed":
            last = "C" + f"{self.prior_close:.{d}f}"
        elif state == "halted":
            last = "H" + last
        change = self.last - self.prior_close
        availability = ("D" if delayed else "R") + "pB"
        if state == "closed":
            availability = "ZB"
        us_stock = inst.sec_type == "STK" and inst.currency == "USD"
        div = 100 if us_stock else 1
        return {
            "31": last,
            "55": inst.symbol,
            "70": f"{self.high:.{d}f}",
            "71": f"{self.low:.{d}f}",
            "82": f"{change:.{d}f}",
            "83": round(change / self.prior_close * 100, 2),
            "84": f"{self.bid:.{d}f}",
            "85": f"{self.ask_size // div:,}",
            "86": f"{self.ask:.{d}f}",
            "87": format_volume(self.volume),
            "88": f"{self.bid_size // div:,}",
            "6004": inst.exchange,
            "6070": inst.sec_type,
            "6508": SERVICE_PARAMS,
            "6509": availability,
            "7051": inst.company,
            "7059": str(self.last_size),
            "7094": f"{inst.conid}@{inst.exchange}",
            "7219": inst.description or inst.symbol,
            "7221": inst.listing_exchange,
            "7295": f"{self.open:.{d}f}",
            "7296": f"{self.prior_close:.{d}f}",
            "7741": f"{self.prior_close:.{d}f}",
            "7762": str(int(self.volume)),
        }


class Market:
    """All instruments, their quotes and per-conid update intervals."""

    def __init__(
        self,
        instruments: tuple[Instrument, ...],
        seed: int,
        default_interval: float,
        state: MarketState = "open",
        delayed: bool = False,
    ) -> None:
        self.seed = seed
        self.state: MarketState = state
        self.delayed = delayed
        self.default_interval = default_interval
        self.intervals: dict[int, float] = {}
        self.slowdown = 1.0
        self.instruments: dict[int, Instrument] = {i.conid: i for i in instruments}
        self._quotes: dict[int, Quote] = {}

    def known(self, conid: int) -> bool:
        """Whether ``conid`` is a served instrument (unknown → ``"55":"-","31":"N/A"``)."""
        return conid in self.instruments

    def by_symbol(self, symbol: str) -> list[Instrument]:
        """Instruments whose symbol matches (case-insensitive) — for secdef/search."""
        s = symbol.upper()
        return [i for i in self.instruments.values() if i.symbol == s or i.symbol.startswith(s)]

    def quote(self, conid: int) -> Quote:
        """The quote of a known conid, created on first use from the seed."""
        q = self._quotes.get(conid)
        if q is None:
            inst = self.instruments[conid]
            rng = random.Random(f"{self.seed}:{conid}")
            base = inst.price
            close = round(base * (1 + rng.uniform(-0.01, 0.01)), 6)
            q = Quote(
                instrument=inst,
                rng=rng,
                last=base,
                bid=base,
                ask=base,
                bid_size=1000,
                ask_size=1000,
                last_size=100,
                volume=float(rng.randint(200_000, 30_000_000)),
                open=close,
                high=max(base, close),
                low=min(base, close),
                prior_close=close,
            )
            q.step()
            self._quotes[conid] = q
        return q

    def interval(self, conid: int) -> float:
        """Seconds between updates for ``conid`` (``0`` = saturation), times the slowdown."""
        return self.intervals.get(conid, self.default_interval) * self.slowdown

    def set_interval(self, conid: int | None, seconds: float) -> None:
        """Set the update interval of one conid, or the default for all when ``conid`` is None."""
        if conid is None:
            self.default_interval = seconds
            self.intervals.clear()
        else:
            self.intervals[conid] = seconds

    def fields(self, conid: int) -> dict[str, Any]:
        """Rendered fields of ``conid`` (see :meth:`Quote.fields`)."""
        return self.quote(conid).fields(self.state, self.delayed)

    def step(self, conid: int) -> dict[str, Any]:
        """Advance ``conid`` one step and return the fields whose rendering changed."""
        q = self.quote(conid)
        before = q.fields(self.state, self.delayed)
        q.step()
        after = q.fields(self.state, self.delayed)
        return {k: v for k, v in after.items() if before.get(k) != v}
