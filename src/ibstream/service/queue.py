"""One consumer's bounded queue of events, each with its (shared) JSON encoding.

The service adapter of the one queue policy (:class:`ibstream.conflating.ConflatingQueue`, through
its asyncio adapter :class:`ibstream.aio.buffer.EventBuffer`). The hub's rounds
(:mod:`ibstream.service.fanout`) queue one shared :class:`~ibstream.service.fanout.Batch` per
round for a consumer that keeps up (its queue is empty), and the round's events one by one with
:meth:`ConsumerQueue.put` for a consumer that is behind; nothing blocks or awaits a socket. Each
consumer's writer task drains its own queue, applying the policy per consumer:

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
from ibstream.conflating import CONTROL
from ibstream.exceptions import ClientClosed, SlowConsumerError
from ibstream.serialize import event_to_json
from ibstream.service.fanout import Batch, split_lines

__all__ = ["ConsumerQueue", "QueueClosed", "QueueOverflow"]


class QueueClosed(Exception):
    """The queue was closed (consumer leaving or service shutting down)."""


class QueueOverflow(Exception):
    """The consumer fell behind on events that are never dropped; it is being disconnected."""


class ConsumerQueue(EventBuffer):
    """The client's :class:`EventBuffer` (same policy, same code) with the event's encoding as
    each entry's payload, control messages, and the service's own end-of-queue errors."""

    __slots__ = ("_batch",)

    def __init__(self, maxsize: int, on_overflow: Callable[[], object] | None = None) -> None:
        super().__init__(maxsize, name="consumer", on_overflow=on_overflow)
        # the entry of the last batch queued (it is the first entry until the writer takes it)
        self._batch: list[Any] | None = None

    def __repr__(self) -> str:
        flag = " OVERFLOWED" if self.overflowed else ""
        return f"<ConsumerQueue {len(self)}/{self.maxsize} conflated={self.conflated}{flag}>"

    def put_raw(self, data: bytes) -> None:
        """Queue an encoded control message (a reply, a notice); never conflated. Replies are
        never dropped either: a consumer that lets ``maxsize`` of them pile up beyond a full
        queue (requests whose replies it does not read) overflows like a slow consumer."""
        if len(self) >= 2 * self.maxsize:
            if not (self.closed or self.overflowed):
                self._overflow("reply")
            return
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

    def put(self, event: Any, payload: Any = None) -> None:
        """Queue one event under the policy; a batch still queued becomes its events first, so
        the bound and conflation count every event."""
        if self._batch is not None:
            self._unbatch()
        super().put(event, payload)

    def put_batch(self, batch: Batch) -> None:
        """Queue a round's shared batch as one entry. The hub does so only when the queue is
        empty and the batch fits it; a consumer that is behind gets events one by one under
        the policy above (and a batch it has not taken yet is turned back into its events)."""
        self.put_control(batch)
        if self._entries and self._entries[-1][1] is batch:
            self._batch = self._entries[-1]

    def _unbatch(self) -> None:
        entry, self._batch = self._batch, None
        entries = self._entries
        if entry is None or not entries or entries[0] is not entry:
            return  # the writer took it
        entries.popleft()
        rest = list(entries)  # control entries queued after it (replies): they stay after
        entries.clear()
        batch: Batch = entry[1]
        for event, line in zip(batch.events, batch.lines, strict=True):
            super().put(event, line)
        entries.extend(rest)

    def take(self, max_bytes: int) -> tuple[list[bytes], Batch | None, int]:
        """Take what is queued: the encodings of events and replies, in order, until they hold
        ``max_bytes``, then at most one batch (which ends the take; it follows them), and the
        number of events in both."""
        lines: list[bytes] = []
        size = events = 0
        while size < max_bytes:
            entry = self.pop_entry()
            if entry is None:
                break
            event, data = entry
            if data.__class__ is Batch:
                return lines, data, events + len(data)
            if event is not CONTROL:
                events += 1
                if data is None:  # a conflated market-data event: encode the merged event
                    data = event_to_json(event)
            lines.append(data)
            size += len(data)
        return lines, None, events

    def take_ws(self, max_bytes: int) -> tuple[list[bytes], int]:
        """:meth:`take` as plain-stream WebSocket messages (one event or reply per line, lines
        added until a message holds ``max_bytes``; a batch brings its own shared messages)."""
        lines, batch, events = self.take(max_bytes)
        out = split_lines(lines, max_bytes) if lines else []
        if batch is not None:
            out.extend(batch.ws_messages(max_bytes))
        return out, events

    def take_sse(self, max_bytes: int) -> tuple[bytes, int]:
        """:meth:`take` as Server-Sent Events records (one ``data:`` record per event; a batch
        brings its shared payload)."""
        lines, batch, events = self.take(max_bytes)
        payload = b"".join([b"data: " + line + b"\n\n" for line in lines])
        if batch is not None:
            payload = payload + batch.sse_payload() if payload else batch.sse_payload()
        return payload, events
