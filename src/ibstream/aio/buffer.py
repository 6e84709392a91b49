"""The asyncio adapter of the queue policy: :class:`EventBuffer` (style.md principle 9).

The policy (bounded, market data conflated per instrument, everything else never dropped,
``SlowConsumerError`` once drained, control entries distinct from "empty") is
:class:`ibstream.conflating.ConflatingQueue`; this class only adds waiting with asyncio futures.
One buffer per consumer handle or event stream; ``put`` never blocks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ibstream.conflating import ConflatingQueue, merge_market_data

__all__ = ["EventBuffer", "merge_market_data"]


class EventBuffer(ConflatingQueue):
    """A :class:`ConflatingQueue` whose readers can ``await`` the next event."""

    __slots__ = ("_waiters",)

    def __init__(
        self,
        maxsize: int = 10_000,
        *,
        name: str = "events",
        on_overflow: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(maxsize, name=name, on_overflow=on_overflow)
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _notify(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break
        self._waiting = bool(waiters)

    def _notify_all(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
        self._waiting = False

    async def wait(self) -> None:
        """Wait until something is queued; raises the overflow/close error once drained."""
        while not self._entries:
            self.raise_if_done()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            self._waiting = True
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()
                    # a cancelled reader must not keep ``_waiting`` set for nobody
                    self._waiting = any(not w.done() for w in self._waiters)

    async def get(self) -> Any:
        """Wait for the next event (control entries are skipped)."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            await self.wait()
