"""The hand-off from the loop thread to the sinks: one bounded buffer, one dispatcher thread.

The client's loop thread only calls :meth:`Dispatcher.put` (a lock and an append, never a wait);
the dispatcher thread takes events in batches and calls each sink. A slow sink therefore slows
the dispatcher, never the socket reader. The buffer has the asyncio client's policies (it is a
:class:`~ibstream.sinks.ThreadSafeBuffer`): market data conflates per instrument when the sinks
fall behind; other events are never dropped: if they overflow the buffer, delivery to the sinks
stops with ``SlowConsumerError`` (logged, kept in :attr:`Dispatcher.error` and the client's
``metrics()``, and handed to sinks whose ``close`` takes an ``error``) instead of silently losing
orders or trades.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ibstream.exceptions import ClientClosed, IBStreamError
from ibstream.sinks.base import Sink, close_sink, emit_isolated
from ibstream.sinks.buffer import ThreadSafeBuffer
from ibstream.sinks.recorder import RawFrame
from ibstream.sync.loop import join as join_thread

__all__ = ["Dispatcher"]

log = logging.getLogger("ibstream.sync")

BATCH = 512


class Dispatcher:
    """Feeds event sinks and frame sinks from one thread, through one bounded buffer."""

    def __init__(self, maxsize: int = 10_000, *, name: str = "ibstream-sinks") -> None:
        self.name = name
        self.buffer = ThreadSafeBuffer(maxsize, name=name)
        # Sinks: replaced (copy-on-write) under _lock, read without it by the dispatcher thread.
        self._sinks: tuple[Sink, ...] = ()
        self._frame_sinks: tuple[Sink, ...] = ()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._sinks_closed = False  # set (under _lock) when the sinks were closed
        # Counters and the error that ended delivery, if any.
        self.delivered = 0
        self.errors = 0
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return (
            f"<Dispatcher sinks={len(self._sinks)} frame_sinks={len(self._frame_sinks)} "
            f"buffered={len(self.buffer)} delivered={self.delivered} errors={self.errors}>"
        )

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def add(self, sink: Sink, *, frames: bool = False) -> None:
        """Deliver events (or, with ``frames=True``, ``RawFrame`` objects) to ``sink``; once
        delivery ended, ``sink`` is closed at once instead."""
        with self._lock:
            ended = self._sinks_closed
            if not ended and frames:
                self._frame_sinks = (*self._frame_sinks, sink)
            elif not ended:
                self._sinks = (*self._sinks, sink)
        if ended:
            close_sink(sink, self.error)

    def put(self, event: Any) -> None:
        """Hand an event over (loop thread); never blocks."""
        self.buffer.put(event)

    def put_frame(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        """An ``on_frame`` listener: hand a raw frame over to the frame sinks."""
        self.buffer.put(RawFrame(direction=direction, data=data, t=now, binary=binary))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
            self._thread.start()

    def _main(self) -> None:
        try:
            while True:
                try:
                    batch = self.buffer.get_batch(BATCH)
                except ClientClosed:
                    return
                except IBStreamError as exc:  # SlowConsumerError: never drop silently
                    self.error = exc
                    log.error("sink delivery stopped: %s", exc)
                    return
                self._deliver(batch)
        finally:
            self._close_sinks()

    def _close_sinks(self) -> None:
        with self._lock:
            self._sinks_closed = True
            sinks = (*self._sinks, *self._frame_sinks)
        for sink in sinks:
            close_sink(sink, self.error)

    def _deliver(self, batch: list[Any]) -> None:
        for event in batch:
            sinks = self._frame_sinks if event.__class__ is RawFrame else self._sinks
            for sink in sinks:
                if not emit_isolated(sink, event):
                    self.errors += 1
            self.delivered += 1

    def stop(self, timeout: float | None = 10.0, *, join: bool = True) -> bool:
        """Deliver what is buffered, close the sinks, join the thread (not from itself).

        Returns whether a ``KeyboardInterrupt`` arrived while joining.
        """
        self.buffer.close()
        thread = self._thread
        if thread is None:
            if self._stopped:
                return False
            self._stopped = True
            self._close_sinks()
            return False
        if not join or thread is threading.current_thread():
            return False
        return join_thread(thread, timeout)

    def metrics(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "errors": self.errors,
            "buffered": len(self.buffer),
            "conflated": self.buffer.conflated,
            "overflowed": self.buffer.overflowed,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }
