"""Typed portfolio records parsed from the gateway's REST answers (pure, no I/O).

``/portfolio/accounts`` and ``/portfolio/subaccounts`` -> :class:`PortfolioAccount`;
``/portfolio/{acct}/positions/{page}`` -> :class:`Position`; ``/portfolio/{acct}/summary`` ->
:class:`SummaryItem` per key; ``/portfolio/{acct}/ledger`` -> :class:`CurrencyBalance` per
currency (``BASE`` included). Odd values become ``None``; ``raw`` keeps the gateway's dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ibstream.protocol.contracts import opt_float, opt_int, opt_str

__all__ = [
    "POSITIONS_PAGE_SIZE",
    "CurrencyBalance",
    "PortfolioAccount",
    "Position",
    "SummaryItem",
    "parse_ledger",
    "parse_summary",
]

POSITIONS_PAGE_SIZE = 100
"""``/portfolio/{acct}/positions/{page}`` returns at most 100 positions per page (IBKR; its
older swagger documents 30, so the client reads on until a page is shorter than the first)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioAccount:
    """One account the session may read (``/portfolio/accounts``, ``/portfolio/subaccounts``)."""

    account_id: str
    display_name: str | None
    alias: str | None
    currency: str | None
    type: str | None
    trading_type: str | None
    is_advisor: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PortfolioAccount | None:
        acct = opt_str(d.get("accountId")) or opt_str(d.get("id"))
        if acct is None:
            return None
        return cls(
            account_id=acct,
            display_name=opt_str(d.get("displayName")),
            alias=opt_str(d.get("accountAlias")),
            currency=opt_str(d.get("currency")),
            type=opt_str(d.get("type")),
            trading_type=opt_str(d.get("tradingType")),
            is_advisor=d.get("faclient") is True,
            raw=d,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One position of an account. ``quantity`` is signed (negative = short)."""

    account: str
    conid: int
    symbol: str | None
    description: str | None
    sec_type: str | None
    quantity: float
    market_price: float | None
    market_value: float | None
    avg_cost: float | None
    avg_price: float | None
    unrealized_pnl: float | None
    realized_pnl: float | None
    currency: str | None
    multiplier: float | None
    expiry: str | None
    strike: float | None
    right: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], account: str = "") -> Position | None:
        conid = opt_int(d.get("conid"))
        if conid is None:
            return None
        right = opt_str(d.get("putOrCall"))
        return cls(
            account=opt_str(d.get("acctId")) or account,
            conid=conid,
            symbol=opt_str(d.get("ticker")) or opt_str(d.get("contractDesc")),
            description=opt_str(d.get("contractDesc")),
            sec_type=opt_str(d.get("assetClass")),
            quantity=opt_float(d.get("position")) or 0.0,
            market_price=opt_float(d.get("mktPrice")),
            market_value=opt_float(d.get("mktValue")),
            avg_cost=opt_float(d.get("avgCost")),
            avg_price=opt_float(d.get("avgPrice")),
            unrealized_pnl=opt_float(d.get("unrealizedPnl")),
            realized_pnl=opt_float(d.get("realizedPnl")),
            currency=opt_str(d.get("currency")),
            multiplier=opt_float(d.get("multiplier")) or None,
            expiry=opt_str(d.get("expiry")),
            strike=opt_float(d.get("strike")) or None,
            right={"CALL": "C", "PUT": "P"}.get(right, right) if right else None,
            raw=d,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryItem:
    """One ``/portfolio/{acct}/summary`` value (``amount`` for numbers, ``value`` for text)."""

    key: str
    amount: float | None
    currency: str | None
    value: str | None
    timestamp_ms: int | None


def parse_summary(body: object) -> dict[str, SummaryItem]:
    """``{"netliquidation": SummaryItem(...), ...}``; entries that are not objects are skipped."""
    out: dict[str, SummaryItem] = {}
    if not isinstance(body, Mapping):
        return out
    for key, v in body.items():
        if not isinstance(v, Mapping):
            continue
        out[str(key)] = SummaryItem(
            key=str(key),
            amount=None if v.get("isNull") is True else opt_float(v.get("amount")),
            currency=opt_str(v.get("currency")),
            value=opt_str(v.get("value")),
            timestamp_ms=opt_int(v.get("timestamp")),
        )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrencyBalance:
    """One currency of ``/portfolio/{acct}/ledger`` (``BASE`` = the base-currency totals)."""

    currency: str
    cash_balance: float | None
    settled_cash: float | None
    net_liquidation: float | None
    stock_market_value: float | None
    unrealized_pnl: float | None
    realized_pnl: float | None
    exchange_rate: float | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def parse_ledger(body: object) -> dict[str, CurrencyBalance]:
    """``{"USD": CurrencyBalance(...), "BASE": ...}``."""
    out: dict[str, CurrencyBalance] = {}
    if not isinstance(body, Mapping):
        return out
    for key, v in body.items():
        if not isinstance(v, Mapping):
            continue
        out[str(key)] = CurrencyBalance(
            currency=str(key),
            cash_balance=opt_float(v.get("cashbalance")),
            settled_cash=opt_float(v.get("settledcash")),
            net_liquidation=opt_float(v.get("netliquidationvalue")),
            stock_market_value=opt_float(v.get("stockmarketvalue")),
            unrealized_pnl=opt_float(v.get("unrealizedpnl")),
            realized_pnl=opt_float(v.get("realizedpnl")),
            exchange_rate=opt_float(v.get("exchangerate")),
            raw=v,
        )
    return out
