"""Bars built from the market-data stream: time, volume and tick bars (pure state, no clock).

A *trade tick* is a ``MarketData`` frame that carries a last price (field 31, without the ``C``
prior-close or ``H`` halted prefix). Its size is the last size (field 7059) when the frame has
one, else the growth of the day volume (field 87) since the previous frame that carried it, else
0. Its time is the frame's ``_updated`` (``updated_ms``), or the receive time the caller passes.

* **time bars** (``BarSize.parse("5s")``, ``"1min"``, ``"1h"``): buckets aligned to the epoch
  (a 5 s bar starts at a multiple of 5 s); a bucket without trades gives no bar;
* **volume bars** (``"1000v"``): close once their volume reaches the size; a trade that
  overshoots stays whole in the bar it completes;
* **tick bars** (``"100t"``): close after that many trade ticks.

A ``Gap`` (the stream was interrupted, trades may be missing) marks every bar whose time span
meets ``[gap.start, gap.end]`` with ``gap=True``: the bar that was forming when the gap was
reported and, for time bars, those that begin before the gap's end. Time passes only through
the calls (``trade``, ``advance``): the live driver calls :meth:`BarBuilder.advance` with its
clock so a time bar closes when its bucket ends even if no further trade arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import Gap

__all__ = ["OHLCV", "BarBuilder", "BarSize", "trade_of"]

LAST, LAST_SIZE, VOLUME = 31, 7059, 87

_UNITS = {"s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600, "hour": 3600}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")
#: the largest bar the builders accept (a day of seconds, a billion shares or ticks)
_MAX = {"time": 86_400.0, "volume": 1e12, "tick": 1e9}


@dataclass(frozen=True, slots=True)
class BarSize:
    """What closes a bar: ``kind`` ``"time"`` (seconds), ``"volume"`` or ``"tick"`` (count)."""

    kind: Literal["time", "volume", "tick"]
    size: float

    def __post_init__(self) -> None:
        if self.kind not in _MAX:
            raise InvalidArgument("bar", f"kind must be time, volume or tick, got {self.kind!r}")
        if not (0 < self.size <= _MAX[self.kind]) or self.size != self.size:
            raise InvalidArgument("bar", f"{self.kind} bar size out of range: {self.size!r}")
        if self.kind == "time" and self.size * 1000 != int(self.size * 1000):
            raise InvalidArgument("bar", "time bars are whole milliseconds")

    @classmethod
    def parse(cls, text: str) -> BarSize:
        """``"5s"``, ``"1min"``, ``"15m"``, ``"1h"``, ``"1000v"`` (volume), ``"100t"`` (ticks)."""
        m = _SIZE.match(text.lower()) if isinstance(text, str) else None
        if m is None:
            raise InvalidArgument("bar", f"expected e.g. 5s, 1min, 1h, 1000v or 100t, got {text!r}")
        number, unit = float(m.group(1)), m.group(2)
        if unit in _UNITS:
            return cls("time", number * _UNITS[unit])
        if unit in ("v", "vol", "volume"):
            return cls("volume", number)
        if unit in ("t", "tick", "ticks"):
            return cls("tick", number)
        raise InvalidArgument("bar", f"unknown bar unit {unit!r} in {text!r}")

    def __str__(self) -> str:
        if self.kind == "time":
            s = self.size
            if s % 3600 == 0:
                return f"{s / 3600:g}h"
            return f"{s / 60:g}min" if s % 60 == 0 else f"{s:g}s"
        return f"{self.size:g}{'v' if self.kind == 'volume' else 't'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OHLCV:
    """One bar. ``start_ms``/``end_ms``: the bucket for time bars, first/last trade otherwise.

    ``gap``: a ``Gap`` met this bar's span, so trades may be missing from it. ``complete``:
    closed by its own rule (``False`` for the forming bar and for one cut by ``close()``).
    """

    conid: int
    start_ms: int
    end_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    ticks: int
    gap: bool = False
    complete: bool = True


def trade_of(event: MarketData, last_volume: float | None) -> tuple[float, float] | None:
    """``(price, size)`` of a trade tick, or ``None`` when the frame carries no trade."""
    price = _number(event.values.get(LAST))
    if price is None or event.closed or event.halted:
        return None
    size = _number(event.values.get(LAST_SIZE))
    if size is not None:
        return price, size
    volume = _number(event.values.get(VOLUME))
    if volume is not None and last_volume is not None:
        grew = volume - last_volume
        return price, grew if grew > 0 else 0.0
    return price, 0.0


def _number(value: object) -> float | None:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return float(value)
    return None


class BarBuilder:
    """Builds the bars of one contract from its trade ticks and gaps."""

    __slots__ = ("_last_volume", "_open", "_span_ms", "_until_gap_ms", "conid", "size")

    def __init__(self, conid: int, size: BarSize | str) -> None:
        self.conid = conid
        self.size = BarSize.parse(size) if isinstance(size, str) else size
        self._span_ms = int(self.size.size * 1000) if self.size.kind == "time" else 0
        # the forming bar: [start, end, open, high, low, close, volume, ticks, gap]
        self._open: list[float] | None = None
        self._last_volume: float | None = None
        self._until_gap_ms: float = -1.0  # bars starting before this met a gap

    def __repr__(self) -> str:
        return f"<BarBuilder {self.conid} {self.size} forming={self.forming}>"

    @property
    def forming(self) -> OHLCV | None:
        """The bar being built (``complete=False``), or ``None`` before the first trade."""
        return None if self._open is None else self._bar(self._open, complete=False)

    def _bar(self, b: list[float], *, complete: bool) -> OHLCV:
        return OHLCV(
            conid=self.conid,
            start_ms=int(b[0]),
            end_ms=int(b[1]),
            open=b[2],
            high=b[3],
            low=b[4],
            close=b[5],
            volume=b[6],
            ticks=int(b[7]),
            gap=bool(b[8]),
            complete=complete,
        )

    def on_event(self, event: object, t_ms: int | None = None) -> list[OHLCV]:
        """Feed a ``MarketData`` (its ``updated_ms``, else ``t_ms``) or a ``Gap``; returns the bars
        this closed, oldest first. Other events are ignored."""
        if isinstance(event, MarketData):
            if event.conid != self.conid:
                return []
            trade = trade_of(event, self._last_volume)
            volume = _number(event.values.get(VOLUME))
            if volume is not None:
                self._last_volume = volume
            when = event.updated_ms if event.updated_ms is not None else t_ms
            if trade is None or when is None:
                return []
            return self.trade(when, *trade)
        if isinstance(event, Gap):
            self.gap(int(event.start * 1000), int(event.end * 1000))
        return []

    def gap(self, start_ms: int, end_ms: int) -> None:
        """Trades between ``start_ms`` and ``end_ms`` may be missing."""
        if self._open is not None:
            self._open[8] = 1.0
        self._until_gap_ms = max(self._until_gap_ms, float(end_ms))

    def trade(self, t_ms: int, price: float, size: float = 0.0) -> list[OHLCV]:
        """Add one trade; returns the bars it closed."""
        if price != price or price in (float("inf"), float("-inf")):
            return []  # a value that cannot be a price never enters a bar
        size = size if size == size and 0 <= size < float("inf") else 0.0
        closed = self.advance(t_ms) if self._span_ms else []
        b = self._open
        if b is None:
            start: float
            end: float
            if self._span_ms:
                start = (t_ms // self._span_ms) * self._span_ms
                end = start + self._span_ms
            else:
                start = end = t_ms
            gap = 1.0 if start < self._until_gap_ms else 0.0
            b = self._open = [start, end, price, price, price, price, size, 1, gap]
        else:
            if price > b[3]:
                b[3] = price
            if price < b[4]:
                b[4] = price
            b[5] = price
            b[6] += size
            b[7] += 1
            if not self._span_ms:
                b[1] = max(b[1], t_ms)
        kind = self.size.kind
        if (kind == "volume" and b[6] >= self.size.size) or (
            kind == "tick" and b[7] >= self.size.size
        ):
            closed.append(self._bar(b, complete=True))
            self._open = None
        return closed

    def advance(self, now_ms: int) -> list[OHLCV]:
        """Close the forming time bar once ``now_ms`` reached its end; returns it (or nothing)."""
        b = self._open
        if b is None or not self._span_ms or now_ms < b[1]:
            return []
        self._open = None
        return [self._bar(b, complete=True)]

    def close(self) -> list[OHLCV]:
        """End of data: the forming bar, cut short (``complete=False``), if any."""
        b, self._open = self._open, None
        return [] if b is None else [self._bar(b, complete=False)]
