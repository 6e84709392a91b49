"""Helpers of order modification (what changed, what the gateway needs to see again)."""

from __future__ import annotations

from typing import Any

from ibstream.orders.model import Modification
from ibstream.orders.results import OrderStatusInfo
from ibstream.state.orders import OrderStatus, normalize_order_status

__all__ = ["_changes", "_close", "_ended", "_modified", "_modify_base", "_type_code"]

_TYPE_CODES = {
    "LIMIT": "LMT",
    "MARKET": "MKT",
    "STOP": "STP",
    "STOPLIMIT": "STOP_LIMIT",
    "TRAILINGSTOP": "TRAIL",
    "MARKETONCLOSE": "MOC",
    "LIMITONCLOSE": "LOC",
}


def _type_code(value: str | None) -> str | None:
    if value is None:
        return None
    folded = value.replace(" ", "").replace("_", "").upper()
    return _TYPE_CODES.get(folded, value.upper())


def _modify_base(info: OrderStatusInfo) -> dict[str, Any]:
    side = {"B": "BUY", "S": "SELL"}.get(str(info.side).upper(), str(info.side).upper())
    base: dict[str, Any] = {
        "conid": info.conid,
        "side": side,
        "orderType": _type_code(info.order_type),
        "tif": info.tif or "DAY",
        "quantity": info.total_size,
    }
    if info.limit_price is not None:
        base["price"] = info.limit_price
    if info.stop_price is not None:
        base["auxPrice"] = info.stop_price
    return base


def _changes(change: Modification) -> str:
    names = ("quantity", "price", "aux_price", "trailing_amount", "tif", "outside_rth")
    return ", ".join(f"{n}={getattr(change, n)}" for n in names if getattr(change, n) is not None)


def _close(a: float | None, b: float | None) -> bool:
    return a is None or (b is not None and abs(a - b) < 1e-6)


def _modified(info: OrderStatusInfo, change: Modification) -> bool:
    """Whether the status shows every value of ``change``. The status names no outside-RTH
    flag and no trailing amount: a change of those is never taken for done unseen."""
    return (
        _close(change.price, info.limit_price)
        and _close(change.aux_price, info.stop_price)
        and _close(change.quantity, info.total_size)
        and (change.tif is None or (info.tif or "").upper() == change.tif.value)
        and change.outside_rth is None
        and change.trailing_amount is None
    )


def _ended(status: str | None) -> bool:
    s = normalize_order_status(status)
    return s in (
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCELLED,
        OrderStatus.FILLED,
        OrderStatus.API_CANCELLED,
    )
