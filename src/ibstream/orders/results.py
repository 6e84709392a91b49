"""Typed results of the order REST reads (pure parsers): what-if previews, order status,
executions.

* What-if (``POST /iserver/account/{acct}/orders/whatif``): ``{"amount": {"amount", "commission",
  "total"}, "equity"|"initial"|"maintenance"|"position": {"current", "change", "after"},
  "warn", "error"}``; IBKR formats the values as text (``"1,030.50"``, ``"1.05 USD"``).
* Order status (``GET /iserver/account/order/status/{orderId}``): flat snake-case fields
  (``order_id, conid, symbol, side, size, total_size, cum_fill, order_status, order_type, tif,
  limit_price, stop_price, average_price, account ...``).
* Trades (``GET /iserver/account/trades``): a list of executions in the ``str`` shape
  (``execution_id, order_id, conid, symbol, side, size, price, commission, net_amount,
  trade_time_r, account``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Execution", "MarginChange", "OrderStatusInfo", "WhatIf", "parse_number"]

_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def parse_number(value: object) -> float | None:
    """``"1,030.50 USD"`` -> 1030.5; numbers pass; anything else -> ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    m = _NUMBER_RE.search(str(value))
    return float(m.group(0).replace(",", "")) if m else None


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class MarginChange:
    current: float | None
    change: float | None
    after: float | None

    @classmethod
    def parse(cls, section: object) -> MarginChange:
        s = section if isinstance(section, Mapping) else {}
        return cls(
            parse_number(s.get("current")),
            parse_number(s.get("change")),
            parse_number(s.get("after")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIf:
    """A what-if preview: cost, commission and the margin/equity impact; nothing was placed."""

    amount: float | None
    commission: float | None
    total: float | None
    equity: MarginChange
    initial_margin: MarginChange
    maintenance_margin: MarginChange
    position: MarginChange
    warning: str | None
    error: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, body: object) -> WhatIf:
        b = body if isinstance(body, Mapping) else {}
        amount = b.get("amount") if isinstance(b.get("amount"), Mapping) else {}
        assert isinstance(amount, Mapping)
        return cls(
            amount=parse_number(amount.get("amount")),
            commission=parse_number(amount.get("commission")),
            total=parse_number(amount.get("total")),
            equity=MarginChange.parse(b.get("equity")),
            initial_margin=MarginChange.parse(b.get("initial")),
            maintenance_margin=MarginChange.parse(b.get("maintenance")),
            position=MarginChange.parse(b.get("position")),
            warning=_text(b.get("warn")),
            error=_text(b.get("error")),
            raw=MappingProxyType(dict(b)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusInfo:
    """One order's status from ``/iserver/account/order/status/{orderId}``."""

    order_id: int
    status: str | None
    conid: int | None
    symbol: str | None
    side: str | None
    order_type: str | None
    total_size: float | None
    filled: float | None
    average_price: float | None
    limit_price: float | None
    stop_price: float | None
    tif: str | None
    account: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, order_id: int, body: object) -> OrderStatusInfo:
        b = body if isinstance(body, Mapping) else {}
        conid = parse_number(b.get("conid"))
        return cls(
            order_id=int(parse_number(b.get("order_id")) or order_id),
            status=_text(b.get("order_status")),
            conid=int(conid) if conid is not None else None,
            symbol=_text(b.get("symbol")),
            side=_text(b.get("side")),
            order_type=_text(b.get("order_type")),
            total_size=parse_number(b.get("total_size", b.get("size"))),
            filled=parse_number(b.get("cum_fill")),
            average_price=parse_number(b.get("average_price")),
            limit_price=parse_number(b.get("limit_price")),
            stop_price=parse_number(b.get("stop_price")),
            tif=_text(b.get("tif")),
            account=_text(b.get("account")),
            raw=MappingProxyType(dict(b)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """One execution from ``GET /iserver/account/trades``."""

    execution_id: str
    order_id: int | None
    conid: int | None
    symbol: str | None
    side: str | None
    size: float | None
    price: float | None
    commission: float | None
    net_amount: float | None
    time_ms: int | None
    account: str | None
    order_ref: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> Execution | None:
        exec_id = _text(entry.get("execution_id"))
        if exec_id is None:
            return None
        oid, conid, t = (parse_number(entry.get(k)) for k in ("order_id", "conid", "trade_time_r"))
        return cls(
            execution_id=exec_id,
            order_id=int(oid) if oid is not None else None,
            conid=int(conid) if conid is not None else None,
            symbol=_text(entry.get("symbol")),
            side=_text(entry.get("side")),
            size=parse_number(entry.get("size")),
            price=parse_number(entry.get("price")),
            commission=parse_number(entry.get("commission")),
            net_amount=parse_number(entry.get("net_amount")),
            time_ms=int(t) if t is not None else None,
            account=_text(entry.get("account")),
            order_ref=_text(entry.get("order_ref")),
            raw=MappingProxyType(dict(entry)),
        )
