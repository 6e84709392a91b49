"""The asyncio driver of :class:`~ibstream.protocol.pacing.Pacer`: queue, sleep, release.

``RateLimiter.slot(method, path)`` is an async context manager wrapped around every REST call by
:meth:`ibstream.aio.rest.GatewayRest.request`. Requests that may not go yet wait in line per
endpoint (FIFO, an ``asyncio.Lock`` per limit) sleeping exactly until the pacer says they may go,
or until a concurrency slot is released: never a busy loop, never a drop. After a 429 the caller
reports it with :meth:`throttled`, which blocks the limit with exponential backoff (or a wait
the caller passes, such as a ``Retry-After``) before the retry; the backoff doubles per round
of refusals, not per refused response of one concurrent burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ibstream.protocol.pacing import DEFAULT_LIMITS, GLOBAL, Grant, Limit, Pacer

__all__ = ["RateLimiter"]


class RateLimiter:
    """Paces the REST calls of one gateway session (see :mod:`ibstream.protocol.pacing`).

    ``limits``/``global_limit`` default to IBKR's documented table; ``max_retries`` is how many
    times a 429 is retried (after backoff) before ``RateLimited`` is raised; backoff starts at
    ``backoff`` seconds and doubles per consecutive 429 of a limit up to ``max_backoff``.
    """

    def __init__(
        self,
        limits: tuple[Limit, ...] = DEFAULT_LIMITS,
        *,
        global_limit: Limit | None = GLOBAL,
        margin: float = 0.05,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacer = Pacer(limits, global_limit=global_limit, margin=margin)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}  # callers in line per limit
        self._released: asyncio.Event | None = None
        self._queued = 0
        self._queued_max = 0
        self._wait_total = 0.0
        self._streak: dict[str, int] = {}

    @classmethod
    def unlimited(cls) -> RateLimiter:
        """A limiter that never waits (for tests and gateways without limits)."""
        return cls((), global_limit=None)

    def __repr__(self) -> str:
        return f"<RateLimiter queued={self._queued}>"

    def _event(self) -> asyncio.Event:
        if self._released is None:
            self._released = asyncio.Event()
        return self._released

    @contextlib.asynccontextmanager
    async def slot(self, method: str, path: str) -> AsyncIterator[None]:
        """Wait until ``METHOD path`` may be sent, hold the slot while it runs."""
        key = self.pacer.limit_for(method, path) or "global"
        # behind callers already in line (a loop re-entering at once would overtake them)
        grant = (
            None if self._waiting.get(key) else self.pacer.try_acquire(method, path, self._clock())
        )
        if not isinstance(grant, Grant):
            grant = await self._wait(method, path)
        try:
            yield
        finally:
            self.pacer.release(grant, self._clock())
            if self._released is not None:
                self._released.set()

    async def _wait(self, method: str, path: str) -> Grant:
        key = self.pacer.limit_for(method, path) or "global"
        lock = self._locks.setdefault(key, asyncio.Lock())
        self.pacer.note_wait(method, path)
        self._queued += 1
        self._queued_max = max(self._queued_max, self._queued)
        self._waiting[key] = self._waiting.get(key, 0) + 1
        started = self._clock()
        try:
            async with lock:  # FIFO per endpoint limit
                while True:
                    grant = self.pacer.try_acquire(method, path, self._clock())
                    if isinstance(grant, Grant):
                        return grant
                    event = self._event()
                    event.clear()
                    if grant is None:  # a concurrency slot: wait for a release
                        await event.wait()
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(event.wait(), grant)
        finally:
            self._queued -= 1
            self._waiting[key] -= 1
            self._wait_total += self._clock() - started

    def throttled(self, method: str, path: str, retry_after: float | None) -> float:
        """A 429 came back for ``METHOD path``: block its limit; return the backoff applied.

        The backoff doubles per *round* of refusals: a 429 answered while the limit is already
        blocked was sent before that block began (nothing is granted during one), so it is
        part of the same round and leaves the block as it is.
        """
        key = self.pacer.limit_for(method, path) or "global"
        now = self._clock()
        delay = retry_after if retry_after is not None and retry_after > 0 else None
        if delay is None and (left := self.pacer.blocked_for(method, path, now)) > 0:
            self.pacer.penalize(method, path, now, 0.0)  # counted, the block unchanged
            return left
        streak = self._streak.get(key, 0)
        if delay is None:
            delay = min(self.max_backoff, self.backoff * (2**streak))
        self._streak[key] = streak + 1
        self.pacer.penalize(method, path, now, delay)
        return delay

    def succeeded(self, method: str, path: str) -> None:
        """A non-429 answer: the backoff of that limit starts over."""
        if self._streak:
            self._streak.pop(self.pacer.limit_for(method, path) or "global", None)

    def metrics(self) -> dict[str, Any]:
        """``{"queued": n, "queued_max": n, "wait_s_total": s, "limits": {...}}``."""
        return {
            "queued": self._queued,
            "queued_max": self._queued_max,
            "wait_s_total": round(self._wait_total, 3),
            "limits": self.pacer.metrics(self._clock()),
        }
