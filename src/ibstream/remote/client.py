"""``ibstream.remote``: the local client's consuming API, backed by the bus instead of a socket.

::

    async with ibstream.remote.connect("nats://bus:4222") as client:      # or redis://...
        async with client.subscribe(ibstream.MarketDataSpec(265598)) as aapl:
            async for event in aapl:          # MarketData (the state first), then Gap, ...
                print(client.ticker(265598).last)

What matches ``ibstream.connect``: ``subscribe(spec)`` gives an async iterator and async context
manager (``ready()``, ``unsubscribe()``) of the same typed events, ``events()`` every event,
``on(type, callback)``, ``ticker()``/``tickers``/``orders``/``trades``/``account`` the same
live-state classes, fed by what the subscriptions receive, and ``positions`` the same reading API
as ``client.positions`` (``await client.positions.start()``, then ``get``/``quantity``/
``on_change``...; see :mod:`ibstream.remote.positions`). What the bus adds:

* **late join**: a subscription first reads the stream's live state (one event per entity: the
  merged ticker, each order, each P&L row...) and then follows the stream from the state's
  watermark, skipping what each entity already holds: no hole, no duplicate;
* **resume**: ``sub.position`` is where the consumer is (the last event it *read*, not the last
  one buffered); ``subscribe(spec, after=position)`` after a restart goes on from there (no
  state read). When the bus no longer keeps the messages
  right after that position (retention), the subscription starts with a ``Gap`` whose ``start``
  is ``0.0`` (unknown);
* **demand**: while a subscription is open the client renews a demand lease on it, so the
  leader bridge holds the upstream stream; when the client dies the lease expires;
* **failover**: messages of a deposed bridge (an older fencing token) are dropped
  (``metrics()["stale_rejected"]``); when a new leader takes over, each subscription receives a
  ``Gap`` from the last event of the old leader to the first of the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from ibstream.aio.buffer import EventBuffer
from ibstream.aio.cancel import cancel_and_wait
from ibstream.aio.subscription import ClientEvent, EventStream
from ibstream.exceptions import ClientClosed, IBStreamError, InvalidState, StreamTimeout
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    MarketData,
    OrderUpdate,
    Pnl,
    Trade,
)
from ibstream.protocol.lifecycle import Gap
from ibstream.protocol.specs import Spec, StreamKey
from ibstream.remote.bus import Bus
from ibstream.remote.codec import event_from_dict, event_from_json
from ibstream.remote.cursor import ReadCursor
from ibstream.remote.factory import open_bus
from ibstream.remote.positions import RemotePositions
from ibstream.remote.wire import (
    POSITIONS_KEY,
    FenceGuard,
    Position,
    PositionUpdate,
    StateEntry,
    entity_of,
    parse_position,
    spec_to_json,
)
from ibstream.state import AccountState, OrderBook, Ticker, Tickers, TradeBook
from ibstream.state.live import book_metrics

__all__ = ["RemoteClient", "RemoteSubscription", "connect"]

log = logging.getLogger("ibstream.remote")


def connect(
    url: str,
    *,
    prefix: str = "ibs",
    demand_ttl: float = 10.0,
    buffer_size: int = 10_000,
) -> RemoteClient:
    """A client of the bridge publishing to ``url`` (``nats://...`` or ``redis://...``)."""
    return RemoteClient(
        open_bus(url, prefix=prefix), demand_ttl=demand_ttl, buffer_size=buffer_size
    )


class RemoteSubscription(EventStream[ClientEvent]):
    """One stream read from the bus: iterate its events, ``await ready()``, leave to release."""

    def __init__(
        self,
        client: RemoteClient,
        spec: Spec | None,
        buffer: EventBuffer,
        after: Position | None,
        *,
        key: StreamKey | None = None,
    ) -> None:
        super().__init__(buffer)
        self._client = client
        # ``spec`` is what demand leases ask the bridge for; a stream the bridge publishes
        # whatever the demand (positions) has none, only a ``key``
        self.spec: Spec | None = spec
        if key is None:
            assert spec is not None, "a spec or a key"
            key = spec.key
        self.key: StreamKey = key
        # feed-only: events update the client's live state and callbacks, nothing is buffered
        self.feed_only = False
        # the position of the last event the consumer read (``position``) and of the last
        # message received from the bus (where a retried read goes on from)
        self._cursor = ReadCursor(after, cap=2 * buffer.maxsize + 1024)
        self._read_pos = after
        self._after = after
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self._left = False
        self.skipped = 0  # stream events already held by the state read first

    def __repr__(self) -> str:
        return f"<RemoteSubscription {self.key} position={self.position}>"

    @property
    def position(self) -> Position | None:
        """The bus position of the last event read from this subscription (state events and
        local gaps have none): store it, and ``subscribe(spec, after=position)`` after a
        restart goes on with the next event. Events received but not yet read do not count."""
        return self._cursor.position

    async def __anext__(self) -> ClientEvent:
        event = await super().__anext__()
        self._cursor.read(event)
        return event

    async def get(self, timeout: float | None = None) -> ClientEvent:
        event = await super().get(timeout)
        self._cursor.read(event)
        return event

    def get_nowait(self) -> ClientEvent | None:
        event = super().get_nowait()
        if event is not None:
            self._cursor.read(event)
        return event

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the state is read and the stream is being followed."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._ready)
        except TimeoutError as exc:
            raise StreamTimeout(f"{self.key}: not following within {timeout} s") from exc

    async def unsubscribe(self) -> None:
        self.close()
        if self._task is not None:
            await cancel_and_wait([self._task])

    def close(self) -> None:
        if self._left:
            return
        self._left = True
        self._client._release(self)
        if self._task is not None:
            self._task.cancel()
        self._buffer.close()
        if not self._ready.done():
            self._ready.set_exception(ClientClosed(f"{self.key}: unsubscribed"))
            self._ready.exception()

    async def __aenter__(self) -> RemoteSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.unsubscribe()


class RemoteClient:
    """See the module docstring. Use ``async with ibstream.remote.connect(url) as client:``."""

    def __init__(self, bus: Bus, *, demand_ttl: float = 10.0, buffer_size: int = 10_000) -> None:
        self.bus = bus
        self.demand_ttl = demand_ttl
        self.buffer_size = buffer_size
        self.consumer_id = uuid.uuid4().hex[:16]
        self.fence = FenceGuard()
        self.tickers = Tickers()
        self.orders = OrderBook()
        self.trades = TradeBook()
        self.account = AccountState()
        self.positions = RemotePositions(self._follow_positions, self._positions_state)
        self._subs: list[RemoteSubscription] = []
        self._callbacks: dict[type | None, list[Callable[[Any], object]]] = {}
        self._streams: list[EventBuffer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._counts: dict[str, int] = {
            "delivered": 0,
            "gaps_failover": 0,
            "gaps_retention": 0,
            "read_retries": 0,
            "callback_errors": 0,
        }

    def __repr__(self) -> str:
        return f"<RemoteClient {self.bus!r} subscriptions={len(self._subs)}>"

    async def start(self) -> None:
        await self.bus.start()
        self._running = True
        self._tasks.append(asyncio.create_task(self._demand_loop(), name="remote-demand"))

    async def stop(self) -> None:
        self._running = False
        self.positions.stop()
        for sub in list(self._subs):
            sub.close()
        for buf in self._streams:
            buf.close()
        self._streams.clear()
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        await self.bus.close()

    async def __aenter__(self) -> RemoteClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _check_running(self) -> None:
        if not self._running:
            raise InvalidState("remote client is not running: use 'async with connect(...)'")

    # -- consumer API ---------------------------------------------------------------------

    def subscribe(
        self, spec: Spec, *, after: Position | str | None = None, maxsize: int | None = None
    ) -> RemoteSubscription:
        """Follow one stream: its live state first (unless ``after`` resumes), then its events."""
        self._check_running()
        start = parse_position(after) if isinstance(after, str) else after
        buf = EventBuffer(maxsize or self.buffer_size, name=str(spec.key))
        sub = RemoteSubscription(self, spec, buf, start)
        self._subs.append(sub)
        sub._task = asyncio.create_task(self._follow(sub), name=f"remote-{spec.key}")
        self._tasks.append(sub._task)
        self._tasks.append(asyncio.create_task(self._send_demand([spec], self.demand_ttl)))
        return sub

    def _follow_positions(self) -> RemoteSubscription:
        """The feed-only subscription behind ``positions.start()`` (no demand lease: the
        bridge publishes positions whatever the demand)."""
        self._check_running()
        sub = RemoteSubscription(
            self, None, EventBuffer(1, name="positions"), None, key=POSITIONS_KEY
        )
        sub.feed_only = True
        self._subs.append(sub)
        sub._task = asyncio.create_task(self._follow(sub), name="remote-positions")
        self._tasks.append(sub._task)
        return sub

    async def _positions_state(self) -> list[tuple[Position, Any]]:
        """``(position, update)`` of every entity of the positions state on the bus."""
        self._check_running()
        _, entries = await self._read_state_raw(POSITIONS_KEY)
        return [(at, ev) for at, _, ev in entries]

    def events(self, *, maxsize: int | None = None) -> EventStream[ClientEvent]:
        """Every event the bridge publishes from now on (all streams, lifecycle, gaps)."""
        self._check_running()
        buf = EventBuffer(maxsize or self.buffer_size, name="events")
        first = not self._streams
        self._streams.append(buf)
        if first:
            self._tasks.append(asyncio.create_task(self._events_loop(), name="remote-events"))
        return EventStream(buf, on_close=lambda s: self._drop_stream(s.buffer))

    def on(self, event_type: type | None, callback: Callable[[Any], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``event_type`` (``None``: every event) that
        a subscription of this client receives (state events included), on the event loop.
        A callback that raises is logged and counted; returns a function that removes it."""
        self._callbacks.setdefault(event_type, []).append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks[event_type].remove(callback)

        return remove

    def ticker(self, conid: int) -> Ticker:
        """The live ``Ticker`` of ``conid`` (fed by a market-data subscription)."""
        return self.tickers.get_or_create(conid)

    def metrics(self) -> dict[str, Any]:
        return {
            **self._counts,
            "stale_rejected": self.fence.rejected,
            "fence": self.fence.current,
            "subscriptions": [str(s.key) for s in self._subs],
            "skipped": sum(s.skipped for s in self._subs),
            **book_metrics(self.orders, self.trades),  # "orders" / "trades": kept, evicted
        }

    # -- internals ------------------------------------------------------------------------

    def _drop_stream(self, buf: EventBuffer) -> None:
        with contextlib.suppress(ValueError):
            self._streams.remove(buf)

    def _release(self, sub: RemoteSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)
        if sub.spec is None:
            return
        if self._running and not any(s.key == sub.key for s in self._subs):
            self._tasks.append(asyncio.create_task(self._send_demand([sub.spec], 0.0)))

    def _deliver(
        self,
        sub: RemoteSubscription,
        ev: Any,
        position: Position | None = None,
        *,
        state_at: Position | None = None,
    ) -> None:
        """Live state first, then the subscription's buffer, then callbacks (as the local
        client does). ``state_at``: the position a state entity reflects (it has none of its
        own in the stream)."""
        self._apply(ev, position or state_at)
        if not sub.feed_only:
            sub._cursor.received(ev, position)
            sub._buffer.put(ev)
        self._counts["delivered"] += 1
        if self._callbacks:
            cls = ev.__class__
            for fn in (*self._callbacks.get(cls, ()), *self._callbacks.get(None, ())):
                try:
                    fn(ev)
                except Exception:
                    self._counts["callback_errors"] += 1
                    log.exception("callback %r failed on %s", fn, cls.__name__)

    def _apply(self, ev: Any, at: Position | None) -> None:
        cls = ev.__class__
        if cls is MarketData:
            self.tickers.get_or_create(ev.conid).merge(ev)
        elif cls is OrderUpdate:
            self.orders.apply(ev)
        elif cls is Trade:
            self.trades.apply(ev)
        elif cls is Pnl or cls is AccountSummary or cls is AccountLedger:
            self.account.apply(ev)
        elif cls is PositionUpdate:
            self.positions.apply(ev, at)

    async def _read_state_raw(
        self, key: StreamKey
    ) -> tuple[Position | None, list[tuple[Position, str, Any]]]:
        watermark, raw = await self.bus.state(key)
        out: list[tuple[Position, str, Any]] = []
        for entity, data in raw.items():
            try:
                entry = StateEntry.from_json(data)
            except IBStreamError as exc:
                log.warning("bad state entry %s/%s: %s", key, entity, exc)
                continue
            ev = event_from_dict(entry.event)
            if getattr(ev, "key", None) != key:
                continue
            self.fence.admit(entry.fence)
            out.append((entry.position, entity, ev))
        return watermark, out

    async def _read_state(
        self, sub: RemoteSubscription
    ) -> tuple[Position | None, dict[str, Position]]:
        watermark, entries = await self._read_state_raw(sub.key)
        held: dict[str, Position] = {}
        for at, entity, ev in entries:
            held[entity] = at
            self._deliver(sub, ev, state_at=at)
        return watermark, held

    async def _follow(self, sub: RemoteSubscription) -> None:
        """State (unless resuming), then the stream; bus errors are retried from the position
        reached, so a retry neither skips nor repeats an event."""
        delay = 0.1
        held: dict[str, Position] = {}
        start = sub._after
        resumed = start is not None
        state_read = False
        gap_checked = False
        last_fence: int | None = None
        last_ms = 0
        while True:
            try:
                if not resumed and not state_read:
                    start, held = await self._read_state(sub)
                    state_read = True
                elif resumed and not gap_checked and start is not None:
                    first = await self.bus.first_position(sub.key)
                    gap_checked = True
                    if first is not None and first > start:
                        # the bus no longer keeps every message after the resume position
                        self._counts["gaps_retention"] += 1
                        self._deliver(sub, Gap(key=sub.key, start=0.0, end=time.time()))
                if not sub._ready.done():
                    sub._ready.set_result(None)
                async for msg in self.bus.read(sub.key, sub._read_pos or start):
                    delay = 0.1
                    sub._read_pos = msg.position
                    if not self.fence.admit(msg.fence):
                        sub._cursor.passed(msg.position)
                        continue
                    ev = event_from_json(msg.body)
                    entity = entity_of(ev)
                    if entity is not None and entity in held and msg.position <= held[entity]:
                        sub.skipped += 1
                        sub._cursor.passed(msg.position)
                        continue
                    if last_fence is not None and msg.fence > last_fence:
                        self._counts["gaps_failover"] += 1
                        gap = Gap(key=sub.key, start=last_ms / 1000, end=time.time())
                        self._deliver(sub, gap)
                    last_fence = msg.fence
                    last_ms = msg.sent_ms
                    self._deliver(sub, ev, msg.position)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus is unreachable or busy: retry from the position
                self._counts["read_retries"] += 1
                log.warning("reading %s failed (%s): retrying in %.1f s", sub.key, exc, delay)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    async def _events_loop(self) -> None:
        while True:
            try:
                async for msg in self.bus.read(None, None):
                    if not self.fence.admit(msg.fence):
                        continue
                    ev = event_from_json(msg.body)
                    for buf in self._streams:
                        buf.put(ev)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # events() is "from now on": go on from now
                self._counts["read_retries"] += 1
                log.warning("reading every event failed (%s): retrying", exc)
                await asyncio.sleep(0.5)

    async def _send_demand(self, specs: list[Spec], ttl: float) -> None:
        if not specs:
            return
        payload = orjson.dumps(
            {"consumer": self.consumer_id, "ttl": ttl, "specs": [spec_to_json(s) for s in specs]}
        )
        try:
            await self.bus.send_demand(payload)
        except Exception as exc:
            log.warning("demand lease not sent: %s", exc)

    async def _demand_loop(self) -> None:
        while True:
            await asyncio.sleep(self.demand_ttl / 3)
            specs = list({s.key: s.spec for s in self._subs if s.spec is not None}.values())
            await self._send_demand(specs, self.demand_ttl)
