"""Blocking handles over the asyncio client's consumer buffers.

A :class:`SyncSubscription` (one stream) or :class:`SyncEventStream` (every event) wraps the
asyncio handle living on the loop thread; its events stay in that handle's bounded
:class:`~ibstream.aio.buffer.EventBuffer` (so the conflate / never-drop policy applies exactly as
for asyncio users) until a reading thread asks for them. A read then moves a batch, on the loop
thread, into the handle's small local deque, which threads read under a lock. Nothing is taken
from the asyncio buffer that is not already in the local deque, so a ``KeyboardInterrupt`` or a
timeout while waiting loses no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Generic, Protocol, Self, TypeVar

from ibstream.aio.buffer import EventBuffer
from ibstream.aio.subscription import EventStream, Subscription
from ibstream.exceptions import (
    ClientClosed,
    IBStreamError,
    InvalidState,
    StreamTimeout,
)
from ibstream.protocol.lifecycle import SubscriptionState
from ibstream.protocol.specs import Spec, StreamKey
from ibstream.sync.loop import LoopThread

__all__ = ["SyncEventStream", "SyncSubscription", "wait_all"]

#: Events moved from the asyncio buffer to the local deque per round trip.
BATCH = 512


def _drain(buffer: EventBuffer, events: list[Any], limit: int | None) -> BaseException | None:
    """Move events without waiting; return the end error met (overflow, close), if any."""
    try:
        while limit is None or len(events) < limit:
            event = buffer.get_nowait()
            if event is None:
                return None
            events.append(event)
    except Exception as exc:
        return exc
    return None


class SyncEventStream:
    """A blocking iterator over the client's events; ``close()`` ends it.

    ``for event in stream:`` blocks for the next event and ends when the stream is closed or the
    client stops; ``SlowConsumerError`` (never-drop events overflowed ``maxsize``) or the client's
    fatal error is raised after the events before it were read. ``get(timeout)`` raises
    ``StreamTimeout``.
    """

    def __init__(self, loop: LoopThread, stream: EventStream[Any]) -> None:
        self._loop = loop
        self._stream = stream  # touched on the loop thread only
        self._cond = threading.Condition(threading.Lock())
        self._local: deque[Any] = deque()
        self._end: BaseException | None = None  # raised once the local deque is empty
        self._requested = False  # a fill is scheduled or running on the loop
        self._task: asyncio.Task[None] | None = None  # loop thread only

    def __repr__(self) -> str:
        return f"<{type(self).__name__} local={len(self._local)} {self._stream.buffer!r}>"

    @property
    def conflated(self) -> int:
        """Market-data events merged into a pending one because this reader fell behind."""
        return self._stream.buffer.conflated

    # -- reading (any thread) ------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> Any:
        """The next event; blocks up to ``timeout`` seconds (``StreamTimeout``); ``get(0)``
        returns an event the client already received, as the asyncio ``get(0)`` does.

        Raises ``ClientClosed`` once closed and drained (iteration ends instead).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._local:
                    return self._local.popleft()
                if self._end is not None:
                    raise self._end
                if not self._requested:
                    self._request()
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and not remaining > 0:  # NaN too, as asyncio's
                    break
                self._cond.wait(remaining)
        # Timed out with nothing at hand: take what the loop already holds for this handle (as
        # the asyncio get(timeout) does, get(0) included) before giving up.
        with contextlib.suppress(InvalidState):  # stopped: the final drain handed all over
            self._loop.call(self._take_held)
        with self._cond:
            if self._local:
                return self._local.popleft()
            if self._end is not None:
                raise self._end
        raise StreamTimeout(f"no event within {timeout} s")

    def get_nowait(self) -> Any | None:
        """The next event if one is at hand, else ``None`` (asks the loop for more)."""
        with self._cond:
            if self._local:
                return self._local.popleft()
            if self._end is not None:
                raise self._end
            if not self._requested:
                self._request()
            return None

    def _request(self) -> None:
        """Ask the loop for a batch (lock held)."""
        try:
            self._loop.call_soon(self._start_fill)
        except InvalidState:
            self._end = ClientClosed("client stopped")
            return
        self._requested = True

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return self.get()
        except ClientClosed:
            raise StopIteration from None

    def close(self) -> None:
        """Stop reading: iteration ends once the events already at hand were read."""
        try:
            self._loop.call(self._stream.close)
        except InvalidState:
            self._finish(ClientClosed("client stopped"))

    # -- the loop side -------------------------------------------------------------------------

    def _start_fill(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._fill(), name="ibstream-sync-reader"
            )

    async def _fill(self) -> None:
        buffer = self._stream.buffer
        events: list[Any] = []
        end: BaseException | None = None
        try:
            events.append(await buffer.get())
            end = _drain(buffer, events, BATCH)
        except Exception as exc:
            end = exc
        finally:
            self._deliver(events, end)

    def _deliver(self, events: list[Any], end: BaseException | None) -> None:
        with self._cond:
            self._local.extend(events)
            if end is not None and self._end is None:
                self._end = end
            self._requested = False
            self._cond.notify_all()

    def _take_held(self) -> None:
        """On the loop: move what the asyncio buffer holds now (a pending fill stays pending)."""
        events: list[Any] = []
        end = _drain(self._stream.buffer, events, BATCH)
        with self._cond:
            self._local.extend(events)
            if end is not None and self._end is None:
                self._end = end
            self._cond.notify_all()

    def _final_drain(self) -> None:
        """On the loop, after the client stopped: hand every remaining event to the readers."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        events: list[Any] = []
        end = _drain(self._stream.buffer, events, None)
        self._deliver(events, end or ClientClosed("client stopped"))

    def _finish(self, end: BaseException) -> None:
        with self._cond:
            if self._end is None:
                self._end = end
            self._cond.notify_all()


class _Leavable(Protocol):
    """What a blocking handle waits for and leaves: an asyncio handle on one stream."""

    key: StreamKey

    async def ready(self, timeout: float | None = None) -> None: ...

    async def unsubscribe(self) -> None: ...


H = TypeVar("H", bound=_Leavable)


class StreamHandle(SyncEventStream, Generic[H]):
    """A blocking handle on one stream (the asyncio ``handle`` of type ``H``): what waiting for
    it and leaving it take; the local client's :class:`SyncSubscription` and the bus consumer's
    ``RemoteSubscription`` (:mod:`ibstream.sync.remote`) document their ``wait`` and
    ``unsubscribe`` over these."""

    def __init__(self, loop: LoopThread, handle: H, stream: EventStream[Any]) -> None:
        super().__init__(loop, stream)
        self._handle = handle
        self.key: StreamKey = handle.key

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream is followed: ``True``; ``False`` when ``timeout`` passed, the
        stream failed, or the handle was closed (the client stopped, or ``unsubscribe``)."""
        try:
            self._loop.run(self._handle.ready(timeout))
        except (IBStreamError, TimeoutError):
            return False
        return True

    def unsubscribe(self) -> None:
        """Leave the stream (idempotent; a no-op once the client stopped)."""
        try:
            self._loop.run(self._handle.unsubscribe())
        except InvalidState:
            self._finish(ClientClosed(f"{self.key}: client stopped"))

    def close(self) -> None:
        self.unsubscribe()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


