"""Immutable copies of the client's live state, made on the loop thread for other threads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ibstream.protocol.events import SummaryValue
from ibstream.state import AccountState, LedgerBalance, PnlRow

__all__ = ["AccountSnapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """P&L rows, account summaries and ledgers at one instant (see ``AccountState``).

    ``Client.account`` now returns an ``AccountState`` copy, the same type as the asyncio
    client's; this frozen view stays for code that built its own from an ``AccountState``."""

    accounts: tuple[str, ...]
    pnl: Mapping[str, PnlRow]  # row key ("DU1234567.Core") -> row
    summary: Mapping[str, Mapping[str, SummaryValue]]  # account -> key -> value
    ledger: Mapping[str, Mapping[str, LedgerBalance]]  # account -> currency -> balance

    @classmethod
    def of(cls, state: AccountState) -> AccountSnapshot:
        """Copy ``state`` (call on the thread that owns it)."""
        accounts = state.accounts
        return cls(
            accounts=accounts,
            pnl=MappingProxyType(dict(state.pnl)),
            summary=MappingProxyType(
                {a: MappingProxyType(dict(state.summary(a))) for a in accounts}
            ),
            ledger=MappingProxyType({a: MappingProxyType(dict(state.ledger(a))) for a in accounts}),
        )

    def pnl_of(self, account: str) -> PnlRow | None:
        """The account's ``.Core`` P&L row (or its only row)."""
        core = self.pnl.get(f"{account}.Core")
        if core is not None:
            return core
        rows = [row for row in self.pnl.values() if row.account == account]
        return rows[0] if len(rows) == 1 else None
