"""Working orders of the simulated gateway: every order type, brackets and OCA groups (§4.4).

An order placed through :mod:`ibstream.sim.entry` goes through the recorded life cycle (full
record, marker, ``PendingSubmit`` → ``PreSubmitted`` → ``Submitted``), then works against the
simulated market, which fills it (partly, then fully) when the walk crosses it:

* ``MKT``: at once, at the ask (buy) or bid (sell), in one to three executions;
* ``LMT``: when the ask (buy) / bid (sell) reaches the limit - half the remaining quantity per
  crossing tick, so larger orders fill partially first;
* ``STP``: triggered when the last price reaches the stop, then fills like a market order;
* ``STOP_LIMIT``: triggered like a stop, then works as a limit order;
* ``TRAIL``: the stop follows the best last price at the trailing amount (or percentage);
* ``MOC`` / ``LOC``: wait for the closing auction (:meth:`Working.close_auction`, an admin
  action): MOC fills at the last price, LOC if the last price is at or better than its limit,
  else it is cancelled.

Bracket children wait in ``PreSubmitted`` until the parent is filled, then work as an OCA group;
when an order of an OCA group fills, the others are cancelled; cancelling a parent cancels its
children. Fills move positions, cash and realised P&L in :class:`~ibstream.sim.orders.OrderBook`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ibstream.sim.clock import wall_ms
from ibstream.sim.orders import Execution, Order

if TYPE_CHECKING:
    from ibstream.sim.gateway import Gateway

__all__ = ["Working"]

_STEP = 0.003  # seconds between the recorded life-cycle frames (all within < 50 ms, §4.4)


class _Watch:
    """The gateway's tick listener for one working order."""

    def __init__(self, working: Working, order: Order) -> None:
        self.working = working
        self.order = order

    def on_tick(self, changed: dict[str, Any], saturated: bool) -> None:
        self.working.evaluate(self.order)


