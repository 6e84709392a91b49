"""The threaded face of order entry: ``Client.trading`` (same names as ``client.trading``).

Every call runs the asyncio :class:`~ibstream.orders.trading.Trading` on the client's loop
thread and blocks for the result; the behaviour (rails, prompts, reconciliation, logging)
exists once, in the asyncio layer. Prompt callbacks run on the loop thread: keep them short, or
decide with ``PromptPolicy(accept=[...])`` up front.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ibstream.exceptions import InvalidState
from ibstream.orders.handle import OrderEvent, OrderHandle
from ibstream.orders.model import Bracket, Modification, OcaGroup, OrderRequest
from ibstream.orders.prompts import PromptPolicy
from ibstream.orders.results import Execution, OrderStatusInfo, WhatIf
from ibstream.orders.trading import Trading
from ibstream.protocol.events import Trade
from ibstream.state.orders import Order, OrderStatus
from ibstream.sync.loop import LoopThread

__all__ = ["SyncBracketHandles", "SyncOrderHandle", "SyncTrading"]

T = TypeVar("T")


class SyncOrderHandle:
    """A blocking :class:`~ibstream.orders.handle.OrderHandle` (same names, timeouts in
    seconds). Iterating it yields every order update and execution, none dropped."""

    def __init__(self, loop: LoopThread, handle: OrderHandle) -> None:
        self._loop = loop
        self._handle = handle
        self.order_id = handle.order_id
        self.coid = handle.coid
        self.account = handle.account
        self.request = handle.request
        self._updates: Any = None

    def __repr__(self) -> str:
        return repr(self._handle).replace("<OrderHandle", "<SyncOrderHandle", 1)

    def _read(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the loop thread; directly once the client stopped (its last state)."""
        if self._loop.running:
            with contextlib.suppress(InvalidState):
                return self._loop.call(fn)
        return fn()

    @property
    def order(self) -> Order | None:
        return self._read(lambda: self._handle.order)

    @property
    def status(self) -> OrderStatus | None:
        return self._read(lambda: self._handle.status)

    @property
    def fills(self) -> list[Trade]:
        return self._read(lambda: self._handle.fills)

    @property
    def filled_quantity(self) -> float:
        return self._read(lambda: self._handle.filled_quantity)

    @property
    def done(self) -> bool:
        return self._read(lambda: self._handle.done)

    def filled(self, timeout: float | None = None) -> Order:
        """Block until completely filled (``OrderNotFilled`` if it ends otherwise)."""
        return self._loop.run(self._handle.filled(timeout))

    def wait_done(self, timeout: float | None = None) -> Order:
        return self._loop.run(self._handle.wait_done(timeout))

    def wait_status(self, *statuses: OrderStatus | str, timeout: float | None = None) -> Order:
        return self._loop.run(self._handle.wait_status(*statuses, timeout=timeout))

    def updates(self) -> Iterator[OrderEvent]:
        """Every event of the order, blocking between them (see ``OrderHandle.updates``)."""
        agen = self._handle.updates()

        async def step() -> OrderEvent:
            return await agen.__anext__()

        while True:
            try:
                yield self._loop.run(step())
            except StopAsyncIteration:
                return

    def cancel(self) -> None:
        self._loop.run(self._handle.cancel())

    def modify(self, **changes: Any) -> None:
        self._loop.run(self._handle.modify(**changes))

    def close(self) -> None:
        """Stop following the order (a no-op once the client stopped)."""
        with contextlib.suppress(InvalidState):
            self._loop.call(self._handle.close)

    def __enter__(self) -> SyncOrderHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncBracketHandles:
    def __init__(
        self,
        parent: SyncOrderHandle,
        take_profit: SyncOrderHandle | None,
        stop_loss: SyncOrderHandle | None,
    ) -> None:
        self.parent = parent
        self.take_profit = take_profit
        self.stop_loss = stop_loss

    def all(self) -> list[SyncOrderHandle]:
        return [h for h in (self.parent, self.take_profit, self.stop_loss) if h is not None]


class SyncTrading:
    """Blocking order entry; see :class:`~ibstream.orders.trading.Trading` for each method."""

    def __init__(self, loop: LoopThread, trading: Trading) -> None:
        self._loop = loop
        self._trading = trading

    def __repr__(self) -> str:
        return repr(self._trading).replace("<Trading", "<SyncTrading", 1)

    @property
    def enabled(self) -> bool:
        return self._trading.enabled

    def _wrap(self, handle: OrderHandle | None) -> SyncOrderHandle | None:
        return None if handle is None else SyncOrderHandle(self._loop, handle)

    def place(self, order: OrderRequest, *, prompts: PromptPolicy | None = None) -> SyncOrderHandle:
        return SyncOrderHandle(
            self._loop, self._loop.run(self._trading.place(order, prompts=prompts))
        )

    def place_bracket(
        self, bracket: Bracket, *, prompts: PromptPolicy | None = None
    ) -> SyncBracketHandles:
        hs = self._loop.run(self._trading.place_bracket(bracket, prompts=prompts))
        parent = SyncOrderHandle(self._loop, hs.parent)
        return SyncBracketHandles(parent, self._wrap(hs.take_profit), self._wrap(hs.stop_loss))

    def place_oca(
        self, group: OcaGroup, *, prompts: PromptPolicy | None = None
    ) -> list[SyncOrderHandle]:
        handles = self._loop.run(self._trading.place_oca(group, prompts=prompts))
        return [SyncOrderHandle(self._loop, h) for h in handles]

    def modify(
        self,
        order_id: int,
        change: Modification | None = None,
        *,
        account: str | None = None,
        prompts: PromptPolicy | None = None,
        **values: Any,
    ) -> OrderStatusInfo:
        return self._loop.run(
            self._trading.modify(order_id, change, account=account, prompts=prompts, **values)
        )

    def cancel(self, order_id: int, *, account: str | None = None) -> None:
        self._loop.run(self._trading.cancel(order_id, account=account))

    def whatif(self, order: OrderRequest) -> WhatIf:
        return self._loop.run(self._trading.whatif(order))

    def status(self, order_id: int) -> OrderStatusInfo:
        return self._loop.run(self._trading.status(order_id))

    def live_orders(self) -> list[Order]:
        return self._loop.run(self._trading.live_orders())

    def recent_trades(self, days: int | None = None) -> list[Execution]:
        return self._loop.run(self._trading.recent_trades(days))

    def suppress(self, message_ids: Iterable[str]) -> None:
        # one string stays one string: the asyncio API refuses it (list() would split it)
        ids = message_ids if isinstance(message_ids, str) else list(message_ids)
        self._loop.run(self._trading.suppress(ids))

    def reset_suppression(self) -> None:
        self._loop.run(self._trading.reset_suppression())
