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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ibstream.protocol.events import AccountLedger, AccountSummary, Pnl, SummaryValue

__all__ = ["AccountState", "LedgerBalance", "PnlRow"]

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
    """P&L, summary and ledger of the socket's accounts, merged from ``spl``/``ssd``/``sld``.

    ``spl`` is one stream per socket covering every account; ``ssd``/``sld`` are per account.
    Pass ``account`` to keep only that account's data (``None`` keeps every account).
    """

    def __init__(self, account: str | None = None) -> None:
        # Filter: only this account's events are merged (None merges every account).
        self.account = account
        # P&L rows by row key ("DU1234.Core"), every account.
        self._pnl: dict[str, PnlRow] = {}
        # Account summary: account -> key -> value, and each account's newest timestamp (s).
        self._summary: dict[str, dict[str, SummaryValue]] = {}
        self._summary_ts: dict[str, int | None] = {}
        # Ledger: account -> currency -> merged balance.
        self._ledger: dict[str, dict[str, LedgerBalance]] = {}
        # Counters.
        self.update_count = 0  # events merged
        self.ignored = 0  # events of other accounts (with a filter) or of other types

    def copy(self) -> AccountState:
        """An independent copy (what the threaded client hands to other threads)."""
        other = AccountState(self.account)
        other._pnl = dict(self._pnl)
        other._summary = {a: dict(v) for a, v in self._summary.items()}
        other._summary_ts = dict(self._summary_ts)
        other._ledger = {a: dict(v) for a, v in self._ledger.items()}
        other.update_count = self.update_count
        other.ignored = self.ignored
        return other

    # -- feeding ---------------------------------------------------------------------------

    def apply(self, event: object) -> bool:
        """Merge a ``Pnl``/``AccountSummary``/``AccountLedger``; return whether anything changed.

        Any other event, or an event of another account when filtered, is ignored (``False``).
        """
        if not isinstance(event, Pnl | AccountSummary | AccountLedger) or (
            self.account is not None and event.account != self.account
        ):
            self.ignored += 1
            return False
        self.update_count += 1
        if isinstance(event, Pnl):
            return self._apply_pnl(event)
        if isinstance(event, AccountSummary):
            return self._apply_summary(event)
        return self._apply_ledger(event)

    def apply_all(self, events: Iterable[object]) -> list[str]:
        """Merge a batch; return the accounts that changed, once each, in order of first change."""
        changed: dict[str, None] = {}
        for event in events:
            if isinstance(event, Pnl | AccountSummary | AccountLedger) and self.apply(event):
                changed[event.account] = None
        return list(changed)

    def _apply_pnl(self, event: Pnl) -> bool:
        old = self._pnl.get(event.row)
        new = _merge_pnl(old, event)
        self._pnl[event.row] = new
        return old is None or any(getattr(old, n) != getattr(new, n) for n in _PNL_FIELDS)

    def _apply_summary(self, event: AccountSummary) -> bool:
        summary = self._summary.setdefault(event.account, {})
        changed = False
        for key, value in event.values.items():
            old = summary.get(key)
            if old is None or old.value != value.value or old.currency != value.currency:
                changed = True
            summary[key] = value
        self._summary_ts[event.account] = _later(
            self._summary_ts.get(event.account), event.timestamp
        )
        return changed

    def _apply_ledger(self, event: AccountLedger) -> bool:
        ledger = self._ledger.setdefault(event.account, {})
        old = ledger.get(event.currency)
        values: dict[str, float | str | None] = dict(old.values) if old is not None else {}
        before = dict(values)
        values.update(event.values)
        ledger[event.currency] = LedgerBalance(
            account=event.account,
            currency=event.currency,
            timestamp=_later(None if old is None else old.timestamp, event.timestamp),
            values=MappingProxyType(values),
        )
        return old is None or values != before

    # -- reading ---------------------------------------------------------------------------

    @property
    def accounts(self) -> tuple[str, ...]:
        """Every account seen so far, sorted."""
        seen = {row.account for row in self._pnl.values()}
        return tuple(sorted(seen | self._summary.keys() | self._ledger.keys()))

    @property
    def pnl(self) -> Mapping[str, PnlRow]:
        """Read-only view of the P&L rows by row key (``"DU1234.Core"``)."""
        return MappingProxyType(self._pnl)

    def pnl_of(self, account: str) -> PnlRow | None:
        """The account's ``.Core`` P&L row (or its only row); ``None`` when unknown."""
        core = self._pnl.get(f"{account}.Core")
        if core is not None:
            return core
        rows = [row for row in self._pnl.values() if row.account == account]
        return rows[0] if len(rows) == 1 else None

    def summary(self, account: str) -> Mapping[str, SummaryValue]:
        """Read-only view of an account's summary by key (``"NetLiquidation"`` -> value +
        currency); empty when unknown."""
        return MappingProxyType(self._summary.get(account, {}))

    def summary_value(self, account: str, key: str) -> float | str | bool | None:
        """The bare value of one summary key; ``None`` when absent."""
        entry = self._summary.get(account, {}).get(key)
        return None if entry is None else entry.value

    def summary_timestamp(self, account: str) -> int | None:
        """Newest summary timestamp of an account (epoch s); never moves backwards."""
        return self._summary_ts.get(account)

    def ledger(self, account: str) -> Mapping[str, LedgerBalance]:
        """Read-only view of an account's ledger by currency (``"BASE"``, ``"USD"``...)."""
        return MappingProxyType(self._ledger.get(account, {}))

    def __repr__(self) -> str:
        account = f" {self.account}" if self.account else ""
        return (
            f"<AccountState{account} accounts={list(self.accounts)} pnl_rows={len(self._pnl)} "
            f"summary_keys={sum(map(len, self._summary.values()))} "
            f"ledger_currencies={sum(map(len, self._ledger.values()))}>"
        )
