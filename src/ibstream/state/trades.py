"""Executions from the ``str`` topic, de-duplicated by execution id.

Theory of operation (protocol.md §4.5, §8.8): after the ``{"topic":"str","args":[]}``
opener the gateway replays the execution history and **sends each execution twice**, first
without ``commission`` and then again with it; recordings show hundreds of re-sends of one
historic trade. :class:`TradeBook` keeps one :class:`~ibstream.protocol.events.Trade` per
``execution_id``:

* a new id is stored (:attr:`TradeChange.NEW`);
* a copy that adds or changes information (typically the commission) is merged into the stored
  trade: values it carries override, values it lacks (``None``) are kept
  (:attr:`TradeChange.UPDATED`);
* a copy that adds nothing is dropped (:attr:`TradeChange.DUPLICATE`).

Trades are kept ordered by trade time (then execution id) and indexed by order id and conid.
Memory is bounded: past ``max_size`` executions the oldest by trade time are evicted; a copy of
an evicted execution that arrives later counts as new again.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from typing import Any

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import Trade

__all__ = ["DEFAULT_MAX_TRADES", "TradeBook", "TradeChange"]

DEFAULT_MAX_TRADES = 100_000


class TradeChange(Enum):
    """What :meth:`TradeBook.apply` did with an execution."""

    NEW = "new"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # no execution id: cannot be de-duplicated, not stored


_STORED = frozenset({TradeChange.NEW, TradeChange.UPDATED})

_SortKey = tuple[int, str]


def _sort_key(trade: Trade) -> _SortKey:
    return (trade.trade_time_ms if trade.trade_time_ms is not None else 0, trade.execution_id)


def _merge(old: Trade, new: Trade) -> Trade:
    """``old`` with every non-``None`` value of ``new`` applied; raw mappings united."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(new):
        value = getattr(new, f.name)
        if f.name == "raw":
            merged_raw = {**old.raw, **new.raw}
            if merged_raw != old.raw:
                changes["raw"] = merged_raw
        elif value is not None and value != getattr(old, f.name):
            changes[f.name] = value
    return dataclasses.replace(old, **changes) if changes else old


class TradeBook(Mapping[str, Trade]):
    """Executions by execution id; a read-only mapping, iterated in trade-time order."""

    def __init__(self, max_size: int | None = DEFAULT_MAX_TRADES) -> None:
        if max_size is not None and max_size < 1:
            raise InvalidArgument("max_size", f"must be a positive int or None, got {max_size!r}")
        # Bound on stored executions (None: unbounded).
        self.max_size = max_size
        # Executions by id, plus their order by (trade time, execution id).
        self._trades: dict[str, Trade] = {}
        self._order: list[_SortKey] = []
        # Secondary indexes: execution ids by order id and by conid.
        self._by_order: dict[int, set[str]] = {}
        self._by_conid: dict[int, set[str]] = {}
        # Counters.
        self.duplicates = 0
        self.evicted = 0

    def copy(self) -> TradeBook:
        """An independent copy (what the threaded client hands to other threads)."""
        other = TradeBook(self.max_size)
        other._trades = dict(self._trades)
        other._order = list(self._order)
        other._by_order = {k: set(v) for k, v in self._by_order.items()}
        other._by_conid = {k: set(v) for k, v in self._by_conid.items()}
        other.duplicates = self.duplicates
        other.evicted = self.evicted
        return other

    def apply(self, trade: Trade) -> TradeChange:
        """Store, merge or drop one execution; see the module docstring."""
        exec_id = trade.execution_id
        if not exec_id:
            return TradeChange.IGNORED
        old = self._trades.get(exec_id)
        if old is None:
            self._insert(trade)
            self._evict()
            return TradeChange.NEW
        merged = _merge(old, trade)
        if merged is old:
            self.duplicates += 1
            return TradeChange.DUPLICATE
        if merged == trade:
            # already merged upstream (a TradeUpdated's trade, from the core's execution
            # memory): keep that object, not an equal copy (one per execution, not two)
            merged = trade
        self._remove(exec_id)
        self._insert(merged)
        return TradeChange.UPDATED

    def apply_all(self, events: Iterable[object]) -> list[Trade]:
        """Apply a batch (other event types are skipped); return the new or updated trades,
        once each, in order of first change."""
        changed: dict[str, Trade] = {}
        for event in events:
            if isinstance(event, Trade) and self.apply(event) in _STORED:
                changed[event.execution_id] = event
        return [self._trades[e] for e in changed if e in self._trades]

    def _insert(self, trade: Trade) -> None:
        exec_id = trade.execution_id
        self._trades[exec_id] = trade
        insort(self._order, _sort_key(trade))
        if trade.order_id is not None:
            self._by_order.setdefault(trade.order_id, set()).add(exec_id)
        if trade.conid is not None:
            self._by_conid.setdefault(trade.conid, set()).add(exec_id)

    def _remove(self, exec_id: str) -> Trade:
        trade = self._trades.pop(exec_id)
        key = _sort_key(trade)
        del self._order[bisect_left(self._order, key)]
        for index, ident in ((self._by_order, trade.order_id), (self._by_conid, trade.conid)):
            if ident is not None:
                ids = index[ident]
                ids.discard(exec_id)
                if not ids:
                    del index[ident]
        return trade

    def _evict(self) -> None:
        while self.max_size is not None and len(self._trades) > self.max_size:
            self._remove(self._order[0][1])
            self.evicted += 1

    # -- reading ---------------------------------------------------------------------------

    def __getitem__(self, execution_id: str) -> Trade:
        return self._trades[execution_id]

    def __iter__(self) -> Iterator[str]:
        """Execution ids, oldest trade first."""
        return (exec_id for _, exec_id in list(self._order))

    def __len__(self) -> int:
        return len(self._trades)

    def trades(self) -> list[Trade]:
        """Every stored execution, oldest trade first."""
        return [self._trades[exec_id] for _, exec_id in self._order]

    def _sorted(self, exec_ids: set[str] | None) -> list[Trade]:
        if not exec_ids:
            return []
        return sorted((self._trades[e] for e in exec_ids), key=_sort_key)

    def for_order(self, order_id: int) -> list[Trade]:
        """Executions of one order, oldest first."""
        return self._sorted(self._by_order.get(order_id))

    def for_conid(self, conid: int) -> list[Trade]:
        """Executions on one contract, oldest first."""
        return self._sorted(self._by_conid.get(conid))

    def latest(self) -> Trade | None:
        """The most recent execution by trade time, or ``None`` when empty."""
        return self._trades[self._order[-1][1]] if self._order else None

    def clear(self) -> None:
        """Forget every execution (counters are kept)."""
        self._trades.clear()
        self._order.clear()
        self._by_order.clear()
        self._by_conid.clear()

    def __repr__(self) -> str:
        bound = "unbounded" if self.max_size is None else f"max={self.max_size}"
        return (
            f"<TradeBook trades={len(self)} {bound} duplicates={self.duplicates} "
            f"evicted={self.evicted}>"
        )
