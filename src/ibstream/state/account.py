"""Account state: P&L rows (``spl``), account summary (``ssd``) and ledger (``sld``).

Theory of operation (protocol.md §4.6, §4.7):

* ``spl`` sends rows keyed ``ACCT.Core`` with ``dpl``/``upl``/``nl``/``uel``/``mv``. A value a
  frame does not carry (``None`` in the event) keeps its previous value.
* ``ssd`` sends summary entries (``NetLiquidation``, ``AccruedCash-S``...) each with value or
  monetary value + currency; a frame may carry a subset of keys, so entries merge by key.
* ``sld`` sends one entry per currency every 10 s; an entry carries fields only when something
  changed, otherwise it is *blank* (``key`` + ``timestamp``). Blank entries mean "unchanged": the
  decoder already skips them and an entry is merged key by key here.

Timestamps of summary and ledger are epoch **seconds**, as IBKR sends them; they never move
backwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ibstream.protocol.events import AccountLedger, AccountSummary, Pnl, SummaryValue

__all__ = ["AccountState", "Accounts", "LedgerBalance", "PnlRow"]

_PNL_FIELDS = (
    "row_type",
    "daily_pnl",
    "unrealized_pnl",
    "net_liquidity",
    "excess_liquidity",
    "market_value",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PnlRow:
    """The latest P&L of one ``spl`` row (``"DU1234.Core"``)."""

    account: str
    row: str
    row_type: int | None = None
    daily_pnl: float | None = None
    unrealized_pnl: float | None = None
    net_liquidity: float | None = None
    excess_liquidity: float | None = None
    market_value: float | None = None
    update_count: int = 0


def _merge_pnl(old: PnlRow | None, event: Pnl) -> PnlRow:
    base = old if old is not None else PnlRow(account=event.account, row=event.row)
    merged: dict[str, Any] = {}
    for name in _PNL_FIELDS:
        value = getattr(event, name)
        merged[name] = getattr(base, name) if value is None else value
    return PnlRow(
        account=event.account, row=event.row, update_count=base.update_count + 1, **merged
    )


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerBalance:
    """The merged ledger of one currency (``"BASE"`` = the account's base currency).

    ``values`` keeps IBKR's keys (``cashbalance``, ``exchangeRate``, ``netLiquidationValue``...).
    The typed accessors look keys up case-insensitively, because IBKR's spelling varies
    (``cashbalance`` in the documented frame, ``cashBalance`` in the ``fields`` request).
    """

    account: str
    currency: str
    timestamp: int | None
    values: Mapping[str, float | str | None] = field(repr=False)

    def get(self, key: str) -> float | str | None:
        """A value by IBKR key, case-insensitively; ``None`` when absent."""
        if key in self.values:
            return self.values[key]
        folded = key.lower()
        for name, value in self.values.items():
            if name.lower() == folded:
                return value
        return None

    def number(self, key: str) -> float | None:
        """A numeric value by IBKR key (case-insensitive); ``None`` when absent or not numeric."""
        return _number(self.get(key))

    @property
    def cash_balance(self) -> float | None:
        return self.number("cashBalance")

    @property
    def settled_cash(self) -> float | None:
        return self.number("settledCash")

    @property
    def net_liquidation(self) -> float | None:
        return self.number("netLiquidationValue")

    @property
    def unrealized_pnl(self) -> float | None:
        return self.number("unrealizedPnl")

    @property
    def realized_pnl(self) -> float | None:
        return self.number("realizedPnl")

    @property
    def stock_market_value(self) -> float | None:
        return self.number("stockMarketValue")

    @property
    def exchange_rate(self) -> float | None:
        return self.number("exchangeRate")


def _later(old: int | None, new: int | None) -> int | None:
    if new is None:
        return old
    return new if old is None or new > old else old


class AccountState:
    """P&L, summary and ledger of one account, merged from ``spl``/``ssd``/``sld`` events."""

    def __init__(self, account: str) -> None:
        self.account = account
        # P&L rows by row key ("DU1234.Core").
        self._pnl: dict[str, PnlRow] = {}
        # Account summary by key, and the newest frame timestamp (epoch s).
        self._summary: dict[str, SummaryValue] = {}
        self.summary_timestamp: int | None = None
        # Ledger by currency.
        self._ledger: dict[str, LedgerBalance] = {}
        self.update_count = 0  # events applied

    # -- feeding ---------------------------------------------------------------------------

    def apply(self, event: Pnl | AccountSummary | AccountLedger) -> bool:
        """Merge one event of this account; return whether anything changed."""
        self.update_count += 1
        if isinstance(event, Pnl):
            return self._apply_pnl(event)
        if isinstance(event, AccountSummary):
            return self._apply_summary(event)
        return self._apply_ledger(event)

    def _apply_pnl(self, event: Pnl) -> bool:
        old = self._pnl.get(event.row)
        new = _merge_pnl(old, event)
        self._pnl[event.row] = new
        return old is None or any(getattr(old, n) != getattr(new, n) for n in _PNL_FIELDS)

    def _apply_summary(self, event: AccountSummary) -> bool:
        changed = False
        for key, value in event.values.items():
            old = self._summary.get(key)
            if old is None or old.value != value.value or old.currency != value.currency:
                changed = True
            self._summary[key] = value
        self.summary_timestamp = _later(self.summary_timestamp, event.timestamp)
        return changed

    def _apply_ledger(self, event: AccountLedger) -> bool:
        old = self._ledger.get(event.currency)
        values: dict[str, float | str | None] = dict(old.values) if old is not None else {}
        before = dict(values)
        values.update(event.values)
        timestamp = _later(None if old is None else old.timestamp, event.timestamp)
        self._ledger[event.currency] = LedgerBalance(
            account=self.account,
            currency=event.currency,
            timestamp=timestamp,
            values=MappingProxyType(values),
        )
        return old is None or values != before

    # -- reading ---------------------------------------------------------------------------

    @property
    def pnl_rows(self) -> Mapping[str, PnlRow]:
        """Read-only view of the P&L rows by row key."""
        return MappingProxyType(self._pnl)

    @property
    def pnl(self) -> PnlRow | None:
        """The account's ``.Core`` P&L row (or its only row), ``None`` before the first frame."""
        core = self._pnl.get(f"{self.account}.Core")
        if core is not None:
            return core
        return next(iter(self._pnl.values())) if len(self._pnl) == 1 else None

    @property
    def summary(self) -> Mapping[str, SummaryValue]:
        """Read-only view of the summary by key (``"NetLiquidation"`` -> value + currency)."""
        return MappingProxyType(self._summary)

    def summary_value(self, key: str) -> float | str | bool | None:
        """The bare value of a summary key; ``None`` when absent."""
        entry = self._summary.get(key)
        return None if entry is None else entry.value

    @property
    def ledger(self) -> Mapping[str, LedgerBalance]:
        """Read-only view of the ledger by currency (``"BASE"``, ``"USD"``...)."""
        return MappingProxyType(self._ledger)

    def __repr__(self) -> str:
        pnl = self.pnl
        daily = "" if pnl is None or pnl.daily_pnl is None else f" daily_pnl={pnl.daily_pnl:g}"
        return (
            f"<AccountState {self.account}{daily} pnl_rows={len(self._pnl)} "
            f"summary={len(self._summary)} ledger={sorted(self._ledger)}>"
        )


class Accounts(Mapping[str, AccountState]):
    """Registry of :class:`AccountState` by account id, created on first event."""

    def __init__(self) -> None:
        self._accounts: dict[str, AccountState] = {}

    def apply(self, event: object) -> AccountState | None:
        """Merge a ``Pnl``/``AccountSummary``/``AccountLedger`` event; ``None`` for others."""
        if not isinstance(event, Pnl | AccountSummary | AccountLedger):
            return None
        state = self.account(event.account)
        state.apply(event)
        return state

    def apply_all(self, events: Iterable[object]) -> list[AccountState]:
        """Merge a batch; return the accounts that changed, once each, in order of first change."""
        changed: dict[str, AccountState] = {}
        for event in events:
            if isinstance(event, Pnl | AccountSummary | AccountLedger):
                state = self.account(event.account)
                if state.apply(event):
                    changed.setdefault(state.account, state)
        return list(changed.values())

    def account(self, account: str) -> AccountState:
        """The state of ``account``, created empty if absent."""
        state = self._accounts.get(account)
        if state is None:
            state = self._accounts[account] = AccountState(account)
        return state

    def __getitem__(self, account: str) -> AccountState:
        return self._accounts[account]

    def __iter__(self) -> Iterator[str]:
        return iter(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def __repr__(self) -> str:
        return f"<Accounts {sorted(self._accounts)}>"
