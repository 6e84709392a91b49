"""The one queue policy of every consumer: bounded, conflating, never silently dropping.

:class:`ConflatingQueue` is pure (no asyncio, no threads, no clock). ``put`` never blocks (the
socket reader must never wait for a slow consumer); what happens when the queue is full depends
on the event:

* market data (``MarketData``) and price ladders **conflate**: the new event is merged into the
  pending one for the same instrument, so the consumer sees the latest state per field and no
  field value is lost; merges are counted in ``conflated``. Growth past ``maxsize`` is bounded by
  the number of distinct instruments;
* everything else (orders, trades, P&L, account, lifecycle, gaps) is **never dropped**: the queue
  stops accepting, delivers what it holds, then raises ``SlowConsumerError`` to the reader.

Entries are two-slot lists ``[event, payload]`` (a pending market-data entry is replaced in
place). A **control** entry (a reply or a notice with no event, queued with
:meth:`ConflatingQueue.put_control`) has :data:`CONTROL` as its event, so "empty" (``None`` from
:meth:`~ConflatingQueue.pop_entry`) and "a control entry" can never be confused; event readers
(:meth:`~ConflatingQueue.get_nowait`) skip control entries.

The adapters only add waiting: :class:`ibstream.aio.buffer.EventBuffer` (asyncio futures),
:class:`ibstream.sinks.buffer.ThreadSafeBuffer` (a lock and a condition) and
:class:`ibstream.service.queue.ConsumerQueue` (asyncio plus shared JSON encodings).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ibstream.exceptions import ClientClosed, SlowConsumerError
from ibstream.protocol.events import MarketData, PriceLadder

__all__ = ["CONTROL", "ConflatingQueue", "merge_market_data"]


class _Control:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CONTROL"


#: The event slot of a control entry (never a real event, never ``None``).
CONTROL: Final = _Control()


def merge_market_data(old: MarketData, new: MarketData) -> MarketData:
    """One event carrying the state of both: fields of ``new`` win, fields only in ``old`` stay."""
    values = dict(old.values)
    values.update(new.values)
    raw = dict(old.raw)
    raw.update(new.raw)
    return new._replace(values=values, raw=raw)


class ConflatingQueue:
    """A bounded FIFO of ``[event, payload]`` entries with the policy above.

    ``on_overflow`` is called once when a never-drop event finds the queue full. Subclasses that
    wait for entries set ``_waiting`` while someone waits and get :meth:`_notify` calls.
    """

    __slots__ = (
        "_closed",
        "_entries",
        "_error",
        "_indexed",
        "_pending",
        "_waiting",
        "conflated",
        "delivered",
        "maxsize",
        "name",
        "on_overflow",
        "overflow_reason",
        "overflowed",
    )

    def __init__(
        self,
        maxsize: int = 10_000,
        *,
        name: str = "events",
        on_overflow: Callable[[], object] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.name = name
        self.on_overflow = on_overflow
        self._entries: deque[list[Any]] = deque()
        # conid / (account, conid) -> the newest pending entry for it (for conflation). Kept
        # only from the moment the queue first fills until it drains empty (``_indexed``):
        # a consumer that keeps up never pays for it, and building it from the queued entries
        # when the queue fills gives the same map as keeping it all along.
        self._pending: dict[Any, list[Any]] = {}
        self._indexed = False
        self._waiting = False
        self._closed = False
        self._error: BaseException | None = None
        self.conflated = 0
        self.delivered = 0
        self.overflowed = False
        self.overflow_reason = ""

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} {len(self._entries)}/{self.maxsize} "
            f"conflated={self.conflated}{' OVERFLOWED' if self.overflowed else ''}>"
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- hooks of the adapters ----------------------------------------------------------------

    def _notify(self) -> None:
        """An entry was queued while ``_waiting`` (wake one reader)."""

    def _notify_all(self) -> None:
        """The queue ended (overflow or close): wake every reader."""

    # -- writing ------------------------------------------------------------------------------

    def put(self, event: Any, payload: Any = None) -> None:
        """Add an event (and its payload); never blocks, never raises."""
        if self._closed or self.overflowed:
            return
        entries = self._entries
        if len(entries) >= self.maxsize:
            self._put_full(event, payload)
            return
        entry = [event, payload]
        entries.append(entry)
        if self._indexed:
            ckey = _conflation_key(event)
            if ckey is not None:
                self._pending[ckey] = entry
        if self._waiting:
            self._notify()

    def _put_full(self, event: Any, payload: Any) -> None:
        """``put`` on a full queue: conflate into the pending entry, queue past ``maxsize`` (a
        market-data event of an instrument with none pending) or overflow (never-drop events)."""
        ckey = _conflation_key(event)
        if ckey is None:
            self._overflow(event.__class__.__name__)
            return
        pending = self._pending
        if not self._indexed:
            for queued in self._entries:
                key = _conflation_key(queued[0])
                if key is not None:
                    pending[key] = queued
            self._indexed = True
        entry = pending.get(ckey)
        if entry is not None:
            if event.__class__ is MarketData:
                entry[0] = merge_market_data(entry[0], event)
                entry[1] = None  # the merged event needs a new encoding
            else:
                entry[0], entry[1] = event, payload
            self.conflated += 1
            return
        entry = [event, payload]
        self._entries.append(entry)
        pending[ckey] = entry
        if self._waiting:
            self._notify()

    def put_control(self, payload: Any) -> None:
        """Queue a payload with no event (a reply, a notice): never conflated, and accepted even
        when full (a consumer must hear why it is being cut off)."""
        if self._closed or self.overflowed:
            return
        self._entries.append([CONTROL, payload])
        if self._waiting:
            self._notify()

    def _overflow(self, kind: str) -> None:
        self.overflowed = True
        self.overflow_reason = (
            f"slow consumer: {self.maxsize} events queued, {kind} events are never dropped"
        )
        self._error = SlowConsumerError(self.name, self.maxsize)
        self._notify_all()
        if self.on_overflow is not None:
            self.on_overflow()

    def close(self, error: BaseException | None = None) -> None:
        """No more entries: readers drain what is queued, then get ``error`` (or
        ``ClientClosed``)."""
        if self._closed:
            return
        self._closed = True
        if error is not None and self._error is None:
            self._error = error
        self._notify_all()

    # -- reading ------------------------------------------------------------------------------

    def pop_entry(self) -> list[Any] | None:
        """The next ``[event, payload]`` entry (``event`` is :data:`CONTROL` for a control
        entry), or ``None`` when the queue is empty. Raises nothing."""
        entries = self._entries
        if not entries:
            return None
        entry = entries.popleft()
        self.delivered += 1
        if self._indexed:
            if entries:
                ckey = _conflation_key(entry[0])
                if ckey is not None and self._pending.get(ckey) is entry:
                    del self._pending[ckey]
            else:  # drained: no conflation index until the queue fills again
                self._pending.clear()
                self._indexed = False
        return entry

    def raise_if_done(self) -> None:
        """Raise the overflow or close error (call when drained)."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ClientClosed(f"{self.name}: closed")

    def get_nowait(self) -> Any:
        """The next event (control entries skipped), or ``None`` when empty. Raises the
        overflow/close error once drained."""
        entries = self._entries
        while True:
            if not entries:
                self.raise_if_done()
                return None
            if self._indexed:
                entry = self.pop_entry()
                assert entry is not None
                event = entry[0]
            else:  # the common case, inlined: no conflation index to keep
                event = entries.popleft()[0]
                self.delivered += 1
            if event is not CONTROL:
                return event


def _conflation_key(event: Any) -> Any:
    """What a pending event conflates by: the conid of market data, (account, conid) of a
    price ladder; ``None`` for every other event (never conflated)."""
    cls = event.__class__
    if cls is MarketData:
        return event.conid
    if cls is PriceLadder:
        return (event.account, event.conid)
    return None
