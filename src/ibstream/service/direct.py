"""Direct writes: a round's shared batch goes straight to a plain WebSocket consumer's socket.

A consumer that keeps up used to get each round as one queue entry, then its writer task woke,
took the entry and sent it through aiohttp's frame writer: per consumer and round a future, a
task step, a queue entry and a frame header joined to a copy of the payload, on top of the
socket write itself. :class:`DirectWriter` does the one part that depends on the consumer, the
socket write, during the round (:func:`ibstream.service.fanout.hand_out`), with the frames the
:class:`~ibstream.service.fanout.Batch` built once for every consumer.

It writes only when nothing can be reordered or unbounded:

* its writer task is idle: waiting on an empty queue (the queue is empty, and no message it
  took is still being sent);
* the socket took every byte written so far (the transport buffers nothing): a consumer that
  reads slowly fills its kernel buffer, the transport keeps the rest, and its next rounds are
  queued under the queue's bounded, conflating, never-silently-dropping policy as before;
* the WebSocket is open and sends uncompressed frames: once ``close()`` began, or with
  ``permessage-deflate`` negotiated (aiohttp compresses each message), the writer sends.

Otherwise the batch is queued as before; the writer sends it.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ibstream.service.fanout import Batch
from ibstream.service.hub import Consumer

__all__ = ["DirectWriter"]

log = logging.getLogger("ibstream.service")


class DirectWriter:
    """The ``direct`` writer of one plain-stream WebSocket consumer (``Consumer.direct``).

    The consumer's writer task sets :attr:`idle` while it waits on an empty queue."""

    __slots__ = ("_consumer", "_max_bytes", "_transport", "_ws", "idle", "writes")

    def __init__(
        self,
        consumer: Consumer,
        ws: web.WebSocketResponse,
        transport: asyncio.WriteTransport,
        max_bytes: int,
    ) -> None:
        self._consumer = consumer
        self._ws = ws
        self._transport = transport
        self._max_bytes = max_bytes
        #: Set by the writer task while it waits on an empty queue (nothing of its in flight).
        self.idle = False
        #: Rounds written by this writer (the others went through the queue).
        self.writes = 0

    def __repr__(self) -> str:
        return f"<DirectWriter {self._consumer.id} idle={self.idle} writes={self.writes}>"

    def __call__(self, batch: Batch) -> bool:
        """Write ``batch`` now and count it as sent (``True``), or leave it to the queue."""
        consumer = self._consumer
        if not self.idle or consumer.closed or consumer.queue or self._ws.closed:
            return False
        transport = self._transport
        if transport.is_closing() or transport.get_write_buffer_size():
            return False
        data, messages, size = batch.ws_frames(self._max_bytes)
        try:
            transport.write(data)
        except Exception as exc:  # never cost the round its other consumers: queue it instead
            log.debug("consumer %s: direct write failed: %r", consumer.id, exc)
            return False
        self.writes += 1
        consumer.sent_events += len(batch)
        consumer.sent_messages += messages
        consumer.sent_bytes += size
        return True