class Working:
    """Working orders: triggers, fills, bracket activation, OCA cancellation."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.children: dict[int, list[Order]] = {}  # parent order id -> children
        self.oca: dict[str, list[Order]] = {}  # OCA group -> orders
        self.triggered: set[int] = set()  # stop orders whose stop was reached
        self.best: dict[int, float] = {}  # trailing orders: best last price seen
        self._watches: dict[int, _Watch] = {}
        self.executions: list[Execution] = []

    # -- life cycle ------------------------------------------------------------------------

    def submit(self, orders: list[Order]) -> None:
        """Start the life cycle of newly accepted orders (parents before children)."""
        for order in orders:
            if order.parent_id is not None:
                self.children.setdefault(order.parent_id, []).append(order)
            if order.oca_group is not None:
                self.oca.setdefault(order.oca_group, []).append(order)
        for order in orders:
            self.gw.spawn(self._life(order))

    async def _life(self, order: Order) -> None:
        gw = self.gw
        gw.emit_orders([order.full()])
        await asyncio.sleep(_STEP)
        gw.emit_orders([order.marker()])
        held = order.parent_id is not None
        for status in ("PendingSubmit", "PreSubmitted", "Submitted"):
            if not order.active or order.status == "PendingCancel":
                return
            if held and status == "Submitted" and not self._parent_filled(order):
                return  # a bracket child waits in PreSubmitted for its parent's fill
            await asyncio.sleep(_STEP)
            if not order.active or order.status == "PendingCancel":
                return
            order.status = status
            if status == "Submitted":
                order.ccp_status = "Submitted"
            gw.emit_orders([order.status_delta(with_bg=status != "PendingSubmit")])
        self._work(order)

    def _work(self, order: Order) -> None:
        if order.order_type in ("MOC", "LOC"):
            return  # the closing auction fills them
        if order.order_type == "MKT":
            self._fill_market(order)
            return
        if order.order_type == "TRAIL":
            self.best[order.order_id] = self.gw.market.quote(order.instrument.conid).last
        watch = _Watch(self, order)
        self._watches[order.order_id] = watch
        self.gw.watch(order.instrument.conid, watch)
        self.evaluate(order)

    def _parent_filled(self, order: Order) -> bool:
        parent = self.gw.book.orders.get(order.parent_id) if order.parent_id is not None else None
        return parent is not None and parent.status == "Filled"

    def _activate_children(self, parent: Order) -> None:
        # Children still in their opening life cycle activate themselves (_parent_filled).
        for child in self.children.get(parent.order_id, ()):
            if child.active and child.status == "PreSubmitted":
                child.status = "Submitted"
                child.ccp_status = "Submitted"
                self.gw.emit_orders([child.status_delta()])
                self._work(child)

    # -- market ----------------------------------------------------------------------------

    def evaluate(self, order: Order) -> None:
        """Check one working order against the current quote; fill what crosses."""
        if not order.active or order.status != "Submitted":
            self._unwatch(order)
            return
        q = self.gw.market.quote(order.instrument.conid)
        buy = order.side == "BUY"
        kind = order.order_type
        if kind == "TRAIL":
            best = self.best.get(order.order_id, q.last)
            best = max(best, q.last) if not buy else min(best, q.last)
            self.best[order.order_id] = best
            amount = order.trailing_amount or 0.0
            if order.trailing_type == "%":
                amount = best * amount / 100.0
            stop = best - amount if not buy else best + amount
            order.aux_price = round(stop, 6)
            if (q.last >= stop) if buy else (q.last <= stop):
                self._fill_market(order)
            return
        if kind in ("STP", "STOP_LIMIT") and order.order_id not in self.triggered:
            stop = order.aux_price or 0.0
            if not ((q.last >= stop) if buy else (q.last <= stop)):
                return
            self.triggered.add(order.order_id)
            if kind == "STP":
                self._fill_market(order)
                return
        if kind in ("LMT", "STOP_LIMIT"):
            limit = order.price or 0.0
            crossed = q.ask <= limit if buy else q.bid >= limit
            if crossed:
                px = min(limit, q.ask) if buy else max(limit, q.bid)
                half = (
                    order.remaining
                    if order.remaining <= 1
                    else float(int(order.remaining + 1) // 2)
                )
                self._fill(order, px, [half])

    def close_auction(self) -> int:
        """Run the closing auction: fill MOC orders, LOC orders at or better; cancel other LOC."""
        count = 0
        for order in list(self.gw.book.orders.values()):
            if not order.active or order.status != "Submitted":
                continue
            last = self.gw.market.quote(order.instrument.conid).last
            if order.order_type == "MOC":
                self._fill(order, last, [order.remaining])
                count += 1
            elif order.order_type == "LOC":
                limit = order.price or 0.0
                if (last <= limit) if order.side == "BUY" else (last >= limit):
                    self._fill(order, last, [order.remaining])
                    count += 1
                else:
                    self.cancel(order)
        return count

    def set_price(self, conid: int, price: float) -> None:
        """Move the market of ``conid`` to ``price`` (bid/ask one tick around) and evaluate the
        working orders on it at once (deterministic tests and demos)."""
        q = self.gw.market.quote(conid)
        q.last = price
        q.bid = round(price - q.tick, 6)
        q.ask = round(price + q.tick, 6)
        q.high = max(q.high, price)
        q.low = min(q.low, price)
        for order in list(self.gw.book.orders.values()):
            if order.instrument.conid == conid and order.active:
                self.evaluate(order)

    # -- fills -----------------------------------------------------------------------------

    def _fill_market(self, order: Order) -> None:
        q = self.gw.market.quote(order.instrument.conid)
        px = q.ask if order.side == "BUY" else q.bid
        chunks = self.gw.rng.randint(1, 3)
        rem = order.remaining
        sizes = [max(1.0, float(int(rem / chunks))) for _ in range(chunks - 1)]
        sizes.append(rem - sum(sizes))
        self._fill(order, px, [s for s in sizes if s > 0])

    def _fill(self, order: Order, price: float, sizes: list[float]) -> None:
        gw = self.gw
        entries: list[dict[str, Any]] = []
        execs: list[Execution] = []
        for size in sizes:
            if size <= 0 or not order.active:
                break
            execution = gw.book.fill(order, min(size, order.remaining), price, wall_ms())
            execs.append(execution)
            entries.append(order.filled_entry() if not order.active else order.fill_delta())
        if not entries:
            return
        gw.emit_orders(entries)
        for e in execs:
            self.executions.append(e)
            gw.emit_execution(e.entry(False), e.entry(True))
        if not order.active:
            self._unwatch(order)
            self._activate_children(order)
        if order.oca_group is not None:
            for other in self.oca.get(order.oca_group, ()):
                if other is not order and other.active:
                    self.cancel(other)

    # -- cancel / modify -------------------------------------------------------------------

    def cancel(self, order: Order) -> None:
        """PendingCancel → Cancelled (§4.4 recorded); children of a parent go with it."""
        if not order.active or order.status == "PendingCancel":
            return
        order.status = "PendingCancel"
        self.gw.emit_orders([order.full()])
        self._unwatch(order)
        self.gw.spawn(self._cancelled(order))
        if order.filled == 0:
            for child in self.children.get(order.order_id, ()):
                self.cancel(child)

    async def _cancelled(self, order: Order) -> None:
        await asyncio.sleep(0.01)
        if order.status != "PendingCancel":
            return
        order.status = "Cancelled"
        order.ccp_status = "Cancelled"
        self.gw.emit_orders([order.status_delta()])

    def modified(self, order: Order) -> None:
        """Announce a modified order (full record) and re-evaluate it."""
        self.gw.emit_orders([order.full()])
        if order.order_type == "TRAIL":
            self.best.pop(order.order_id, None)
        self.evaluate(order)

    def _unwatch(self, order: Order) -> None:
        watch = self._watches.pop(order.order_id, None)
        if watch is not None:
            self.gw.unwatch(order.instrument.conid, watch)
