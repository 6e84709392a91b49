"""Fan-out to several sinks, each isolated from the others' failures."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ibstream.sinks.base import Sink, close_sink, emit_isolated

__all__ = ["CompositeSink"]


class CompositeSink:
    """Emits every event to each of its sinks in order.

    A sink that raises is logged and counted (``errors``, and per sink in ``failures``); the
    remaining sinks still get the event, and the failing sink gets the next one. ``close()``
    closes every sink.
    """

    def __init__(self, *sinks: Sink) -> None:
        self._sinks: tuple[Sink, ...] = sinks
        self._lock = threading.Lock()
        self.errors = 0
        self.failures: Counter[int] = Counter()  # index of the sink -> failed emits

    def __repr__(self) -> str:
        return f"<CompositeSink sinks={len(self._sinks)} errors={self.errors}>"

    @property
    def sinks(self) -> tuple[Sink, ...]:
        return self._sinks

    def add(self, sink: Sink) -> None:
        """Add a sink (thread-safe; it gets the events emitted from now on)."""
        with self._lock:
            self._sinks = (*self._sinks, sink)

    def emit(self, event: Any) -> None:
        for index, sink in enumerate(self._sinks):
            if not emit_isolated(sink, event):
                self.errors += 1
                self.failures[index] += 1

    def close(self, error: BaseException | None = None) -> None:
        for sink in self._sinks:
            close_sink(sink, error)
