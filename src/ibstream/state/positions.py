"""Live positions: the pure book behind ``client.positions`` (no I/O, no clock).

The gateway has no position stream, so positions are read over REST
(``/portfolio/{acct}/positions/{page}``) and the I/O layer (:mod:`ibstream.aio.portfolio`)
hands each complete read of an account to :meth:`PositionBook.replace_account`, which returns
what changed as :class:`PositionChange` records (opened, changed, closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ibstream.protocol.portfolio import Position

__all__ = ["PositionBook", "PositionChange"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChange:
    """One position of ``account`` changed: ``previous`` is ``None`` when it was opened,
    ``current`` is ``None`` when it was closed."""

    account: str
    conid: int
    previous: Position | None
    current: Position | None

    @property
    def quantity_delta(self) -> float:
        """Signed change of the quantity."""
        before = self.previous.quantity if self.previous is not None else 0.0
        after = self.current.quantity if self.current is not None else 0.0
        return after - before


def _same(a: Position, b: Position) -> bool:
    return (
        a.quantity == b.quantity
        and a.avg_cost == b.avg_cost
        and a.market_price == b.market_price
        and a.market_value == b.market_value
        and a.unrealized_pnl == b.unrealized_pnl
        and a.realized_pnl == b.realized_pnl
    )


class PositionBook:
    """Positions per account and conid; zero quantities are dropped."""

    def __init__(self) -> None:
        self._by_account: dict[str, dict[int, Position]] = {}
        self.version = 0

    def replace_account(self, account: str, positions: Iterable[Position]) -> list[PositionChange]:
        """Install a complete read of ``account``; return the changes (quantity or valuation)."""
        new = {p.conid: p for p in positions if p.quantity}
        old = self._by_account.get(account, {})
        changes: list[PositionChange] = []
        for conid, pos in new.items():
            prev = old.get(conid)
            if prev is None or not _same(prev, pos):
                changes.append(
                    PositionChange(account=account, conid=conid, previous=prev, current=pos)
                )
        for conid, prev in old.items():
            if conid not in new:
                changes.append(
                    PositionChange(account=account, conid=conid, previous=prev, current=None)
                )
        self._by_account[account] = new
        if changes:
            self.version += 1
        return changes

    def apply(self, account: str, conid: int, position: Position | None) -> PositionChange | None:
        """Install one position of ``account`` (``None`` or a zero quantity: closed); return the
        change, ``None`` when nothing changed (a repeat of what the book holds)."""
        held = self._by_account.setdefault(account, {})
        prev = held.get(conid)
        current = position if position is not None and position.quantity else None
        if current is None:
            if prev is None:
                return None
            del held[conid]
        elif prev is not None and _same(prev, current):
            held[conid] = current
            return None
        else:
            held[conid] = current
        self.version += 1
        return PositionChange(account=account, conid=conid, previous=prev, current=current)

    def get(self, conid: int, account: str | None = None) -> Position | None:
        """The position in ``conid`` (of ``account``, or of the first account holding it)."""
        if account is not None:
            return self._by_account.get(account, {}).get(conid)
        for positions in self._by_account.values():
            if conid in positions:
                return positions[conid]
        return None

    def quantity(self, conid: int, account: str | None = None) -> float:
        """Signed quantity held (0.0 when flat)."""
        pos = self.get(conid, account)
        return pos.quantity if pos is not None else 0.0

    def of(self, account: str) -> list[Position]:
        """The positions of ``account``, by conid."""
        return sorted(self._by_account.get(account, {}).values(), key=lambda p: p.conid)

    def accounts(self) -> list[str]:
        """Accounts read so far."""
        return sorted(self._by_account)

    def all(self) -> list[Position]:
        """Every position of every account."""
        return [p for acct in sorted(self._by_account) for p in self.of(acct)]

    def __iter__(self) -> Iterator[Position]:
        return iter(self.all())

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_account.values())

    def __contains__(self, conid: object) -> bool:
        return any(conid in v for v in self._by_account.values())
