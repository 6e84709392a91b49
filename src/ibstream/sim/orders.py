"""Orders, executions, positions and P&L (protocol.md §4.4 ``sor``, §4.5 ``str``, §4.6 ``spl``).

Pure bookkeeping: the lifecycle timing lives in :mod:`ibstream.sim.gateway`. Entries are built in
the recorded 2026 shapes (S9): a full order snapshot, a marker with only
``conid/conidex/orderId/isEventTrading``, tiny status deltas with ``bgColor``/``fgColor`` noise,
partial fills as ``sizeAndFills`` deltas, and executions with or without ``commission``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ibstream.sim.config import Instrument

__all__ = ["STATUS_COLORS", "Execution", "Order", "OrderBook", "Position"]

Side = Literal["BUY", "SELL"]

STATUS_COLORS: dict[str, tuple[str, str]] = {
    "Inactive": ("#000000", "#AFAFAF"),
    "PendingSubmit": ("#000000", "#3399CC"),
    "PreSubmitted": ("#FFFFFF", "#997EE5"),
    "Submitted": ("#000000", "#00F000"),
    "PendingCancel": ("#000000", "#FF64FF"),
    "Cancelled": ("#FFFFFF", "#AA0000"),
    "Filled": ("#FFFFFF", "#000000"),
}
"""``bgColor``/``fgColor`` per status as recorded (§4.4) — UI noise clients must ignore."""

_TYPE_NAMES = {
    "LMT": ("LIMIT", "Limit"),
    "MKT": ("MARKET", "Market"),
    "STP": ("STOP", "Stop"),
    "STOP_LIMIT": ("STOP_LIMIT", "Stop Limit"),
    "TRAIL": ("TRAIL", "Trail"),
    "MOC": ("MOC", "Market on Close"),
    "LOC": ("LOC", "Limit on Close"),
}


def _fmt_qty(q: float) -> str:
    return str(int(q)) if q == int(q) else f"{q:g}"


@dataclass(slots=True)
class Order:
    """One order on the simulated account."""

    order_id: int
    account: str
    instrument: Instrument
    side: Side
    quantity: float
    order_type: str
    price: float | None
    tif: str
    status: str = "Inactive"
    ccp_status: str = "Pending Submit"
    filled: float = 0.0
    avg_price: float = 0.0
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    # Order entry (sim.entry): customer order id, stop/trailing parameters, links.
    coid: str | None = None
    aux_price: float | None = None
    outside_rth: bool = False
    trailing_amount: float | None = None
    trailing_type: str | None = None
    parent_id: int | None = None
    oca_group: str | None = None

    @property
    def remaining(self) -> float:
        """Quantity still working."""
        return self.quantity - self.filled

    @property
    def active(self) -> bool:
        """Whether the order can still fill or be cancelled."""
        return self.status not in ("Filled", "Cancelled")

    def _desc(self) -> str:
        verb = (
            ("Bought" if self.side == "BUY" else "Sold")
            if self.status == "Filled"
            else ("Buy" if self.side == "BUY" else "Sell")
        )
        kind = _TYPE_NAMES.get(self.order_type, (self.order_type, self.order_type))[1]
        price = f" {self.price:.2f}" if self.price is not None else ""
        tif = "Day" if self.tif == "DAY" else self.tif
        return f"{verb} {_fmt_qty(self.quantity)} {self.instrument.symbol} {kind}{price}, {tif}"

    def full(self) -> dict[str, Any]:
        """The full snapshot entry (§4.4 first recorded frame; also REST ``/orders``)."""
        inst = self.instrument
        bg, fg = STATUS_COLORS.get(self.status, ("#000000", "#FFFFFF"))
        entry: dict[str, Any] = {
            "acct": self.account,
            "conidex": str(inst.conid),
            "conid": inst.conid,
            "account": self.account,
            "orderId": self.order_id,
            "cashCcy": inst.currency,
            "sizeAndFills": f"{_fmt_qty(self.filled)}/{_fmt_qty(self.quantity)}",
            "orderDesc": self._desc(),
            "description1": inst.symbol,
            "ticker": inst.symbol,
            "secType": inst.sec_type,
            "listingExchange": inst.listing_exchange,
            "remainingQuantity": float(self.remaining),
            "filledQuantity": float(self.filled),
            "totalSize": float(self.quantity),
            "companyName": inst.company,
            "status": self.status,
            "order_ccp_status": self.ccp_status,
            "outsideRTH": self.outside_rth,
            "origOrderType": _TYPE_NAMES.get(self.order_type, (self.order_type, ""))[0],
            "supportsTaxOpt": "1",
            "lastExecutionTime": time.strftime("%y%m%d%H%M%S", time.gmtime(self.created_ms / 1000)),
            "orderType": _TYPE_NAMES.get(self.order_type, ("", self.order_type))[1],
            "bgColor": bg,
            "fgColor": fg,
            "isEventTrading": "0",
            "timeInForce": "CLOSE" if self.tif == "DAY" else self.tif,
            "lastExecutionTime_r": self.created_ms,
            "side": self.side,
        }
        if self.price is not None:
            entry["price"] = f"{self.price:.2f}"
        if self.filled:
            entry["avgPrice"] = f"{self.avg_price:.2f}"
        if self.coid is not None:
            entry["order_ref"] = self.coid  # the cOID given at placement (IBKR live orders)
        if self.aux_price is not None:
            entry["auxPrice"] = f"{self.aux_price:.2f}"
        if self.parent_id is not None:
            entry["parentId"] = self.parent_id
        if self.trailing_amount is not None:
            entry["trailingAmount"] = self.trailing_amount
            entry["trailingType"] = self.trailing_type or "amt"
        return entry

    def marker(self) -> dict[str, Any]:
        """The marker entry with only conid/conidex/orderId/isEventTrading (§8.7)."""
        c = self.instrument.conid
        return {
            "acct": self.account,
            "conidex": str(c),
            "conid": c,
            "orderId": self.order_id,
            "isEventTrading": "0",
        }

    def status_delta(self, with_bg: bool = True) -> dict[str, Any]:
        """A tiny status delta with colour noise (§4.4 recorded)."""
        bg, fg = STATUS_COLORS.get(self.status, ("#000000", "#FFFFFF"))
        entry: dict[str, Any] = {
            "acct": self.account,
            "orderId": self.order_id,
            "status": self.status,
        }
        if self.ccp_status in ("Submitted", "Cancelled") and self.status != "PendingCancel":
            entry["order_ccp_status"] = self.ccp_status
        if with_bg:
            entry["bgColor"] = bg
        entry["fgColor"] = fg
        return entry

    def fill_delta(self) -> dict[str, Any]:
        """A partial-fill delta (§4.4 IBKR example)."""
        return {
            "acct": self.account,
            "orderId": self.order_id,
            "sizeAndFills": f"{_fmt_qty(self.filled)}/{_fmt_qty(self.remaining)}",
            "remainingQuantity": float(self.remaining),
            "filledQuantity": float(self.filled),
            "avgPrice": f"{self.avg_price:.2f}",
        }

    def filled_entry(self) -> dict[str, Any]:
        """The final ``Filled`` entry (§4.4 example, last element)."""
        bg, fg = STATUS_COLORS["Filled"]
        entry: dict[str, Any] = {
            "acct": self.account,
            "orderId": self.order_id,
            "sizeAndFills": _fmt_qty(self.filled),
            "orderDesc": self._desc(),
            "remainingQuantity": 0.0,
            "filledQuantity": float(self.filled),
            "status": "Filled",
            "order_ccp_status": "Filled",
            "timeInForce": self.tif,
            "avgPrice": f"{self.avg_price:.2f}",
            "bgColor": bg,
            "fgColor": fg,
        }
        if self.price is not None:
            entry["price"] = self.price
        return entry


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution (fill), as replayed by ``str`` (§4.5)."""

    execution_id: str
    order_id: int
    account: str
    instrument: Instrument
    side: Side
    size: float
    price: float
    time_ms: int
    commission: float
    position: float

    def entry(self, with_commission: bool) -> dict[str, Any]:
        """The ``str`` entry; the second send adds ``commission`` (§8.8)."""
        inst = self.instrument
        verb = "Bot" if self.side == "BUY" else "Sld"
        e: dict[str, Any] = {
            "execution_id": self.execution_id,
            "symbol": inst.symbol,
            "supports_tax_opt": "1",
            "side": "B" if self.side == "BUY" else "S",
            "order_description": f"{verb} {_fmt_qty(self.size)} @ {self.price:.2f} on "
            f"{inst.exchange}",
            "trade_time": time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(self.time_ms / 1000)),
            "trade_time_r": self.time_ms,
            "size": float(self.size),
            "price": f"{self.price:.2f}",
            "exchange": inst.exchange,
            "net_amount": round(self.size * self.price * inst.multiplier, 2),
            "account": self.account,
            "accountCode": self.account,
            "account_allocation_name": self.account,
            "company_name": inst.company,
            "contract_description_1": inst.symbol,
            "sec_type": inst.sec_type,
            "listing_exchange": inst.listing_exchange,
            "conid": inst.conid,
            "conidEx": str(inst.conid),
            "position": _fmt_qty(self.position),
            "clearing_id": "IB",
            "clearing_name": "IB",
            "liquidation_trade": "0",
            "is_event_trading": "0",
            "order_id": self.order_id,
        }
        if with_commission:
            e["commission"] = f"{self.commission:.1f}"
        return e


