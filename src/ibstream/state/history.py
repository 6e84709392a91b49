"""Historical bars from ``smh`` frames, merged by bar time (protocol.md §4.2).

IBKR documents that history "will only respond once", but IBind keeps consuming ``smh`` frames
and nothing recorded rules out repeats. :class:`HistoryBars` therefore merges every frame: bars
are keyed by ``time_ms``, and a bar whose time is already known replaces the stored one, so a
partial (still forming) last bar is replaced by its later, complete version. Bars without a time
cannot be placed and are dropped. Memory is bounded by ``max_bars`` (oldest evicted).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import Bar, MarketHistory

__all__ = ["DEFAULT_MAX_BARS", "HistoryBars", "MarketHistories"]

DEFAULT_MAX_BARS = 100_000


class HistoryBars:
    """The bars of one conid's history stream, ordered by time."""

    def __init__(self, conid: int, max_bars: int | None = DEFAULT_MAX_BARS) -> None:
        if max_bars is not None and max_bars < 1:
            raise InvalidArgument("max_bars", f"must be a positive int or None, got {max_bars!r}")
        self.conid = conid
        self.max_bars = max_bars
        self.server_id: str | None = None  # needed for ``umh+SERVERID``
        self.symbol: str | None = None
        self._bars: dict[int, Bar] = {}  # by time_ms
        self._sorted: tuple[Bar, ...] | None = ()  # cache of ``bars``, None when stale
        self.update_count = 0  # frames applied

    def apply(self, event: MarketHistory) -> bool:
        """Merge a frame's bars; return whether any bar was added or changed."""
        if event.conid != self.conid:
            raise InvalidArgument(
                "event",
                f"MarketHistory for conid {event.conid} applied to HistoryBars {self.conid}",
            )
        self.update_count += 1
        if event.server_id is not None:
            self.server_id = event.server_id
        if event.symbol is not None:
            self.symbol = event.symbol
        changed = False
        for bar in event.bars:
            if bar.time_ms is None:
                continue
            if self._bars.get(bar.time_ms) != bar:
                self._bars[bar.time_ms] = bar
                changed = True
        if changed:
            self._sorted = None
            self._evict()
        return changed

    def _evict(self) -> None:
        if self.max_bars is None or len(self._bars) <= self.max_bars:
            return
        for time_ms in sorted(self._bars)[: len(self._bars) - self.max_bars]:
            del self._bars[time_ms]

    @property
    def bars(self) -> tuple[Bar, ...]:
        """Every bar, oldest first."""
        if self._sorted is None:
            self._sorted = tuple(self._bars[t] for t in sorted(self._bars))
        return self._sorted

    @property
    def last(self) -> Bar | None:
        """The newest bar, ``None`` before any."""
        bars = self.bars
        return bars[-1] if bars else None

    def __len__(self) -> int:
        return len(self._bars)

    def __repr__(self) -> str:
        symbol = f" {self.symbol}" if self.symbol else ""
        last = self.last
        close = "" if last is None or last.close is None else f" close={last.close:g}"
        return (
            f"<HistoryBars {self.conid}{symbol} bars={len(self)}{close} server_id={self.server_id}>"
        )


class MarketHistories(Mapping[int, HistoryBars]):
    """Registry of :class:`HistoryBars` by conid, created on first frame."""

    def __init__(self, max_bars: int | None = DEFAULT_MAX_BARS) -> None:
        self.max_bars = max_bars
        self._histories: dict[int, HistoryBars] = {}

    def apply(self, event: object) -> HistoryBars | None:
        """Merge a :class:`MarketHistory` event; ``None`` for any other event."""
        if not isinstance(event, MarketHistory):
            return None
        history = self._histories.get(event.conid)
        if history is None:
            history = self._histories[event.conid] = HistoryBars(event.conid, self.max_bars)
        history.apply(event)
        return history

    def apply_all(self, events: Iterable[object]) -> list[HistoryBars]:
        """Merge a batch; return each history touched, once, in order of first touch."""
        touched: dict[int, HistoryBars] = {}
        for event in events:
            history = self.apply(event)
            if history is not None:
                touched.setdefault(history.conid, history)
        return list(touched.values())

    def remove(self, conid: int) -> HistoryBars | None:
        """Forget one history; return it, or ``None`` if unknown."""
        return self._histories.pop(conid, None)

    def __getitem__(self, conid: int) -> HistoryBars:
        return self._histories[conid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._histories)

    def __len__(self) -> int:
        return len(self._histories)

    def __repr__(self) -> str:
        return f"<MarketHistories {len(self)} conids>"
