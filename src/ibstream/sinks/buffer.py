"""The thread adapter of the queue policy: a bounded event buffer for threads.

:class:`ThreadSafeBuffer` is :class:`ibstream.conflating.ConflatingQueue` behind a lock and a
condition variable: the policy logic (conflate market data per instrument, never drop anything
else, ``SlowConsumerError`` to the reader once drained) exists once, in ``ConflatingQueue``, and
this class only adds blocking reads for threads. ``put`` never blocks, so the producer (the client's
loop thread or dispatcher thread) never waits for a slow reader.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ibstream.conflating import ConflatingQueue
from ibstream.exceptions import StreamTimeout

__all__ = ["ThreadSafeBuffer"]


class ThreadSafeBuffer:
    """Bounded FIFO of events shared between threads; see :class:`ConflatingQueue` for the policy.

    ``get`` raises ``StreamTimeout`` when ``timeout`` passes, ``SlowConsumerError`` after the
    buffered events of an overflowed buffer were read, and ``ClientClosed`` (or the error given to
    :meth:`close`) after a closed buffer was drained.
    """

    __slots__ = ("_buf", "_cond")

    def __init__(self, maxsize: int = 10_000, *, name: str = "events") -> None:
        self._buf = ConflatingQueue(maxsize, name=name)
        self._cond = threading.Condition(threading.Lock())

    def __repr__(self) -> str:
        return f"<ThreadSafeBuffer {self._buf!r}>"

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def name(self) -> str:
        return self._buf.name

    @property
    def maxsize(self) -> int:
        return self._buf.maxsize

    @property
    def conflated(self) -> int:
        """Market-data events merged into a pending one because the reader fell behind."""
        return self._buf.conflated

    @property
    def overflowed(self) -> bool:
        """A never-drop event did not fit: the reader gets ``SlowConsumerError`` once drained."""
        return self._buf.overflowed

    @property
    def closed(self) -> bool:
        return self._buf.closed

    def put(self, event: Any) -> None:
        """Add an event; never blocks, never raises (from any thread)."""
        with self._cond:
            buf = self._buf
            was_overflowed = buf.overflowed
            buf.put(event)
            if buf.overflowed and not was_overflowed:
                self._cond.notify_all()
            else:
                self._cond.notify()

    def get_nowait(self) -> Any | None:
        """The next event, or ``None`` when empty (raises the end error once drained)."""
        with self._cond:
            return self._buf.get_nowait()

    def get(self, timeout: float | None = None) -> Any:
        """Block until an event is available (at most ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                event = self._buf.get_nowait()
                if event is not None:
                    return event
                self._wait(deadline)

    def get_batch(self, max_items: int, timeout: float | None = None) -> list[Any]:
        """Block for at least one event, then take up to ``max_items`` without waiting.

        An end (overflow, close) met after some events were taken is raised by the next call.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                event = self._buf.get_nowait()
                if event is not None:
                    break
                self._wait(deadline)
            batch = [event]
            get_nowait = self._buf.get_nowait
            try:
                while len(batch) < max_items:
                    event = get_nowait()
                    if event is None:
                        break
                    batch.append(event)
            except Exception:
                pass  # the end is raised again by the next call
            return batch

    def _wait(self, deadline: float | None) -> None:
        if deadline is None:
            self._cond.wait()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._cond.wait(remaining):
            raise StreamTimeout(f"{self._buf.name}: no event within the timeout")

    def close(self, error: BaseException | None = None) -> None:
        """No more events: readers drain what is buffered, then get ``error`` or
        ``ClientClosed``."""
        with self._cond:
            self._buf.close(error)
            self._cond.notify_all()
