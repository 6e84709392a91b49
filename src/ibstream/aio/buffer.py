"""Bounded event buffers with explicit overflow policies (style.md principle 9).

One consumer-side buffer per handle or event stream. ``put`` never blocks (the socket reader must
never wait for a slow consumer); what happens when the buffer is full depends on the event:

* market data (``MarketData``) and price ladders **conflate**: the new event is merged into the
  pending one for the same instrument, so the consumer sees the latest state per field and no field
  value is lost; the number of merged events is counted in ``conflated``. Growth past ``maxsize``
  is bounded by the number of distinct instruments.
* everything else (orders, trades, P&L, account, lifecycle, gaps) is **never dropped**: the buffer
  stops accepting, delivers what it holds, then raises ``SlowConsumerError`` to the consumer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ibstream.exceptions import ClientClosed, SlowConsumerError
from ibstream.protocol.events import MarketData, PriceLadder

__all__ = ["EventBuffer", "merge_market_data"]


def merge_market_data(old: MarketData, new: MarketData) -> MarketData:
    """One event carrying the state of both: fields of ``new`` win, fields only in ``old`` stay."""
    values = dict(old.values)
    values.update(new.values)
    raw = dict(old.raw)
    raw.update(new.raw)
    return new._replace(values=values, raw=raw)


class EventBuffer:
    """A bounded FIFO of events for one consumer, with conflation and overflow as above.

    Each entry may carry a ``payload`` next to its event (the service keeps the event's shared
    JSON encoding there); a conflated market-data entry drops its payload, as the merged event
    needs a new one. ``on_overflow`` is called once when a never-drop event finds it full.
    """

    __slots__ = (
        "_closed",
        "_entries",
        "_error",
        "_pending",
        "_waiters",
        "conflated",
        "delivered",
        "maxsize",
        "name",
        "on_overflow",
        "overflow_reason",
        "overflowed",
    )

    def __init__(
        self,
        maxsize: int = 10_000,
        *,
        name: str = "events",
        on_overflow: Callable[[], object] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.name = name
        self.on_overflow = on_overflow
        # Each entry is a two-slot list [event, payload] so a pending market-data event can be
        # replaced in place.
        self._entries: deque[list[Any]] = deque()
        # conid / (account, conid) -> the newest pending entry for it (for conflation).
        self._pending: dict[Any, list[Any]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._error: BaseException | None = None
        self.conflated = 0
        self.delivered = 0
        self.overflowed = False
        self.overflow_reason = ""

    def __repr__(self) -> str:
        return (
            f"<EventBuffer {self.name} {len(self._entries)}/{self.maxsize} "
            f"conflated={self.conflated}{' OVERFLOWED' if self.overflowed else ''}>"
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: Any, payload: Any = None) -> None:
        """Add an event (and its payload); never blocks, never raises."""
        if self._closed or self.overflowed:
            return
        cls = event.__class__
        if cls is MarketData:
            ckey: Any = event.conid
        elif cls is PriceLadder:
            ckey = (event.account, event.conid)
        else:
            ckey = None
        entries = self._entries
        if len(entries) >= self.maxsize:
            if ckey is not None:
                entry = self._pending.get(ckey)
                if entry is not None:
                    if cls is MarketData:
                        entry[0] = merge_market_data(entry[0], event)
                        entry[1] = None
                    else:
                        entry[0], entry[1] = event, payload
                    self.conflated += 1
                    return
            else:
                self._overflow(cls.__name__)
                return
        entry = [event, payload]
        entries.append(entry)
        if ckey is not None:
            self._pending[ckey] = entry
        if self._waiters:
            self._wake()

    def put_control(self, payload: Any) -> None:
        """Queue a payload with no event (a reply or a notice): never conflated, and accepted
        even when full (a consumer must hear why it is being cut off)."""
        if self._closed or self.overflowed:
            return
        self._entries.append([None, payload])
        if self._waiters:
            self._wake()

    def _overflow(self, kind: str) -> None:
        self.overflowed = True
        self.overflow_reason = (
            f"slow consumer: {self.maxsize} events queued, {kind} events are never dropped"
        )
        self._error = SlowConsumerError(self.name, self.maxsize)
        self._wake()
        if self.on_overflow is not None:
            self.on_overflow()

    def _wake(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def pop_entry(self) -> list[Any] | None:
        """The next ``[event, payload]`` entry, or None when empty (no error raised)."""
        entries = self._entries
        if not entries:
            return None
        entry = entries.popleft()
        event = entry[0]
        cls = event.__class__
        if cls is MarketData:
            if self._pending.get(event.conid) is entry:
                del self._pending[event.conid]
        elif cls is PriceLadder:
            key = (event.account, event.conid)
            if self._pending.get(key) is entry:
                del self._pending[key]
        self.delivered += 1
        return entry

    def raise_if_done(self) -> None:
        """Raise the overflow or close error (the buffer is drained and ended)."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ClientClosed(f"{self.name}: closed")

    def get_nowait(self) -> Any | None:
        """The next event, or None when empty. Raises the overflow/close error once drained."""
        entry = self.pop_entry()
        if entry is not None:
            return entry[0]
        self.raise_if_done()
        return None

    async def wait(self) -> None:
        """Wait until something is queued; raises the overflow/close error once drained."""
        while not self._entries:
            self.raise_if_done()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()

    async def get(self) -> Any:
        """Wait for the next event."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            await self.wait()

    def close(self, error: BaseException | None = None) -> None:
        """No more events: consumers drain what is buffered, then get ``error`` (or
        ``ClientClosed``; ``StopAsyncIteration`` semantics are the caller's choice)."""
        if self._closed:
            return
        self._closed = True
        if error is not None and self._error is None:
            self._error = error
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
