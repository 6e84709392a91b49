"""The sink protocol: where events go when they leave the client.

A sink is any object with ``emit(event)``; ``close()`` is optional and called once when the
client stops (``close_sink`` does the optional call). When delivery ended with an error instead
(``SlowConsumerError``: never-drop events overflowed the hand-off), a ``close`` that takes an
``error`` argument is given it, so a sink's readers learn of the loss (``QueueSink`` raises it to
them once drained). Sinks of a :class:`ibstream.Client` are fed
from its one dispatcher thread, never from the socket reader (see ``docs/architecture.md``,
"Threaded API and sinks"), so a sink may block or be slow without stalling the connection.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["Sink"]

log = logging.getLogger("ibstream.sinks")


@runtime_checkable
class Sink(Protocol):
    """Receives events one at a time: ``emit(event)``. Optional: ``close()``."""

    def emit(self, event: Any) -> None:
        """Take one event (an ibstream event, or a ``RawFrame`` for frame sinks)."""


def close_sink(sink: object, error: BaseException | None = None) -> None:
    """Call ``sink.close()`` if it has one (``close(error=error)`` when given an error and the
    sink's ``close`` takes one); a failure is logged, never raised."""
    close = getattr(sink, "close", None)
    if callable(close):
        try:
            if error is not None and _takes_error(close):
                close(error=error)
            else:
                close()
        except Exception:
            log.exception("closing sink %r failed", sink)


def _takes_error(close: Callable[..., object]) -> bool:
    try:
        return "error" in inspect.signature(close).parameters
    except (TypeError, ValueError):  # no signature (a builtin)
        return False


def emit_isolated(sink: Sink, event: Any) -> bool:
    """``sink.emit(event)``; a failure is logged and reported as ``False``, never raised."""
    try:
        sink.emit(event)
    except Exception:
        log.exception("sink %r failed on %s", sink, type(event).__name__)
        return False
    return True
