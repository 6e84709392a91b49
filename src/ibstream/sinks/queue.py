"""Bounded, thread-safe queues per key, with the asyncio client's overflow policies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from ibstream.exceptions import ClientClosed
from ibstream.sinks.buffer import ThreadSafeBuffer

__all__ = ["QueueReader", "QueueSink", "key_by_stream", "key_by_type"]

KeyFunc = Callable[[Any], Hashable]


def key_by_type(event: Any) -> Hashable:
    """The default key: the event's class (one queue for ``MarketData``, one for ``Trade``...)."""
    cls: Hashable = event.__class__
    return cls


def key_by_stream(event: Any) -> Hashable:
    """One queue per stream (``StreamKey``: ``md:265598``, ``or``...); other events by class."""
    key: Hashable | None = getattr(event, "key", None)
    return key if key is not None else key_by_type(event)


class QueueReader:
    """The reading end of one key's queue: ``get``, ``get_nowait``, ``empty``, iteration.

    Iteration blocks for the next event and ends when the sink is closed (the client stopped);
    ``SlowConsumerError`` is raised once an overflowed queue was drained.
    """

    def __init__(self, buffer: ThreadSafeBuffer, key: Hashable) -> None:
        self._buffer = buffer
        self.key = key

    def __repr__(self) -> str:
        return f"<QueueReader {self.key!r} size={len(self._buffer)}>"

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def conflated(self) -> int:
        return self._buffer.conflated

    def get(self, timeout: float | None = None) -> Any:
        """The next event; blocks (``StreamTimeout`` after ``timeout`` seconds)."""
        return self._buffer.get(timeout)

    def get_nowait(self) -> Any | None:
        """The next event or ``None``."""
        return self._buffer.get_nowait()

    def empty(self) -> bool:
        return len(self._buffer) == 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return self._buffer.get()
        except ClientClosed:
            raise StopIteration from None


class QueueSink:
    """Puts each event in a bounded queue chosen by ``key(event)`` (default: the event class).

    Policies per queue (the one queue policy, :class:`~ibstream.conflating.ConflatingQueue`,
    as in the asyncio client's buffers): market data and price ladders are conflated per
    instrument when the queue is full; anything else (orders, trades, account, lifecycle) is never
    dropped: the queue stops accepting and its reader gets ``SlowConsumerError`` after draining.
    ``emit`` never blocks. ``close()`` ends every reader's iteration once drained.
    """

    def __init__(self, maxsize: int = 10_000, *, key: KeyFunc = key_by_type) -> None:
        self.maxsize = maxsize
        self._key = key
        self._queues: dict[Hashable, ThreadSafeBuffer] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        queues = list(self._queues.items())  # one atomic copy: the dispatcher may add a key
        sizes = {str(getattr(k, "__name__", k)): len(q) for k, q in queues}
        return f"<QueueSink {sizes}>"

    def _queue(self, key: Hashable) -> ThreadSafeBuffer:
        queue = self._queues.get(key)
        if queue is None:
            with self._lock:
                queue = self._queues.get(key)
                if queue is None:
                    name = getattr(key, "__name__", None) or str(key)
                    queue = ThreadSafeBuffer(self.maxsize, name=f"queue {name}")
                    if self._closed:
                        queue.close(self._error)
                    self._queues[key] = queue
        return queue

    def emit(self, event: Any) -> None:
        self._queue(self._key(event)).put(event)

    def reader(self, key: Hashable) -> QueueReader:
        """The reader of ``key``'s queue (created empty if no event arrived yet)."""
        return QueueReader(self._queue(key), key)

    def get(self, key: Hashable, timeout: float | None = None) -> Any:
        """The next event of ``key``; blocks (``StreamTimeout`` after ``timeout`` seconds)."""
        return self._queue(key).get(timeout)

    def get_nowait(self, key: Hashable) -> Any | None:
        """The next event of ``key`` or ``None``."""
        return self._queue(key).get_nowait()

    def empty(self, key: Hashable) -> bool:
        return len(self._queue(key)) == 0

    def keys(self) -> list[Hashable]:
        """Keys that have a queue."""
        return list(self._queues)

    def close(self, error: BaseException | None = None) -> None:
        """Readers drain their queue, then iteration ends (``error``, if given, is raised to
        them instead: the client's sinks get ``SlowConsumerError`` when its hand-off overflowed).
        """
        with self._lock:
            self._closed = True
            self._error = error
            queues = list(self._queues.values())
        for queue in queues:
            queue.close(error)
