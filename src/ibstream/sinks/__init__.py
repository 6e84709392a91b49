"""Where events go: a one-method ``Sink`` protocol and composable implementations.

* :class:`Sink` — anything with ``emit(event)`` (and optionally ``close()``).
* :class:`CallbackSink` — per event type callbacks; a failing callback is logged and counted.
* :class:`QueueSink` — bounded thread-safe queues per key, with the asyncio client's policies.
* :class:`CompositeSink` — fan-out, each sink isolated from the others' failures.
* :class:`LogSink` — JSON lines to ``logging``, secrets masked.
* :class:`RecorderSink` — raw frames to a JSON-lines file the simulator replays.
* :class:`ThreadSafeBuffer` — the bounded buffer behind ``QueueSink`` and the client's hand-off.

Give a sink to :class:`ibstream.Client` (``Client(url, sink=...)``); it is fed from the client's
dispatcher thread, so a slow sink never stalls the socket reader.
"""

from __future__ import annotations

from ibstream.sinks.base import Sink
from ibstream.sinks.buffer import ThreadSafeBuffer
from ibstream.sinks.callback import CallbackSink
from ibstream.sinks.composite import CompositeSink
from ibstream.sinks.log import LogSink
from ibstream.sinks.queue import QueueReader, QueueSink, key_by_stream, key_by_type
from ibstream.sinks.recorder import RawFrame, RecorderSink

__all__ = [
    "CallbackSink",
    "CompositeSink",
    "LogSink",
    "QueueReader",
    "QueueSink",
    "RawFrame",
    "RecorderSink",
    "Sink",
    "ThreadSafeBuffer",
    "key_by_stream",
    "key_by_type",
]
