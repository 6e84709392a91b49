"""Per-event-type callbacks, with each callback's failures isolated."""

from __future__ import annotations

import logging
import threading
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["CallbackSink"]

log = logging.getLogger("ibstream.sinks")

Callback = Callable[[Any], object]


def _expand(event_type: Any) -> tuple[type | None, ...]:
    """``None`` (every event), a class, a tuple of classes or a union alias (``LifecycleEvent``)."""
    if event_type is None:
        return (None,)
    if isinstance(event_type, tuple):
        return tuple(t for e in event_type for t in _expand(e))
    if isinstance(event_type, types.UnionType) or typing.get_origin(event_type) is typing.Union:
        return tuple(t for e in typing.get_args(event_type) for t in _expand(e))
    if isinstance(event_type, type):
        return (event_type,)
    raise TypeError(f"event_type must be a class, a union of classes or None, not {event_type!r}")


class CallbackSink:
    """Calls ``callback(event)`` for the events of the types it was registered for.

    A callback registered for a class also gets its subclasses' events; ``None`` registers for
    every event. A callback that raises is logged and counted in :attr:`errors`; the other
    callbacks and later events are delivered as usual. Registration is thread-safe and may happen
    while events flow.
    """

    def __init__(self) -> None:
        # Registered callbacks by type (None: every event); replaced, never mutated, under _lock.
        self._callbacks: dict[type | None, tuple[Callback, ...]] = {}
        # event class -> callbacks that apply to it (MRO + None), rebuilt on registration.
        self._cache: dict[type, tuple[Callback, ...]] = {}
        self._lock = threading.Lock()
        # Counters.
        self.delivered = 0  # events emitted (whether or not a callback applied)
        self.errors = 0  # callback calls that raised

    def __repr__(self) -> str:
        count = sum(len(c) for c in self._callbacks.values())
        return f"<CallbackSink callbacks={count} delivered={self.delivered} errors={self.errors}>"

    def on(self, event_type: Any, callback: Callback) -> Callable[[], None]:
        """Call ``callback`` for each event of ``event_type``; returns a function removing it."""
        types_ = _expand(event_type)
        with self._lock:
            callbacks = dict(self._callbacks)
            for t in types_:
                callbacks[t] = (*callbacks.get(t, ()), callback)
            self._callbacks = callbacks
            self._cache = {}

        def remove() -> None:
            with self._lock:
                callbacks = dict(self._callbacks)
                for t in types_:
                    remaining = list(callbacks.get(t, ()))
                    if callback in remaining:
                        remaining.remove(callback)
                    callbacks[t] = tuple(remaining)
                self._callbacks = callbacks
                self._cache = {}

        return remove

    def _for(self, cls: type) -> tuple[Callback, ...]:
        # The cache is read before the callbacks and filled in that same dict: a registration
        # meanwhile replaces both, so a stale lookup lands only in the discarded cache.
        cache = self._cache
        found = cache.get(cls)
        if found is None:
            callbacks = self._callbacks
            found = tuple(fn for t in (*cls.__mro__, None) for fn in callbacks.get(t, ()))
            cache[cls] = found
        return found

    def emit(self, event: Any) -> None:
        """Run the callbacks that apply to ``event``; never raises."""
        self.delivered += 1
        for fn in self._for(event.__class__):
            try:
                fn(event)
            except Exception:
                self.errors += 1
                log.exception("callback %r failed on %s", fn, event.__class__.__name__)
