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
    """A bounded FIFO of events for one consumer, with conflation and overflow as above."""

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
        "overflowed",
    )

    def __init__(self, maxsize: int = 10_000, *, name: str = "events") -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.name = name
        # Each entry is a one-slot list so a pending market-data event can be replaced in place.
        self._entries: deque[list[Any]] = deque()
        # conid / (account, conid) -> the newest pending entry for it (for conflation).
        self._pending: dict[Any, list[Any]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._error: BaseException | None = None
        self.conflated = 0
        self.delivered = 0
        self.overflowed = False

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

    def put(self, event: Any) -> None:
        """Add an event; never blocks, never raises."""
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
                    entry[0] = merge_market_data(entry[0], event) if cls is MarketData else event
                    self.conflated += 1
                    return
            else:
                self.overflowed = True
                self._error = SlowConsumerError(self.name, self.maxsize)
                self._wake()
                return
        entry = [event]
        entries.append(entry)
        if ckey is not None:
            self._pending[ckey] = entry
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def get_nowait(self) -> Any | None:
        """The next event, or None when empty. Raises the overflow/close error once drained."""
        entries = self._entries
        if entries:
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
            return event
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ClientClosed(f"{self.name}: closed")
        return None

    async def get(self) -> Any:
        """Wait for the next event."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()

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
