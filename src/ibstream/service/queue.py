"""One consumer's bounded queue of events, each with its (shared) JSON encoding.

The service adapter of the one queue policy (:class:`ibstream.conflating.ConflatingQueue`, through
its asyncio adapter :class:`ibstream.aio.buffer.EventBuffer`). The dispatch path calls
:meth:`ConsumerQueue.put` for every consumer an event is for; ``put`` never blocks and never
awaits a socket. Each consumer's writer task drains its own queue, applying the policy per
consumer:

* market data and price ladders **conflate** once the queue is full: the event is merged into the
  pending one of the same instrument (no field value is lost, the consumer sees the latest state);
  the merged event gets its own encoding when it is sent;
* everything else is **never dropped silently**: the queue stops accepting and marks itself
  ``overflowed``; the writer delivers what it holds, then tells the consumer and disconnects it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ibstream.aio.buffer import EventBuffer
from ibstream.exceptions import ClientClosed, SlowConsumerError
from ibstream.serialize import event_to_json

__all__ = ["ConsumerQueue", "QueueClosed", "QueueOverflow"]


class QueueClosed(Exception):
    """The queue was closed (consumer leaving or service shutting down)."""


class QueueOverflow(Exception):
    """The consumer fell behind on events that are never dropped; it is being disconnected."""


class ConsumerQueue(EventBuffer):
    """The client's :class:`EventBuffer` (same policy, same code) with the event's encoding as
    each entry's payload, control messages, and the service's own end-of-queue errors."""

    __slots__ = ()

    def __init__(self, maxsize: int, on_overflow: Callable[[], object] | None = None) -> None:
        super().__init__(maxsize, name="consumer", on_overflow=on_overflow)

    def __repr__(self) -> str:
        flag = " OVERFLOWED" if self.overflowed else ""
        return f"<ConsumerQueue {len(self)}/{self.maxsize} conflated={self.conflated}{flag}>"

    def put_raw(self, data: bytes) -> None:
        """Queue an encoded control message (a reply, a notice); never conflated."""
        self.put_control(data)

    def raise_if_done(self) -> None:
        try:
            super().raise_if_done()
        except SlowConsumerError:
            raise QueueOverflow(self.overflow_reason) from None
        except ClientClosed:
            raise QueueClosed() from None

    async def get(self) -> Any:
        """The next event (for consumers that convert events themselves, like GraphQL); control
        entries are skipped."""
        return await super().get()

    async def get_encoded(self, max_bytes: int) -> list[bytes]:
        """Wait, then take encodings up to ``max_bytes`` in total (at least one)."""
        await self.wait()
        return self.take_encoded(max_bytes)

    def take_encoded(self, max_bytes: int) -> list[bytes]:
        """Take encodings up to ``max_bytes`` in total (at least one if any is queued)."""
        out: list[bytes] = []
        size = 0
        while not out or size < max_bytes:
            entry = self.pop_entry()
            if entry is None:
                break
            data = entry[1]
            if data is None:  # a conflated market-data event: encode the merged event
                data = event_to_json(entry[0])
            out.append(data)
            size += len(data)
        return out
