"""Order handles: one placed order followed on the stream (asyncio layer).

A :class:`OrderHandle` is joined to its order by the gateway's order id: every ``sor`` entry
(:class:`~ibstream.protocol.events.OrderUpdate`) and every ``str`` execution
(:class:`~ibstream.protocol.events.Trade`) with that id reaches it. The
:class:`OrderTracker` keeps the orders and trades streams subscribed while any handle is open or
any placement is in flight, and collects the events that arrive *during* a placement (the gateway
pushes ``sor`` frames before it answers the POST), so a handle misses none.

Events reach a handle through the client's callbacks into an unbounded queue: a slow consumer
of ``handle.updates()`` never loses an order or fill event (the queue holds one order's events,
which are few).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from ibstream.exceptions import IBStreamError, StreamTimeout
from ibstream.orders.errors import OrderNotFilled
from ibstream.orders.model import OrderRequest
from ibstream.protocol.events import OrderUpdate, Trade
from ibstream.protocol.specs import OrdersSpec, Spec, TradesSpec
from ibstream.state.orders import Order, OrderBook, OrderStatus
from ibstream.state.trades import TradeBook

__all__ = ["ClientLike", "OrderHandle", "OrderTracker", "RestLike"]

log = logging.getLogger("ibstream.orders")

OrderEvent = OrderUpdate | Trade
_RECHECK = 0.25  # seconds between re-checks of the order book while waiting


class RestLike(Protocol):
    """The one REST entry point of the client (``GatewayRest.request``)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        allow: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]: ...


class _Held(Protocol):
    def close(self) -> None: ...


class ClientLike(Protocol):
    """What order entry uses of the asyncio client (its public API only)."""

    @property
    def rest(self) -> Any: ...

    @property
    def orders(self) -> OrderBook: ...

    @property
    def trades(self) -> TradeBook: ...

    def on(
        self, event_type: type | None, callback: Callable[[Any], object]
    ) -> Callable[[], None]: ...

    def subscribe(self, spec: Spec, *, buffer: bool = ...) -> Any: ...


class OrderTracker:
    """Routes order and trade events to handles; holds the streams while needed."""

    def __init__(self, client: ClientLike) -> None:
        self._client = client
        self._handles: dict[int, list[OrderHandle]] = {}
        self._collectors: list[list[OrderEvent]] = []
        self._users = 0
        self._removers: list[Callable[[], None]] = []
        self._held: list[_Held] = []

    def __repr__(self) -> str:
        return f"<OrderTracker handles={sum(map(len, self._handles.values()))} users={self._users}>"

    # -- streams ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """One more user (a handle or a placement in flight); the first subscribes."""
        self._users += 1
        if self._users > 1:
            return
        self._removers = [
            self._client.on(OrderUpdate, self._on_event),
            self._client.on(Trade, self._on_event),
        ]
        for spec in (OrdersSpec(), TradesSpec()):
            try:
                self._held.append(self._client.subscribe(spec, buffer=False))
            except IBStreamError as exc:  # e.g. a filtered orders stream is live: keep it
                log.warning("order tracking uses the live %s stream as is: %s", spec.key, exc)

    def release(self) -> None:
        """One user fewer; the last unsubscribes (after the others: shared streams stay)."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        for remove in self._removers:
            remove()
        self._removers = []
        for held in self._held:
            with contextlib.suppress(IBStreamError):
                held.close()
        self._held = []

    # -- routing ---------------------------------------------------------------------------

    def collect(self) -> list[OrderEvent]:
        """Start collecting every order/trade event (for a placement in flight)."""
        events: list[OrderEvent] = []
        self._collectors.append(events)
        return events

    def stop_collecting(self, events: list[OrderEvent]) -> None:
        with contextlib.suppress(ValueError):
            self._collectors.remove(events)

    def attach(self, handle: OrderHandle, early: list[OrderEvent]) -> None:
        """Route ``handle``'s order id to it, after replaying the ``early`` events."""
        for ev in early:
            if ev.order_id == handle.order_id:
                handle._feed(ev)
        self._handles.setdefault(handle.order_id, []).append(handle)

    def detach(self, handle: OrderHandle) -> None:
        handles = self._handles.get(handle.order_id)
        if handles and handle in handles:
            handles.remove(handle)
            if not handles:
                del self._handles[handle.order_id]

    def _on_event(self, ev: OrderEvent) -> None:
        for events in self._collectors:
            events.append(ev)
        if ev.order_id is None:
            return
        for handle in self._handles.get(ev.order_id, ()):
            handle._feed(ev)


