"""Where the consumer of one remote subscription is: the bus position of the last event it *read*.

A subscription receives events into its buffer ahead of the consumer. The position to resume
from after a restart must be the last event the consumer took out, not the last one received,
or the events still buffered at a crash would be skipped on resume (a hole). :class:`ReadCursor`
keeps one mark per received event (in order, with its bus position, ``None`` for events that
have none: live state read first, local ``Gap`` s) and moves the position when the consumer
reads the marked event.

Market data merged into a pending entry by the buffer (a slow consumer) comes out as a new
object that has no mark: the position then stays where it was until the next marked event is
read. It may lag (a resume then repeats some market data), never run ahead. Thread-safe: the
threaded facade reads from its own thread while the loop thread receives.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ibstream.remote.wire import Position

__all__ = ["ReadCursor"]

_PASSED = object()  # a message the subscription passed over (stale fence, already in the state)


class ReadCursor:
    """Marks of received events and the position of the last one read (see the module doc)."""

    __slots__ = ("_lock", "_marked", "_marks", "cap", "position")

    def __init__(self, position: Position | None = None, *, cap: int = 100_000) -> None:
        self.position = position
        self.cap = cap  # marks kept at most; the oldest go first (the position lags, never leads)
        self._marks: deque[tuple[Any, Position | None]] = deque()
        self._marked: set[int] = (
            set()
        )  # ids of the events with a mark (alive: the deque holds them)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._marks)

    def received(self, event: Any, position: Position | None) -> None:
        """``event`` (at ``position``, ``None`` if it has none) goes into the buffer."""
        with self._lock:
            self._push(event, position)
            self._marked.add(id(event))

    def passed(self, position: Position) -> None:
        """The message at ``position`` was not delivered; reading past it moves beyond it."""
        with self._lock:
            if not self._marks:  # nothing unread ahead of it: the consumer is past it already
                self.position = position
            else:
                self._push(_PASSED, position)

    def _push(self, item: Any, position: Position | None) -> None:
        marks = self._marks
        marks.append((item, position))
        while len(marks) > self.cap:
            old, _ = marks.popleft()
            self._marked.discard(id(old))

    def read(self, event: Any) -> None:
        """The consumer took ``event`` out of the buffer."""
        with self._lock:
            marks = self._marks
            if not marks or (marks[0][0] is not event and id(event) not in self._marked):
                return  # merged market data (no mark of its own): keep the position
            while marks:  # marks before it were read, or merged into what was read
                item, pos = marks.popleft()
                if item is not _PASSED:
                    self._marked.discard(id(item))
                if pos is not None:
                    self.position = pos
                if item is event:
                    break
            while marks and marks[0][0] is _PASSED:
                _, pos = marks.popleft()
                self.position = pos
