"""One consumer's bounded queue of events, each with its (shared) JSON encoding.

The dispatch path calls :meth:`ConsumerQueue.put` for every consumer an event is for; ``put``
never blocks and never awaits a socket. Each consumer's writer task drains its own queue. The
policy is the client's (:mod:`ibstream.aio.buffer`), applied per consumer:

* market data and price ladders **conflate** once the queue is full: the event is merged into the
  pending one of the same instrument (no field value is lost, the consumer sees the latest state);
  the merged event gets its own encoding when it is sent;
* everything else is **never dropped silently**: the queue stops accepting and marks itself
  ``overflowed``; the writer delivers what it holds, then tells the consumer and disconnects it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ibstream.aio.buffer import merge_market_data
from ibstream.protocol.events import MarketData, PriceLadder
from ibstream.service.encode import encode_event

__all__ = ["ConsumerQueue", "QueueClosed", "QueueOverflow"]


class QueueClosed(Exception):
    """The queue was closed (consumer leaving or service shutting down)."""


class QueueOverflow(Exception):
    """The consumer fell behind on events that are never dropped; it is being disconnected."""


class ConsumerQueue:
    """A bounded FIFO of ``[event, encoding or None]`` entries (see the module docstring)."""

    __slots__ = (
        "_closed",
        "_entries",
        "_on_overflow",
        "_pending",
        "_waiter",
        "conflated",
        "delivered",
        "maxsize",
        "overflow_reason",
        "overflowed",
    )

    def __init__(self, maxsize: int, on_overflow: Callable[[], object] | None = None) -> None:
        self.maxsize = maxsize
        self._entries: deque[list[Any]] = deque()
        # instrument -> its newest pending entry, for conflation
        self._pending: dict[Any, list[Any]] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._on_overflow = on_overflow
        self.conflated = 0
        self.delivered = 0
        self.overflowed = False
        self.overflow_reason = ""

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        flag = " OVERFLOWED" if self.overflowed else ""
        return (
            f"<ConsumerQueue {len(self._entries)}/{self.maxsize} conflated={self.conflated}{flag}>"
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: Any, data: bytes | None) -> None:
        """Queue ``event`` (with its encoding, if the consumer wants bytes). Never blocks."""
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
                    entry[1] = None if cls is MarketData else data
                    self.conflated += 1
                    return
            else:
                self.overflowed = True
                self.overflow_reason = (
                    f"slow consumer: {self.maxsize} events queued, "
                    f"{cls.__name__} events are never dropped"
                )
                self._wake()
                if self._on_overflow is not None:
                    self._on_overflow()
                return
        entry = [event, data]
        entries.append(entry)
        if ckey is not None:
            self._pending[ckey] = entry
        if self._waiter is not None:
            self._wake()

    def put_raw(self, data: bytes) -> None:
        """Queue an encoded control message (a reply, a notice); it does not count toward
        ``maxsize`` and is never conflated."""
        if self._closed or self.overflowed:
            return
        self._entries.append([None, data])
        if self._waiter is not None:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _pop(self) -> list[Any]:
        entry = self._entries.popleft()
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

    def _raise_if_done(self) -> None:
        if self.overflowed:
            raise QueueOverflow(self.overflow_reason)
        if self._closed:
            raise QueueClosed()

    async def _wait(self) -> None:
        while not self._entries:
            self._raise_if_done()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                if self._waiter is fut:
                    self._waiter = None

    async def get(self) -> Any:
        """The next event (for consumers that convert events themselves, like GraphQL)."""
        await self._wait()
        return self._pop()[0]

    async def wait(self) -> None:
        """Wait until something is queued; raises ``QueueOverflow``/``QueueClosed`` once the
        queue is drained and done."""
        await self._wait()

    async def get_encoded(self, max_bytes: int) -> list[bytes]:
        """Wait, then take encodings up to ``max_bytes`` in total (at least one)."""
        await self._wait()
        return self.take_encoded(max_bytes)

    def take_encoded(self, max_bytes: int) -> list[bytes]:
        """Take encodings up to ``max_bytes`` in total (at least one if any is queued)."""
        out: list[bytes] = []
        size = 0
        entries = self._entries
        while entries and (not out or size < max_bytes):
            entry = self._pop()
            data = entry[1]
            if data is None:
                data = encode_event(entry[0])
            out.append(data)
            size += len(data)
        return out

    def close(self) -> None:
        """No more events; the reader drains what is queued, then gets ``QueueClosed``."""
        self._closed = True
        self._wake()
