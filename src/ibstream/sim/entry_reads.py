"""Bodies of the simulated order reads: what-if preview and order status (see sim.entry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ibstream.sim.orders import Order

if TYPE_CHECKING:
    from ibstream.sim.gateway import Gateway

__all__ = ["status_body", "whatif_body"]

# The status endpoint names order types in words (IBKR's order status example: "LIMIT").
_STATUS_TYPES = {
    "LMT": "LIMIT",
    "MKT": "MARKET",
    "STP": "STOP",
    "STOP_LIMIT": "STOP_LIMIT",
    "TRAIL": "TRAILING STOP",
    "MOC": "MARKET ON CLOSE",
    "LOC": "LIMIT ON CLOSE",
}


def whatif_body(gw: Gateway, v: dict[str, Any]) -> dict[str, Any]:
    """``/orders/whatif`` for one validated order: cost, commission, margin and position after
    (IBKR formats every value as text; margin modelled as 25% of the value, INFERRED)."""
    inst = gw.market.instruments[v["conid"]]
    px = v["price"] or v["aux"] or v["last"]
    amount = v["qty"] * px * inst.multiplier
    comm = max(1.0, 0.005 * v["qty"])
    equity = gw.book.cash
    margin = 0.25 * amount
    pos = gw.book.positions.get(v["conid"])
    held = pos.quantity if pos is not None else 0.0
    signed = v["qty"] if v["side"] == "BUY" else -v["qty"]
    ccy = inst.currency
    return {
        "amount": {
            "amount": f"{amount:,.2f} {ccy} ({v['qty']:g} Shares)",
            "commission": f"{comm:.2f} {ccy}",
            "total": f"{amount + comm:,.2f} {ccy}",
        },
        "equity": {
            "current": f"{equity:,.0f}",
            "change": f"{-comm:,.0f}",
            "after": f"{equity - comm:,.0f}",
        },
        "initial": {"current": "0", "change": f"{margin:,.0f}", "after": f"{margin:,.0f}"},
        "maintenance": {
            "current": "0",
            "change": f"{margin * 0.9:,.0f}",
            "after": f"{margin * 0.9:,.0f}",
        },
        "position": {
            "current": f"{held:g}",
            "change": f"{signed:g}",
            "after": f"{held + signed:g}",
        },
        "warn": None,
        "error": None,
    }


def status_body(order: Order) -> dict[str, Any]:
    """``/iserver/account/order/status/{orderId}`` (flat snake-case fields)."""
    inst = order.instrument
    return {
        "order_id": order.order_id,
        "conidex": str(inst.conid),
        "conid": inst.conid,
        "symbol": inst.symbol,
        "side": "B" if order.side == "BUY" else "S",
        "contract_description_1": inst.symbol,
        "listing_exchange": inst.listing_exchange,
        "company_name": inst.company,
        "size": f"{order.remaining:.1f}",
        "total_size": f"{order.quantity:.1f}",
        "currency": inst.currency,
        "account": order.account,
        "order_type": _STATUS_TYPES.get(order.order_type, order.order_type),
        "limit_price": f"{order.price:.2f}" if order.price is not None else None,
        "stop_price": f"{order.aux_price:.2f}" if order.aux_price is not None else None,
        "cum_fill": f"{order.filled:.1f}",
        "order_status": order.status,
        "order_ccp_status": order.ccp_status,
        "tif": order.tif,
        "average_price": f"{order.avg_price:.2f}" if order.filled else None,
        "sec_type": inst.sec_type,
        "size_and_fills": f"{order.filled:g}/{order.quantity:g}",
        "order_ref": order.coid,
    }