class SyncSubscription(StreamHandle[Subscription[Any]]):
    """A blocking handle on one stream: ``wait()``, ``status``, iteration, ``unsubscribe()``.

    ``status`` and ``reason`` are read straight from the asyncio handle (single attribute reads,
    safe from any thread). Leaving a ``with`` block unsubscribes; the upstream stream ends when
    its last consumer leaves.
    """

    def __init__(self, loop: LoopThread, handle: Subscription[Any]) -> None:
        super().__init__(loop, handle, handle)
        self.spec: Spec = handle.spec

    def __repr__(self) -> str:
        return f"<SyncSubscription {self.key} {self.status.name} local={len(self._local)}>"

    @property
    def status(self) -> SubscriptionState:
        """Where the stream stands (``PENDING``, ``SUBSCRIBING``, ``ACTIVE``, ``FAILED``...)."""
        return self._handle.state

    @property
    def reason(self) -> str:
        """Why the status last changed."""
        return self._handle.reason

    @property
    def active(self) -> bool:
        return self._handle.state is SubscriptionState.ACTIVE

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the gateway confirmed the stream: ``True``; ``False`` when ``timeout``
        passed, the stream failed or was rejected (see ``status``/``reason``), or the client
        stopped."""
        return super().wait(timeout)

    def unsubscribe(self) -> None:
        """Leave the stream (idempotent; a no-op once the client stopped)."""
        super().unsubscribe()


async def _ready_all(handles: list[Subscription[Any]], timeout: float | None) -> list[int]:
    async def one(handle: Subscription[Any]) -> None:
        await handle.ready(timeout)

    results = await asyncio.gather(*(one(h) for h in handles), return_exceptions=True)
    return [i for i, r in enumerate(results) if isinstance(r, BaseException)]


def wait_all(
    handles: Iterable[SyncSubscription], timeout: float | None = None
) -> list[SyncSubscription]:
    """Wait for every handle to be confirmed (at most ``timeout`` seconds in total); return the
    handles that are not (timed out, failed, rejected, client stopped). Empty means all good."""
    pending = list(handles)
    failed: list[SyncSubscription] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    by_loop: dict[int, list[SyncSubscription]] = {}
    for handle in pending:
        by_loop.setdefault(id(handle._loop), []).append(handle)
    for group in by_loop.values():
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            bad = group[0]._loop.run(_ready_all([h._handle for h in group], remaining))
        except InvalidState:
            bad = list(range(len(group)))
        failed.extend(group[i] for i in bad)
    return [h for h in pending if h in failed]