@dataclass(slots=True)
class Position:
    """Net position and average cost of one conid."""

    quantity: float = 0.0
    avg_cost: float = 0.0


class OrderBook:
    """Orders, executions and positions of the simulated account(s)."""

    def __init__(self, first_order_id: int, commission: float) -> None:
        self.orders: dict[int, Order] = {}
        self.executions: list[Execution] = []
        self.positions: dict[int, Position] = {}
        self.realized: float = 0.0
        self.cash: float = 25_000_000.0
        self.commission = commission
        self._next_id = first_order_id
        self._exec_seq = 0

    def new_order_id(self) -> int:
        """Allocate the next order id."""
        self._next_id += 1
        return self._next_id

    def add(self, order: Order) -> None:
        """Register a new order."""
        self.orders[order.order_id] = order

    def fill(self, order: Order, size: float, price: float, time_ms: int) -> Execution:
        """Fill ``size`` of ``order`` at ``price``; update position, P&L; record the execution."""
        size = min(size, order.remaining)
        total = order.avg_price * order.filled + price * size
        order.filled += size
        order.avg_price = total / order.filled
        conid = order.instrument.conid
        pos = self.positions.setdefault(conid, Position())
        signed = size if order.side == "BUY" else -size
        mult = order.instrument.multiplier
        if pos.quantity == 0 or (pos.quantity > 0) == (signed > 0):
            new_qty = pos.quantity + signed
            pos.avg_cost = (pos.avg_cost * abs(pos.quantity) + price * size) / abs(new_qty)
            pos.quantity = new_qty
        else:
            closing = min(abs(signed), abs(pos.quantity))
            direction = 1 if pos.quantity > 0 else -1
            self.realized += closing * (price - pos.avg_cost) * direction * mult
            pos.quantity += signed
            if pos.quantity == 0:
                pos.avg_cost = 0.0
            elif (pos.quantity > 0) != (direction > 0):
                pos.avg_cost = price
        self.realized -= self.commission
        self.cash -= signed * price * mult + self.commission
        self._exec_seq += 1
        execution = Execution(
            execution_id=f"0001{order.order_id:08x}.{time_ms // 1000:08x}.01.{self._exec_seq:02d}",
            order_id=order.order_id,
            account=order.account,
            instrument=order.instrument,
            side=order.side,
            size=size,
            price=price,
            time_ms=time_ms,
            commission=self.commission,
            position=pos.quantity,
        )
        self.executions.append(execution)
        if order.remaining <= 1e-9:
            order.status = "Filled"
            order.ccp_status = "Filled"
        return execution

    def unrealized(self, prices: dict[int, tuple[float, float]]) -> tuple[float, float]:
        """(unrealised P&L, market value) given ``conid -> (last, multiplier)``."""
        upl = 0.0
        mv = 0.0
        for conid, pos in self.positions.items():
            if not pos.quantity or conid not in prices:
                continue
            last, mult = prices[conid]
            upl += (last - pos.avg_cost) * pos.quantity * mult
            mv += last * pos.quantity * mult
        return upl, mv
