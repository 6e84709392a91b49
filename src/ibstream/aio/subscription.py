"""Consumer handles: a subscription (one stream) and an event stream (everything).

Both are typed async iterators over a bounded :class:`~ibstream.aio.buffer.EventBuffer`:
``events()`` gives an ``EventStream[ClientEvent]`` and ``subscribe(MarketDataSpec(...))`` a
``Subscription[MarketData | StreamLifecycle]``, so ``async for ev in sub`` is checked by
``mypy --strict``. A ``Subscription`` is also an async context manager: leaving it unsubscribes
(the upstream stream ends only when its last consumer leaves; the router reference-counts
consumers per stream). Handles know their owner only through the small :class:`HandleOwner`
interface, so this module imports neither the router nor the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from ibstream.aio.buffer import EventBuffer
from ibstream.exceptions import (
    ClientClosed,
    StreamTimeout,
    SubscriptionRejected,
    SubscriptionTimeout,
)
from ibstream.protocol.events import Event
from ibstream.protocol.lifecycle import (
    ApplyFailed,
    Gap,
    LifecycleEvent,
    SubscriptionStateChanged,
)
from ibstream.protocol.specs import Spec, StreamKey
from ibstream.protocol.subscriptions import SubscriptionState

__all__ = ["ClientEvent", "EventStream", "HandleOwner", "StreamLifecycle", "Subscription"]

ClientEvent: TypeAlias = Event | LifecycleEvent
"""Anything the client delivers: decoder events and lifecycle events (``events()``, ``on``)."""

StreamLifecycle: TypeAlias = SubscriptionStateChanged | Gap | ApplyFailed
"""The lifecycle events a subscription gets besides its data events."""

E_co = TypeVar("E_co", covariant=True)


class HandleOwner(Protocol):
    """What a subscription handle needs from whoever reference-counts it (the router)."""

    def release(self, handle: Subscription[Any]) -> None:
        """Drop ``handle``'s reference on its stream (idempotent)."""
        ...


class EventStream(Generic[E_co]):
    """An async iterator over a bounded buffer of events; ``close()`` ends the iteration."""

    def __init__(
        self,
        buffer: EventBuffer,
        on_close: Callable[[EventStream[Any]], object] | None = None,
    ) -> None:
        self._buffer = buffer
        self._on_close = on_close

    def __repr__(self) -> str:
        return f"<EventStream {self._buffer!r}>"

    @property
    def buffer(self) -> EventBuffer:
        return self._buffer

    @property
    def conflated(self) -> int:
        """Market-data events merged into a pending one because this consumer fell behind."""
        return self._buffer.conflated

    def __aiter__(self) -> EventStream[E_co]:
        return self

    async def __anext__(self) -> E_co:
        buffer = self._buffer
        try:
            event: E_co = buffer.get_nowait()  # fast path: no coroutine, no future if buffered
            if event is not None:
                return event
            event = await buffer.get()
            return event
        except ClientClosed:
            raise StopAsyncIteration from None

    async def get(self, timeout: float | None = None) -> E_co:
        """The next event; raises ``StreamTimeout`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                event: E_co = await self._buffer.get()
                return event
        except TimeoutError as exc:
            raise StreamTimeout(f"no event within {timeout} s") from exc

    def get_nowait(self) -> E_co | None:
        """The next event, or ``None`` when none is buffered."""
        event: E_co | None = self._buffer.get_nowait()
        return event

    def close(self) -> None:
        if not self._buffer.closed:
            self._buffer.close()
            if self._on_close is not None:
                self._on_close(self)


class Subscription(EventStream[E_co]):
    """A handle on one upstream stream: iterate its events, ``await ready()``, leave to
    unsubscribe.

    Events: the stream's data events (``MarketData`` for market data, ``OrderUpdate`` for orders,
    ...), plus ``Gap`` when the stream was interrupted and restored, and
    ``SubscriptionStateChanged`` for its own state changes.
    """

    def __init__(self, owner: HandleOwner, spec: Spec, buffer: EventBuffer) -> None:
        super().__init__(buffer)
        self._owner = owner
        self.spec: Spec = spec
        self.key: StreamKey = spec.key
        self.state: SubscriptionState = SubscriptionState.PENDING
        self.reason: str = ""
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._left = False

    def __repr__(self) -> str:
        return f"<Subscription {self.key} {self.state.name} buffered={len(self._buffer)}>"

    # -- state, driven by the router ----------------------------------------------------

    def _set_state(self, state: SubscriptionState, reason: str) -> None:
        self.state = state
        self.reason = reason
        if state is SubscriptionState.ACTIVE:
            if not self._ready.done():
                self._ready.set_result(None)
        elif state is SubscriptionState.FAILED:
            self._fail(SubscriptionTimeout(f"{self.key}: {reason or 'no confirmation'}"))
        elif state is SubscriptionState.REJECTED:
            self._fail(SubscriptionRejected(f"{self.key}: {reason or 'rejected by the gateway'}"))

    def _fail(self, exc: BaseException) -> None:
        if not self._ready.done():
            self._ready.set_exception(exc)
            # The exception is also reported through ready(); do not warn if nobody awaits it.
            self._ready.exception()

    def _closed_by_client(self, exc: BaseException | None) -> None:
        self._fail(exc or ClientClosed(f"{self.key}: client stopped"))
        self._buffer.close(exc)

    # -- user API -------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.state is SubscriptionState.ACTIVE

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the gateway confirmed the stream (protocol.md §4.0).

        Raises ``SubscriptionTimeout`` (no confirmation after every retry),
        ``SubscriptionRejected``, ``ClientClosed`` or ``StreamTimeout`` (``timeout`` passed).
        """
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._ready)
        except TimeoutError as exc:
            raise StreamTimeout(f"{self.key}: not confirmed within {timeout} s") from exc

    async def unsubscribe(self) -> None:
        """Leave the stream; the upstream unsubscribe happens when the last consumer leaves."""
        self.close()
        await asyncio.sleep(0)  # let the driver's timer flush the unsubscribe

    def close(self) -> None:
        """Synchronous leave (the upstream unsubscribe is sent by the driver's timer task)."""
        if not self._left:
            self._left = True
            self._owner.release(self)
            self._buffer.close()
            self._fail(ClientClosed(f"{self.key}: unsubscribed"))

    async def __aenter__(self) -> Subscription[E_co]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.unsubscribe()
