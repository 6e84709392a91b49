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

from typing import Any

from ibstream.protocol.specs import Spec
from ibstream.remote.client import RemoteClient as AsyncRemoteClient
from ibstream.remote.client import RemoteSubscription as AsyncRemoteSubscription
from ibstream.remote.factory import open_bus
from ibstream.remote.wire import Position
from ibstream.sinks.callback import Callback
from ibstream.state import OrderBook, Ticker
from ibstream.sync._facade import Engine, ThreadedFacade
from ibstream.sync.handles import StreamHandle, SyncEventStream
from ibstream.sync.loop import LoopThread
from ibstream.sync.rest import SyncPositions

__all__ = ["RemoteClient", "RemoteSubscription", "connect"]


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


class RemoteSubscription(StreamHandle[AsyncRemoteSubscription]):
    """A blocking handle on one bus stream: iterate it, ``get(timeout)``, ``wait()``, and
    ``unsubscribe()`` (or leave ``with``). ``position`` is where the consumer is."""

    def __init__(self, loop: LoopThread, handle: AsyncRemoteSubscription) -> None:
        super().__init__(loop, handle, handle)
        spec = handle.spec
        assert spec is not None  # handles of subscribe() always carry their spec
        self.spec: Spec = spec

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
        return super().wait(timeout)

    def unsubscribe(self) -> None:
        """Leave the stream (releases its demand lease; idempotent, a no-op once stopped)."""
        super().unsubscribe()


class RemoteClient(ThreadedFacade[AsyncRemoteClient]):
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
        aclient = AsyncRemoteClient(bus, demand_ttl=demand_ttl, buffer_size=buffer_size)
        super().__init__(aclient, Engine(aclient, "an ibstream.sync.remote client"), buffer_size)
        self.buffer_size = buffer_size

    _STARTS_ONCE = "a RemoteClient starts once; create a new one"
    _NOT_RUNNING = "remote client is not running: use 'with connect(url)' or start()"

    def __repr__(self) -> str:
        return f"<sync.remote.RemoteClient {self._aclient.bus!r} {self._phase.value}>"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and connect to the bus (raises what the bus raises, e.g.
        ``OSError`` when it cannot be reached, after stopping everything again)."""
        self._start(self._aclient.start, "ibstream-remote-loop")

    def stop(self) -> None:
        """Close every handle (each ends after the events it holds), release the demand leases,
        disconnect and join the threads. Idempotent."""
        super().stop()

    # -- streams ---------------------------------------------------------------------------------

    def subscribe(
        self, spec: Spec, *, after: Position | str | None = None, maxsize: int | None = None
    ) -> RemoteSubscription:
        """Follow one stream: its live state first (unless ``after`` resumes from a position),
        then its events. Returns at once; ``handle.wait(timeout)`` blocks until following."""
        aclient = self._aclient
        return self._open(
            lambda loop: RemoteSubscription(
                loop, aclient.subscribe(spec, after=after, maxsize=maxsize)
            )
        )

    def events(self, *, maxsize: int | None = None) -> SyncEventStream:
        """A blocking iterator over every event the bridge publishes from now on."""
        return self._events(maxsize)

    def on(self, event_type: Any, callback: Callback) -> Any:
        """Call ``callback(event)`` for each event of ``event_type`` (``None``: every event) that
        a subscription of this client receives, on the dispatcher thread. A callback that raises
        is logged and counted (``metrics()["sinks"]``). Returns a function that removes it."""
        return self._on(event_type, callback, before_start=False)

    # -- live state ------------------------------------------------------------------------------

    def ticker(self, conid: int) -> Ticker:
        """The live ``Ticker`` of ``conid`` (updated in place on the loop thread; read one field
        at a time, or use :meth:`ticker_snapshot` for a consistent copy)."""
        ticker: Ticker = self._call(self._aclient.ticker, conid)
        return ticker

    @property
    def orders(self) -> OrderBook:
        """A copy of the order book made on the loop thread (state read plus stream)."""
        result: OrderBook = self._call(self._aclient.orders.copy)
        return result

    @property
    def positions(self) -> SyncPositions:
        """Live positions published by the bridge: ``start()`` reads the current ones and
        follows their changes (the blocking API of ``ibstream.remote``'s ``positions``, the
        same as ``ibstream.Client.positions``)."""
        return SyncPositions(self._aclient.positions, self._run, self._call)

    def metrics(self) -> dict[str, Any]:
        """The remote client's counters, plus the callback hand-off's under ``"sinks"``."""
        return self._metrics()
