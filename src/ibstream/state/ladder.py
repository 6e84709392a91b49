"""BookTrader price ladder state from ``sbd`` frames (protocol.md §4.3).

Each ``sbd`` frame carries the visible ladder (``data`` = rows of price, bid size, ask size and a
``focus`` flag marking the last-trade row), so a frame **replaces** the rows of its ladder. Rows
are keyed by price; a frame listing one price twice keeps the later row. No real ``sbd`` frame was
ever recorded (protocol.md §10): this follows IBKR's documentation and IBind's model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from ibstream.protocol.events import LadderRow, PriceLadder

__all__ = ["PriceLadderState", "PriceLadders"]


def _positive(size: float | None) -> bool:
    return size is not None and size > 0


class PriceLadderState:
    """The current ladder of one (account, conid): rows keyed by price."""

    def __init__(self, account: str, conid: int | None, exchange: str | None = None) -> None:
        # Identity: what IBKR keys the ``sbd`` stream by.
        self.account = account
        self.conid = conid
        self.exchange = exchange
        # Current rows by price (the last frame's rows; rows without a price are dropped).
        self._rows: dict[float, LadderRow] = {}
        self.focus: LadderRow | None = None  # last-trade row (``focus`` set), if any
        self.update_count = 0  # frames applied

    def apply(self, event: PriceLadder) -> bool:
        """Replace the rows with the frame's rows; return whether the ladder changed."""
        rows: dict[float, LadderRow] = {}
        focus: LadderRow | None = None
        for row in event.rows:
            if row.price is None:
                continue
            rows[row.price] = row
            if row.focus:
                focus = row
        self.update_count += 1
        if event.exchange is not None:
            self.exchange = event.exchange
        changed = rows != self._rows or focus != self.focus
        self._rows = rows
        self.focus = focus
        return changed

    @property
    def rows(self) -> tuple[LadderRow, ...]:
        """Rows from the highest price to the lowest, as a ladder is displayed."""
        return tuple(self._rows[price] for price in sorted(self._rows, reverse=True))

    @property
    def by_price(self) -> Mapping[float, LadderRow]:
        """Read-only view of the rows by price."""
        return MappingProxyType(self._rows)

    @property
    def last_price(self) -> float | None:
        """Price of the focus (last-trade) row."""
        return None if self.focus is None else self.focus.price

    @property
    def best_bid(self) -> LadderRow | None:
        """Highest-priced row with a positive bid size."""
        bids = [row for row in self._rows.values() if _positive(row.bid_size)]
        return max(bids, key=lambda row: row.price or 0.0, default=None)

    @property
    def best_ask(self) -> LadderRow | None:
        """Lowest-priced row with a positive ask size."""
        asks = [row for row in self._rows.values() if _positive(row.ask_size)]
        return min(asks, key=lambda row: row.price or 0.0, default=None)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        bid, ask = self.best_bid, self.best_ask
        exchange = f"@{self.exchange}" if self.exchange else ""
        return (
            f"<PriceLadderState {self.account} {self.conid}{exchange} rows={len(self)} "
            f"bid={None if bid is None else bid.price} ask={None if ask is None else ask.price} "
            f"last={self.last_price}>"
        )


class PriceLadders(Mapping[tuple[str, int | None], PriceLadderState]):
    """Registry of ladders by ``(account, conid)``, created on first frame."""

    def __init__(self) -> None:
        self._ladders: dict[tuple[str, int | None], PriceLadderState] = {}

    def apply(self, event: object) -> PriceLadderState | None:
        """Apply a :class:`PriceLadder` event to its ladder; ``None`` for any other event."""
        if not isinstance(event, PriceLadder):
            return None
        key = (event.account, event.conid)
        ladder = self._ladders.get(key)
        if ladder is None:
            ladder = self._ladders[key] = PriceLadderState(
                event.account, event.conid, event.exchange
            )
        ladder.apply(event)
        return ladder

    def apply_all(self, events: Iterable[object]) -> list[PriceLadderState]:
        """Apply a batch; return each ladder touched, once, in order of first touch."""
        touched: dict[tuple[str, int | None], PriceLadderState] = {}
        for event in events:
            ladder = self.apply(event)
            if ladder is not None:
                touched.setdefault((ladder.account, ladder.conid), ladder)
        return list(touched.values())

    def remove(self, account: str, conid: int | None) -> PriceLadderState | None:
        """Forget one ladder; return it, or ``None`` if unknown."""
        return self._ladders.pop((account, conid), None)

    def __getitem__(self, key: tuple[str, int | None]) -> PriceLadderState:
        return self._ladders[key]

    def __iter__(self) -> Iterator[tuple[str, int | None]]:
        return iter(self._ladders)

    def __len__(self) -> int:
        return len(self._ladders)

    def __repr__(self) -> str:
        return f"<PriceLadders {len(self)} ladders>"