class OrderHandle:
    """One placed order: its status, fills and updates, joined from the stream.

    ``coid`` (customer order id) and ``order_id`` (the gateway's) identify it. Use as
    ``async with handle:`` or call :meth:`close` when done following it.

    Events: :meth:`updates` yields every ``OrderUpdate`` and ``Trade`` of this order, in arrival
    order, never dropping any.
    """

    def __init__(
        self,
        tracker: OrderTracker,
        client: ClientLike,
        *,
        order_id: int,
        coid: str,
        account: str,
        request: OrderRequest,
        on_cancel: Callable[[OrderHandle], Any] | None = None,
        on_modify: Callable[..., Any] | None = None,
    ) -> None:
        self.order_id = order_id
        self.coid = coid
        self.account = account
        self.request = request
        self._tracker = tracker
        self._client = client
        self._on_cancel = on_cancel
        self._on_modify = on_modify
        self._queue: deque[OrderEvent] = deque()
        self._changed = asyncio.Event()
        self._fills: dict[str, Trade] = {}
        self._closed = False
        self.updates_seen = 0

    def __repr__(self) -> str:
        status = self.status.value if self.status else None
        return f"<OrderHandle {self.order_id} cOID={self.coid} {status} fills={len(self._fills)}>"

    # -- feeding (tracker) -----------------------------------------------------------------

    def _feed(self, ev: OrderEvent) -> None:
        if self._closed:
            return
        if isinstance(ev, Trade):
            self._fills[ev.execution_id] = ev  # the second copy carries the commission
        self.updates_seen += 1
        self._queue.append(ev)
        self._changed.set()

    # -- state -----------------------------------------------------------------------------

    @property
    def order(self) -> Order | None:
        """The order's merged state (``client.orders``), ``None`` until a full record came."""
        return self._client.orders.get(self.order_id)

    @property
    def status(self) -> OrderStatus | None:
        order = self.order
        return order.status if order is not None else None

    @property
    def fills(self) -> list[Trade]:
        """Executions of this order, one per execution id, in arrival order."""
        return list(self._fills.values())

    @property
    def filled_quantity(self) -> float:
        return sum(t.size or 0.0 for t in self._fills.values())

    @property
    def done(self) -> bool:
        order = self.order
        return order is not None and order.terminal

    def _complete(self) -> bool:
        """Terminal, and when filled, every execution of the fill arrived."""
        order = self.order
        if order is None or not order.terminal:
            return False
        if order.status is not OrderStatus.FILLED:
            return True
        return self.filled_quantity + 1e-9 >= (order.filled or order.total_size or 0.0)

    async def _wait(self, ready: Callable[[], bool], timeout: float | None) -> None:
        async def loop() -> None:
            while not ready():
                if self._closed:
                    raise IBStreamError(f"order handle {self.order_id} closed while waiting")
                self._changed.clear()
                # The order book also changes without an event (the REST reload after a
                # reconnect, protocol.md §4.4): look again at least every _RECHECK seconds.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), _RECHECK)

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise StreamTimeout(
                f"order {self.order_id} (cOID {self.coid}) still {self.status} after {timeout}s"
            ) from None

    async def wait_status(
        self, *statuses: OrderStatus | str, timeout: float | None = None
    ) -> Order:
        """Wait until the order is in one of ``statuses`` (or terminal); return its state."""
        wanted = {OrderStatus(s) for s in statuses}
        await self._wait(lambda: self.status in wanted or self.done, timeout)
        order = self.order
        assert order is not None
        return order

    async def wait_done(self, timeout: float | None = None) -> Order:
        """Wait until the order is filled, cancelled or rejected; return its final state."""
        await self._wait(lambda: self.done, timeout)
        order = self.order
        assert order is not None
        return order

    async def filled(self, timeout: float | None = None) -> Order:
        """Wait until the order is completely filled and its executions arrived.

        Raises ``OrderNotFilled`` if it ends otherwise (cancelled, rejected), ``StreamTimeout``
        after ``timeout`` seconds.
        """
        await self._wait(self._complete, timeout)
        order = self.order
        assert order is not None
        if order.status is not OrderStatus.FILLED:
            raise OrderNotFilled(
                f"order {self.order_id} (cOID {self.coid}) ended {order.status}",
                order,
                (self.coid,),
            )
        return order

    async def updates(self) -> AsyncIterator[OrderEvent]:
        """Every event of this order; ends when the handle is closed, or once the order is
        terminal (and, if filled, its executions arrived) and every queued event was read."""
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._closed or self._complete():
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), _RECHECK)

    # -- actions ---------------------------------------------------------------------------

    async def cancel(self) -> None:
        """Cancel this order (see ``Trading.cancel``)."""
        if self._on_cancel is None:
            raise IBStreamError("this handle cannot cancel")
        await self._on_cancel(self)

    async def modify(self, **changes: Any) -> None:
        """Modify this order (see ``Trading.modify``)."""
        if self._on_modify is None:
            raise IBStreamError("this handle cannot modify")
        await self._on_modify(self.order_id, account=self.account, **changes)

    def close(self) -> None:
        """Stop following the order (the order itself is not touched)."""
        if self._closed:
            return
        self._closed = True
        self._tracker.detach(self)
        self._tracker.release()
        self._changed.set()

    async def __aenter__(self) -> OrderHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
