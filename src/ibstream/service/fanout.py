"""Batched fan-out: the hub's events go out in *rounds*, each round's bytes shared.

The router hands each event of a stream to the hub once (through the stream's *tap*, see
:mod:`ibstream.service.hub`); events of no stream come through the client's callbacks. The hub
logs each one with its *route* (its ``StreamKey``, or :data:`SESSION` / :data:`LIFECYCLE`) in the
current :class:`Rounds` log, and the log is handed out as one round:

* **When.** The first event of a round schedules it: at once (after the current read's events,
  so one upstream read is one round) when the previous round is ``interval`` old, else at that
  time. ``interval`` adapts: it is the CPU cost of a round (handing it out plus the socket
  writes it caused, without the encoding, which is the same however rounds are cut) divided
  by ``budget``, between ``flush_interval`` and
  ``max_flush_interval``. A quiet service sends each event at once; a busy one (many consumers,
  many events) sends fewer, larger messages, and fan-out takes about ``budget`` of the loop.
  A round that reaches ``max_events`` goes out at once (the hub sets half a consumer queue:
  a consumer that keeps up never meets its queue's bound because rounds grew).
* **What.** Each consumer gets the events of its routes (and filters). Consumers that select the
  same events of a round share one :class:`Batch`: the events are encoded once, and each wire
  format (WebSocket lines, SSE ``data:`` records) is built once per batch, whatever the number
  of consumers.
* **How.** A consumer whose queue is empty (it keeps up) gets the batch whole. A plain
  WebSocket consumer whose writer is idle and whose socket took everything so far gets it
  written at once, in the round (its ``direct`` writer, :mod:`ibstream.service.direct`): the
  batch's WebSocket frames are built once and each such consumer costs one socket write, no
  queue entry, no task wake-up. Any other consumer that keeps up gets the batch as one queue
  entry: one wake-up of its writer and one socket write per round. A consumer that is behind
  (its queue holds entries, or its socket still holds bytes) gets the round's events one by
  one, and a batch it has not taken yet turns back into its events, so the queue's bounded,
  conflating, never-silently-dropping policy counts every event as before
  (:mod:`ibstream.service.queue`).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from ibstream.serialize import event_to_json

__all__ = [
    "FLUSH_BUDGET",
    "FLUSH_INTERVAL",
    "LIFECYCLE",
    "MAX_FLUSH_INTERVAL",
    "SESSION",
    "Batch",
    "Rounds",
    "Target",
    "hand_out",
    "split_lines",
    "ws_text_frames",
]

log = logging.getLogger("ibstream.service")

# The rounds' pacing defaults, for the hub and the service's settings too (one place):
#: Minimum seconds between two rounds.
FLUSH_INTERVAL: Final = 0.002
#: Longest the interval grows to under load (seconds).
MAX_FLUSH_INTERVAL: Final = 0.01
#: Share of the event loop the fan-out may take before rounds grow longer.
FLUSH_BUDGET: Final = 0.1


class _Route:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The route of events of no stream (session state, bulletins, notifications, errors).
SESSION: Final = _Route("SESSION")
#: The route of every stream's lifecycle events, for consumers that want them all.
LIFECYCLE: Final = _Route("LIFECYCLE")


def split_lines(lines: list[bytes], max_bytes: int) -> list[bytes]:
    """``lines`` joined by newlines into messages: lines are added to a message until it holds
    ``max_bytes`` or more (so a message holds at least one line; ``max_bytes=1``: one each)."""
    if max_bytes <= 1:
        return list(lines)
    out: list[bytes] = []
    part: list[bytes] = []
    size = 0
    for line in lines:
        part.append(line)
        size += len(line)
        if size >= max_bytes:
            out.append(part[0] if len(part) == 1 else b"\n".join(part))
            part, size = [], 0
    if part:
        out.append(part[0] if len(part) == 1 else b"\n".join(part))
    return out


_HEAD_SHORT = struct.Struct("!BB").pack
_HEAD_16 = struct.Struct("!BBH").pack
_HEAD_64 = struct.Struct("!BBQ").pack


def ws_text_frames(messages: list[bytes]) -> bytes:
    """``messages`` as unmasked, unfragmented, uncompressed WebSocket text frames (RFC 6455
    section 5.2: what a server sends), one after the other in one buffer."""
    out: list[bytes] = []
    for payload in messages:
        n = len(payload)
        if n < 126:
            out.append(_HEAD_SHORT(0x81, n))
        elif n < 65536:
            out.append(_HEAD_16(0x81, 126, n))
        else:
            out.append(_HEAD_64(0x81, 127, n))
        out.append(payload)
    return b"".join(out)


class Batch:
    """The encoded events of one round selected for a group of consumers, in order.

    Shared by every consumer of that selection; each wire format is built on first use and
    kept, so it is built once per round whatever the number of consumers."""

    __slots__ = ("_frames", "_sse", "_ws", "events", "lines")

    def __init__(self, lines: list[bytes], events: list[Any]) -> None:
        #: One JSON document per event (``event_to_json``), in delivery order.
        self.lines = lines
        #: The events themselves (a consumer that falls behind gets them back one by one).
        self.events = events
        self._ws: tuple[int, list[bytes]] | None = None
        self._frames: tuple[int, bytes, int, int] | None = None
        self._sse: bytes | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def __repr__(self) -> str:
        return f"<Batch {len(self.lines)} events>"

    def ws_messages(self, max_bytes: int) -> list[bytes]:
        """The plain-stream WebSocket messages (one event per line, see :func:`split_lines`)."""
        cached = self._ws
        if cached is not None and cached[0] == max_bytes:
            return cached[1]
        messages = split_lines(self.lines, max_bytes)
        self._ws = (max_bytes, messages)
        return messages

    def ws_frames(self, max_bytes: int) -> tuple[bytes, int, int]:
        """:meth:`ws_messages` framed for the socket (:func:`ws_text_frames`), with the number
        of messages and their payload bytes: the same bytes for every consumer."""
        cached = self._frames
        if cached is not None and cached[0] == max_bytes:
            return cached[1], cached[2], cached[3]
        messages = self.ws_messages(max_bytes)
        data = ws_text_frames(messages)
        size = sum(map(len, messages))
        self._frames = (max_bytes, data, len(messages), size)
        return data, len(messages), size

    def sse_payload(self) -> bytes:
        """The Server-Sent Events records, one ``data:`` record per event."""
        if self._sse is None:
            self._sse = b"".join([b"data: " + line + b"\n\n" for line in self.lines])
        return self._sse


class Rounds:
    """The log of the current round and its adaptive schedule (see the module docstring).

    ``distribute(log)`` hands a round out (it must not await) and returns the seconds of that
    work which do not depend on how rounds are cut (encoding each event once), left out of the
    cost. The cost of a round is the CPU time of the loop's thread (``cpu_clock``, a thread
    clock: a busy machine preempting the process does not count) from the start of the hand-out
    until the writers it woke have run (a callback queued after their wake-ups); it sets the
    interval after the next round.
    """

    __slots__ = (
        "_distribute",
        "_handle",
        "_next_at",
        "budget",
        "cpu_clock",
        "errors",
        "flush_interval",
        "interval",
        "log",
        "max_events",
        "max_flush_interval",
        "rounds",
    )

    def __init__(
        self,
        distribute: Callable[[list[tuple[Any, Any]]], float],
        *,
        flush_interval: float = FLUSH_INTERVAL,
        max_flush_interval: float = MAX_FLUSH_INTERVAL,
        budget: float = FLUSH_BUDGET,
        max_events: int = 4096,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._distribute = distribute
        self.cpu_clock = cpu_clock
        self.max_events = max(1, max_events)
        self.flush_interval = flush_interval
        self.max_flush_interval = max(flush_interval, max_flush_interval)
        self.budget = budget
        #: ``(route, event)`` pairs of the round being collected.
        self.log: list[tuple[Any, Any]] = []
        self._handle: asyncio.Handle | None = None
        self._next_at = 0.0
        #: The current minimum time between two rounds (seconds).
        self.interval = flush_interval
        #: Rounds handed out so far.
        self.rounds = 0
        #: Rounds whose hand-out raised (logged; the next rounds go on).
        self.errors = 0

    def __repr__(self) -> str:
        return (
            f"<Rounds interval={self.interval * 1000:.1f}ms pending={len(self.log)} "
            f"rounds={self.rounds}>"
        )

    def add(self, route: Any, event: Any) -> None:
        """Log ``event`` for the consumers of ``route``; schedules the round if needed."""
        log = self.log
        log.append((route, event))
        if self._handle is None:
            self._schedule()
        elif len(log) >= self.max_events:
            self.flush()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        if self._next_at <= loop.time():
            # after the rest of the current read: one upstream read, one round
            self._handle = loop.call_soon(self._run)
        else:
            self._handle = loop.call_at(self._next_at, self._run)

    def flush(self) -> None:
        """Hand the pending round out now (before a consumer's routes or filters change, so
        each event goes to the consumers that wanted it when it arrived)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.log:
            self._run()

    def _run(self) -> None:
        self._handle = None
        pending, self.log = self.log, []
        if not pending:
            return
        loop = asyncio.get_running_loop()
        self._next_at = loop.time() + self.interval
        started = self.cpu_clock()
        fixed = 0.0
        try:
            fixed = self._distribute(pending) or 0.0
        except Exception:  # a bug must not stop every later round (nor the read loop)
            self.errors += 1
            log.exception("fan-out round of %d events failed", len(pending))
        self.rounds += 1
        # the writers woken above run before this callback (the loop runs callbacks in order)
        loop.call_soon(self._measured, started, fixed)

    def _measured(self, started: float, fixed: float) -> None:
        cost = max(0.0, self.cpu_clock() - started - fixed)
        self.interval = min(self.max_flush_interval, max(self.flush_interval, cost / self.budget))

    def close(self) -> None:
        """Drop the pending round and its schedule (the hub is shutting down)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.log = []


class _Queue(Protocol):
    maxsize: int

    def __len__(self) -> int: ...

    def put(self, event: Any, payload: Any = None) -> None: ...

    def put_batch(self, batch: Batch) -> None: ...


class Target(Protocol):
    """What a round needs of a consumer (``service.hub.Consumer``)."""

    @property
    def routes(self) -> set[Any]: ...

    @property
    def filters(self) -> Any: ...

    @property
    def wants_bytes(self) -> bool: ...

    @property
    def queue(self) -> _Queue: ...

    @property
    def direct(self) -> Callable[[Batch], bool] | None: ...


def hand_out(
    log: list[tuple[Any, Any]], consumers_of: Callable[[Any], Sequence[Target]]
) -> tuple[float, int]:
    """Hand one round out to the consumers of its routes (``consumers_of(route)``: found by
    route, never by scanning every consumer): each event encoded once, one shared
    :class:`Batch` per distinct selection, written at once by a consumer's ``direct`` writer
    or queued as one entry for a consumer that keeps up (empty queue, batch within its bound),
    event by event for one that is behind (or that converts events itself, ``wants_bytes``
    false). Returns the seconds spent encoding and the number of events encoded."""
    n = len(log)
    if not n:
        return 0.0, 0
    routes = {route for route, _ in log}
    groups = [consumers_of(r) for r in routes]
    first = groups[0]
    targets: Iterable[Target]
    if all(group == first for group in groups):
        # one route, or routes with the same consumers (everyone reads the same instruments):
        # one comparison per list instead of one dict insertion per consumer and route
        targets = list(first)
    else:
        targets = dict.fromkeys(c for group in groups for c in group)
    encoded: list[bytes | None] = [None] * n
    batches: dict[tuple[int, ...] | None, Batch] = {}
    clock = time.perf_counter
    spent = 0.0
    count = 0

    def encoding(i: int) -> bytes:
        nonlocal spent, count
        data = encoded[i]
        if data is None:
            started = clock()
            data = encoded[i] = event_to_json(log[i][1])
            spent += clock() - started
            count += 1
        return data

    for consumer in targets:
        croutes = consumer.routes
        filters = consumer.filters
        sel: tuple[int, ...] | None
        if filters is None and routes <= croutes:
            sel = None  # the whole round
        else:
            sel = tuple(
                i
                for i, (route, ev) in enumerate(log)
                if route in croutes and (filters is None or filters.match(ev))
            )
            if not sel:
                continue
        queue = consumer.queue
        indices = range(n) if sel is None else sel
        if not consumer.wants_bytes:
            for i in indices:
                queue.put(log[i][1], None)
        elif not queue and len(indices) <= queue.maxsize:
            # it keeps up: the shared batch, written now or as one entry (that counts its
            # events: no more than the queue would take one by one)
            batch = batches.get(sel)
            if batch is None:
                batch = batches[sel] = Batch(
                    [encoding(i) for i in indices], [log[i][1] for i in indices]
                )
            direct = consumer.direct
            if direct is None or not direct(batch):
                queue.put_batch(batch)
        else:  # behind: event by event, under the queue's policy
            for i in indices:
                queue.put(log[i][1], encoding(i))
    return spent, count
