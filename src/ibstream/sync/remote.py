"""``ibstream.sync.remote``: the threaded API of :mod:`ibstream.remote` (a bridged session).

The asyncio :class:`~ibstream.remote.client.RemoteClient` runs on one private loop thread
(:class:`~ibstream.sync.loop.LoopThread`), exactly as ``ibstream.Client`` runs the local
client; every method forwards to it and blocks for the answer, so both APIs read the bus with
one implementation (state first, resume, demand leases, fencing, failover ``Gap``)::

    from ibstream.sync.remote import connect

    with connect("nats://bus:4222") as client:              # or "redis://bus:6379/0"
        with client.subscribe(ibstream.MarketDataSpec(265598)) as aapl:
            aapl.wait(10)                                    # state read, stream followed
            for event in aapl:                               # MarketData, Gap, ...
                print(client.ticker(265598).last)
        print(client.orders.open_orders())                   # a copy made on the loop thread

What matches ``ibstream.Client``: ``subscribe`` returns a blocking handle (iteration, ``get``,
``wait``, ``unsubscribe``, ``with``), ``events()`` every event, ``on(type, callback)`` on a
dispatcher thread of its own, ``ticker()``/``ticker_snapshot()``, and ``tickers``/``orders``/
``trades``/``account`` as copies of the same live-state classes, and ``positions`` (blocking
``start()``, ``get``, ``quantity``, ``on_change``...) as on ``ibstream.Client``. What the bus
adds is the async remote client's: ``handle.position`` (pass it as ``after=`` to resume after
a restart) and ``metrics()["stale_rejected"]``, ``["gaps_failover"]``...
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from typing import Any

from ibstream.exceptions import ClientClosed, IBStreamError, InvalidState
from ibstream.protocol.specs import Spec, StreamKey
from ibstream.remote.client import RemoteClient as AsyncRemoteClient
from ibstream.remote.client import RemoteSubscription as AsyncRemoteSubscription
from ibstream.remote.factory import open_bus
from ibstream.remote.wire import Position
from ibstream.sinks.callback import Callback, CallbackSink
from ibstream.state import AccountState, OrderBook, Ticker, Tickers, TickerSnapshot, TradeBook
from ibstream.sync.client import _Engine, _finalize, _run_or_close
from ibstream.sync.dispatch import Dispatcher
from ibstream.sync.handles import SyncEventStream
from ibstream.sync.loop import LoopThread
from ibstream.sync.rest import SyncPositions

__all__ = ["RemoteClient", "RemoteSubscription", "connect"]

log = logging.getLogger("ibstream.sync")


def connect(
    url: str,
    *,
    prefix: str = "ibs",
    demand_ttl: float = 10.0,
    buffer_size: int = 10_000,
) -> RemoteClient:
    """A threaded client of the bridge publishing to ``url`` (``nats://...``/``redis://...``);
    not started: use ``with connect(url) as client:`` (or ``start()``/``stop()``)."""
    return RemoteClient(url, prefix=prefix, demand_ttl=demand_ttl, buffer_size=buffer_size)


class RemoteSubscription(SyncEventStream):
    """A blocking handle on one bus stream: iterate it, ``get(timeout)``, ``wait()``, and
    ``unsubscribe()`` (or leave ``with``). ``position`` is where the consumer is."""

    def __init__(self, loop: LoopThread, handle: AsyncRemoteSubscription) -> None:
        super().__init__(loop, handle)
        self._handle = handle
        spec = handle.spec
        assert spec is not None  # handles of subscribe() always carry their spec
        self.spec: Spec = spec
        self.key: StreamKey = handle.key

    def __repr__(self) -> str:
        return f"<RemoteSubscription {self.key} position={self.position} local={len(self._local)}>"

    @property
    def position(self) -> Position | None:
        """The bus position of the last event read from this handle (``get``, iteration): store
        it, and ``subscribe(spec, after=position)`` after a restart goes on with the next one.
        Events received but not yet read do not count."""
        return self._handle.position

    def get(self, timeout: float | None = None) -> Any:
        event = super().get(timeout)
        self._handle._cursor.read(event)
        return event

    def get_nowait(self) -> Any | None:
        event = super().get_nowait()
        if event is not None:
            self._handle._cursor.read(event)
        return event

    @property
    def skipped(self) -> int:
        """Stream events dropped because the state read first already held them."""
        return self._handle.skipped

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the state is read and the stream is followed: ``True``; ``False`` when
        ``timeout`` passed or the handle was closed (the client stopped, or ``unsubscribe``)."""
        try:
            self._loop.run(self._handle.ready(timeout))
        except (IBStreamError, TimeoutError):
            return False
        return True

    def unsubscribe(self) -> None:
        """Leave the stream (releases its demand lease; idempotent, a no-op once stopped)."""
        try:
            self._loop.run(self._handle.unsubscribe())
        except InvalidState:
            self._finish(ClientClosed(f"{self.key}: client stopped"))

    def close(self) -> None:
        self.unsubscribe()

    def __enter__(self) -> RemoteSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


class RemoteClient:
    """The threaded consumer of a bridged session (see the module docstring).

    Every method may be called from any thread. Callbacks registered with :meth:`on` run on the
    client's dispatcher thread (``ibstream-sinks``), never on the loop that reads the bus.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "ibs",
        demand_ttl: float = 10.0,
        buffer_size: int = 10_000,
    ) -> None:
        # the bus is made now, so a bad URL or prefix fails here (InvalidArgument)
        bus = open_bus(url, prefix=prefix)
        self._aclient = AsyncRemoteClient(bus, demand_ttl=demand_ttl, buffer_size=buffer_size)
        self._engine = _Engine(self._aclient, "an ibstream.sync.remote client")
        self.buffer_size = buffer_size
        self._callbacks: CallbackSink | None = None
        self._lock = threading.Lock()
        self._phase = "new"  # new -> running -> stopped
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<sync.remote.RemoteClient {self._aclient.bus!r} {self._phase}>"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and connect to the bus (raises what the bus raises, e.g.
        ``OSError`` when it cannot be reached, after stopping everything again)."""
        with self._lock:
            if self._phase != "new":
                raise InvalidState("a RemoteClient starts once; create a new one")
            self._phase = "running"
            loop = LoopThread(name="ibstream-remote-loop")
            loop.start()
            self._engine.loop = loop
            self._finalizer = weakref.finalize(self, _finalize, self._engine)
        try:
            loop.run(self._aclient.start())
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close every handle (each ends after the events it holds), release the demand leases,
        disconnect and join the threads. Idempotent."""
        with self._lock:
            if self._phase == "stopped":
                return
            started = self._phase == "running"
            self._phase = "stopped"
        if not started:
            return
        interrupted = self._engine.shutdown()
        if self._finalizer is not None:
            self._finalizer.detach()
        if interrupted:
            raise KeyboardInterrupt

    def __enter__(self) -> RemoteClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._phase == "running"

    def _loop(self) -> LoopThread:
        loop = self._engine.loop
        if loop is None or self._phase != "running":
            raise InvalidState("remote client is not running: use 'with connect(url)' or start()")
        return loop

    def _run(self, coro: Any) -> Any:
        """Run ``coro`` on the loop thread and block for its result."""
        return _run_or_close(self._loop, coro)

    def _call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the loop thread while it runs; directly before start / after stop."""
        loop = self._engine.loop
        if loop is not None and loop.running:
            with contextlib.suppress(InvalidState):
                return loop.call(fn, *args)
        return fn(*args)

    # -- streams ---------------------------------------------------------------------------------

    def subscribe(
        self, spec: Spec, *, after: Position | str | None = None, maxsize: int | None = None
    ) -> RemoteSubscription:
        """Follow one stream: its live state first (unless ``after`` resumes from a position),
        then its events. Returns at once; ``handle.wait(timeout)`` blocks until following."""
        loop = self._loop()
        aclient, engine = self._aclient, self._engine

        def make() -> RemoteSubscription:
            handle = aclient.subscribe(spec, after=after, maxsize=maxsize)
            reader = RemoteSubscription(loop, handle)
            engine.readers.add(reader)
            return reader

        result: RemoteSubscription = loop.call(make)
        return result

    def events(self, *, maxsize: int | None = None) -> SyncEventStream:
        """A blocking iterator over every event the bridge publishes from now on."""
        loop = self._loop()
        aclient, engine = self._aclient, self._engine

        def make() -> SyncEventStream:
            reader = SyncEventStream(loop, aclient.events(maxsize=maxsize))
            engine.readers.add(reader)
            return reader

        result: SyncEventStream = loop.call(make)
        return result

    def on(self, event_type: Any, callback: Callback) -> Any:
        """Call ``callback(event)`` for each event of ``event_type`` (``None``: every event) that
        a subscription of this client receives, on the dispatcher thread. A callback that raises
        is logged and counted (``metrics()["sinks"]``). Returns a function that removes it."""
        with self._lock:
            loop = self._loop()
            if self._callbacks is None:
                self._callbacks = CallbackSink()
                dispatcher = Dispatcher(self.buffer_size)
                dispatcher.add(self._callbacks)
                self._engine.dispatcher = dispatcher
                dispatcher.start()
                loop.call(self._aclient.on, None, dispatcher.put)
            return self._callbacks.on(event_type, callback)

    # -- live state ------------------------------------------------------------------------------

    def ticker(self, conid: int) -> Ticker:
        """The live ``Ticker`` of ``conid`` (updated in place on the loop thread; read one field
        at a time, or use :meth:`ticker_snapshot` for a consistent copy)."""
        ticker: Ticker = self._call(self._aclient.ticker, conid)
        return ticker

    def ticker_snapshot(self, conid: int) -> TickerSnapshot:
        aclient = self._aclient
        snapshot: TickerSnapshot = self._call(lambda: aclient.ticker(conid).snapshot())
        return snapshot

    @property
    def tickers(self) -> Tickers:
        result: Tickers = self._call(self._aclient.tickers.copy)
        return result

    @property
    def orders(self) -> OrderBook:
        """A copy of the order book made on the loop thread (state read plus stream)."""
        result: OrderBook = self._call(self._aclient.orders.copy)
        return result

    @property
    def trades(self) -> TradeBook:
        result: TradeBook = self._call(self._aclient.trades.copy)
        return result

    @property
    def account(self) -> AccountState:
        result: AccountState = self._call(self._aclient.account.copy)
        return result

    @property
    def positions(self) -> SyncPositions:
        """Live positions published by the bridge: ``start()`` reads the current ones and
        follows their changes (the blocking API of ``ibstream.remote``'s ``positions``, the
        same as ``ibstream.Client.positions``)."""
        return SyncPositions(self._aclient.positions, self._run, self._call)

    def metrics(self) -> dict[str, Any]:
        """The remote client's counters, plus the callback hand-off's under ``"sinks"``."""
        metrics: dict[str, Any] = self._call(self._aclient.metrics)
        dispatcher = self._engine.dispatcher
        if dispatcher is not None:
            sinks = dispatcher.metrics()
            if self._callbacks is not None:
                sinks["callback_errors"] = self._callbacks.errors
            metrics["sinks"] = sinks
        return metrics
