"""``ibstream.Client``: the blocking client for scripts, notebooks and threaded applications.

It is the asyncio :class:`~ibstream.aio.client.StreamClient`, run on one private loop thread
(:class:`~ibstream.sync.loop.LoopThread`); every method forwards to it with
``run_coroutine_threadsafe`` / ``call_soon_threadsafe`` and blocks for the answer, so there is
one implementation of the session, reconnects and subscriptions (style.md principle 11). Threads:

* ``ibstream-loop``: the asyncio loop (socket reader, timer, REST tasks);
* ``ibstream-sinks``: started only when there is a sink, a callback (``on``) or a recording;
  it drains the bounded hand-off buffer (:class:`~ibstream.sync.dispatch.Dispatcher`).

Both are daemon threads; ``stop()`` (or leaving ``with``) closes the socket and joins them. A
client that is dropped without ``stop()`` is stopped by a ``weakref.finalize`` finaliser (at
garbage collection or interpreter exit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.auth.strategy import Auth
from ibstream.exceptions import InvalidArgument, InvalidState
from ibstream.protocol.lifecycle import SessionState
from ibstream.protocol.specs import Spec
from ibstream.sinks.base import Sink
from ibstream.sinks.callback import Callback
from ibstream.sinks.composite import CompositeSink
from ibstream.sinks.recorder import RecorderSink
from ibstream.state import OrderBook, Ticker
from ibstream.sync._facade import Engine, Phase, ThreadedFacade
from ibstream.sync.dispatch import Dispatcher
from ibstream.sync.exercise import SyncExerciseDesk
from ibstream.sync.handles import SyncEventStream, SyncSubscription, wait_all
from ibstream.sync.loop import LoopThread
from ibstream.sync.rest import SyncContracts, SyncMarketData, SyncPortfolio, SyncPositions
from ibstream.sync.trading import SyncTrading

__all__ = ["Client"]


def _no_nested_recorder(sink: Sink | None) -> Sink | None:
    """``InvalidArgument`` for a composite holding a RecorderSink (it would never see a frame)."""
    if isinstance(sink, CompositeSink) and any(isinstance(s, RecorderSink) for s in sink.sinks):
        raise InvalidArgument(
            "sink",
            "a RecorderSink records raw frames, which a CompositeSink never gets: pass it as "
            "the client's sink alone, or use client.record(path)",
        )
    return sink


class Client(ThreadedFacade[StreamClient]):
    """A blocking client for the gateway at ``url``::

        with ibstream.Client("https://localhost:5000/v1/api", cacert="gateway.pem") as client:
            with client.subscribe(ibstream.MarketDataSpec(265598)) as aapl:
                aapl.wait(10)
                for event in aapl:
                    print(event)

    ``sink`` (any object with ``emit(event)``, see :mod:`ibstream.sinks`) gets every event,
    lifecycle included, from the client's dispatcher thread (a ``RecorderSink`` gets the raw
    frames instead, as with :meth:`record`). Every method may be called from any
    thread, including one that runs its own asyncio loop (Jupyter, uvicorn): the client never
    touches the caller's loop. Blocking calls from the client's own threads' callbacks are fine,
    except ``stop()`` from a sink callback does not wait for the dispatcher thread (it is that
    thread).

    Events: the same as :class:`~ibstream.aio.client.StreamClient` (every decoded gateway event
    plus ``SessionStateChanged``, ``SubscriptionStateChanged`` and ``Gap``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        verify: bool | None = None,
        cacert: str | None = None,
        config: ClientConfig | None = None,
        sink: Sink | None = None,
        auth: Auth | None = None,
    ) -> None:
        # The engine (constructed here so bad arguments fail now; runs on the loop thread).
        # ``auth``: the authentication strategy (ibstream.auth), e.g. ``OAuth1a.from_env()``.
        aclient = StreamClient(url, verify=verify, cacert=cacert, config=config, auth=auth)
        super().__init__(aclient, Engine(aclient), aclient.config.buffer_size)
        self.config: ClientConfig = aclient.config
        # Where events go besides handles: the user's sink, callbacks of on(), recordings.
        # A RecorderSink records frames, not events: given as the sink, it is a recording.
        self._sink = None if isinstance(sink, RecorderSink) else _no_nested_recorder(sink)
        self._recorders: list[RecorderSink] = [sink] if isinstance(sink, RecorderSink) else []
        self._frames_tapped = False

    _STARTS_ONCE = "a Client starts once; create a new one"
    _NOT_RUNNING = "client is not running: use 'with Client(...)' or start()"

    def __repr__(self) -> str:
        return f"<Client {self._aclient.rest.base_url} {self._phase.value} {self.state.name}>"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> None:
        """Start the loop thread and the session; block until the gateway authenticated it.

        Raises what ``StreamClient.start`` raises (``StreamTimeout``, ``TLSError``,
        ``NotAuthenticated``...), after stopping everything again. A client starts once.
        """
        self._start(lambda: self._aclient.start(timeout), "ibstream-loop")

    def stop(self) -> None:
        """Close the socket, end every handle and stream, deliver what the sinks have, close the
        sinks, and join the threads. Idempotent; finishes even if Ctrl-C arrives meanwhile (the
        ``KeyboardInterrupt`` is raised afterwards)."""
        super().stop()

    @property
    def state(self) -> SessionState:
        """The session state (a single attribute read, safe from any thread)."""
        return self._aclient.state

    # -- subscriptions and streams ----------------------------------------------------------------

    def subscribe(
        self,
        spec: Spec,
        *,
        replace: bool = False,
        maxsize: int | None = None,
        buffer: bool = True,
    ) -> SyncSubscription:
        """Subscribe to a stream and return its handle at once (``handle.wait(timeout)`` blocks
        until confirmed). Same sharing and conflict rules as ``StreamClient.subscribe``.

        ``buffer=False``: the handle only holds the stream; events reach sinks and callbacks
        (nothing fills a buffer that no one iterates)."""
        aclient = self._aclient
        return self._open(
            lambda loop: SyncSubscription(
                loop, aclient.subscribe(spec, replace=replace, maxsize=maxsize, buffer=buffer)
            )
        )

    def events(self, *, maxsize: int | None = None) -> SyncEventStream:
        """A blocking iterator over every event from now on (data, lifecycle, auth, errors)."""
        return self._events(maxsize)

    @staticmethod
    def wait_all(
        handles: list[SyncSubscription], timeout: float | None = None
    ) -> list[SyncSubscription]:
        """Wait for every handle (``timeout`` in total); return the ones not confirmed."""
        return wait_all(handles, timeout)

    # -- sinks, callbacks, recording ------------------------------------------------------------

    def _dispatch_sinks(self) -> list[tuple[Sink, bool]]:
        sinks: list[tuple[Sink, bool]] = [] if self._sink is None else [(self._sink, False)]
        sinks += super()._dispatch_sinks()
        return sinks + [(recorder, True) for recorder in self._recorders]

    def _dispatcher_started(self, loop: LoopThread, dispatcher: Dispatcher) -> None:
        if self._recorders:
            self._tap_frames(loop, dispatcher)

    def _tap_frames(self, loop: LoopThread, dispatcher: Dispatcher) -> None:
        if not self._frames_tapped:
            self._frames_tapped = True
            loop.call(self._aclient.on_frame, dispatcher.put_frame)

    def on(self, event_type: Any, callback: Callback) -> Any:
        """Call ``callback(event)`` for each event of ``event_type`` (a class, a union such as
        ``LifecycleEvent``, or ``None`` for every event), on the dispatcher thread.

        A callback that raises is logged and counted (``metrics()["sinks"]``); delivery goes on.
        Returns a function that removes the callback.
        """
        return self._on(event_type, callback, before_start=True)

    def record(self, path: str | Path, *, include_outgoing: bool = True) -> RecorderSink:
        """Record raw frames to ``path`` (JSON lines, the format ``ibstream sim --replay``
        serves; ``.gz`` compresses; ``.parquet`` writes Parquet). Writes happen on the
        dispatcher thread; the file is closed when the client stops, or earlier with
        ``recorder.close()``."""
        recorder = RecorderSink(path, include_outgoing=include_outgoing)
        with self._lock:
            if self._phase in (Phase.STOPPING, Phase.STOPPED):
                recorder.close()
                raise InvalidState("client stopped")
            self._recorders.append(recorder)
            if self._phase is Phase.RUNNING:
                dispatcher = self._engine.dispatcher
                if dispatcher is None:
                    self._start_dispatcher()
                else:
                    dispatcher.add(recorder, frames=True)
                    assert self._engine.loop is not None
                    self._tap_frames(self._engine.loop, dispatcher)
        return recorder

    # -- live state -------------------------------------------------------------------------------

    def ticker(self, conid: int) -> Ticker:
        """The live ``Ticker`` of ``conid``, updated in place on the loop thread.

        Reading one attribute at a time (``ticker.last``, ``ticker.bid``) from any thread is
        safe, but two reads may straddle an update: use :meth:`ticker_snapshot` for a
        consistent copy of several fields.
        """
        ticker: Ticker = self._call(self._aclient.ticker, conid)
        return ticker

    # The same live-state types as the asyncio client (``OrderBook``, ``TradeBook``,
    # ``AccountState``): each read returns a private copy made on the loop thread, so the caller's
    # thread reads a consistent state that no update changes under it.

    @property
    def orders(self) -> OrderBook:
        """A snapshot of the order book (an ``OrderBook`` copy: order id -> immutable ``Order``,
        ``open_orders()``, ``orders()``...)."""
        result: OrderBook = self._call(self._aclient.orders.copy)
        return result

    @property
    def trading(self) -> SyncTrading:
        """Order entry (blocking; same names as ``StreamClient.trading``). Off unless enabled
        with ``ClientConfig(trading=TradingConfig(enabled=True))``."""
        return SyncTrading(self._loop(), self._aclient.trading)

    @property
    def exercise(self) -> SyncExerciseDesk:
        """Option exercise (blocking; same names as ``StreamClient.exercise``), gated like
        trading."""
        return SyncExerciseDesk(self._loop(), self._aclient.exercise)

    # -- REST features (issue 12): the asyncio client's names, blocking --------------------------

    @property
    def contracts(self) -> SyncContracts:
        """Contract lookups (see ``ibstream.aio.contracts``); needs a running client."""
        return SyncContracts(self._aclient.contracts, self._run)

    @property
    def marketdata(self) -> SyncMarketData:
        """REST snapshots and history (see ``ibstream.aio.marketdata``)."""
        return SyncMarketData(self._aclient.marketdata, self._run)

    @property
    def portfolio(self) -> SyncPortfolio:
        """Accounts, positions, summary, ledger over REST (see ``ibstream.aio.portfolio``)."""
        return SyncPortfolio(self._aclient.portfolio, self._run)

    @property
    def positions(self) -> SyncPositions:
        """Live positions, kept current once ``start()``-ed (see ``ibstream.aio.portfolio``)."""
        return SyncPositions(self._aclient.positions, self._run, self._call)

    def metrics(self) -> dict[str, Any]:
        """The asyncio client's counters, plus the sink hand-off's under ``"sinks"``."""
        return self._metrics()
