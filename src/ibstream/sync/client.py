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

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.auth.strategy import Auth
from ibstream.exceptions import InvalidState
from ibstream.protocol.lifecycle import SessionState
from ibstream.protocol.specs import Spec
from ibstream.sinks.base import Sink
from ibstream.sinks.callback import Callback, CallbackSink
from ibstream.sinks.recorder import RecorderSink
from ibstream.state import AccountState, OrderBook, Ticker, Tickers, TickerSnapshot, TradeBook
from ibstream.sync.dispatch import Dispatcher
from ibstream.sync.exercise import SyncExerciseDesk
from ibstream.sync.handles import SyncEventStream, SyncSubscription, wait_all
from ibstream.sync.loop import LoopThread
from ibstream.sync.rest import SyncContracts, SyncMarketData, SyncPortfolio, SyncPositions
from ibstream.sync.trading import SyncTrading

__all__ = ["Client"]

log = logging.getLogger("ibstream.sync")

T = TypeVar("T")


class _Phase(Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _AsyncClient(Protocol):
    """What the engine stops: ``StreamClient`` here, the remote client in ``sync/remote.py``."""

    async def stop(self) -> None: ...


class _Engine:
    """What a running client owns; shared with the finaliser, so it never refers to the Client."""

    def __init__(self, aclient: _AsyncClient, label: str = "an ibstream.Client") -> None:
        self.label = label
        self.aclient = aclient
        self.loop: LoopThread | None = None
        self.dispatcher: Dispatcher | None = None
        # Blocking readers, drained one last time when the client stops (loop thread only).
        self.readers: weakref.WeakSet[SyncEventStream] = weakref.WeakSet()

    async def _stop_async(self) -> None:
        await self.aclient.stop()
        for reader in list(self.readers):
            reader._final_drain()

    def shutdown(self) -> bool:
        """Stop the asyncio client, the loop thread and the dispatcher; return whether a
        ``KeyboardInterrupt`` arrived meanwhile (the caller re-raises it once all is done)."""
        loop, dispatcher = self.loop, self.dispatcher
        interrupted = False
        if loop is not None and loop.in_loop_thread:
            # Collected or stopped on the loop thread itself: we cannot block on our own loop.
            task = loop.loop.create_task(self._stop_async(), name="ibstream-stop")
            task.add_done_callback(lambda _: loop.loop.stop())
            if dispatcher is not None:
                dispatcher.stop(join=False)
            return False
        if loop is not None:
            if loop.running:
                try:
                    loop.run(self._stop_async(), shield_interrupt=True)
                except KeyboardInterrupt:
                    interrupted = True
                except Exception:
                    log.exception("stopping the asyncio client failed")
            interrupted |= loop.stop()
        if dispatcher is not None:
            interrupted |= dispatcher.stop()
        return interrupted


def _run_or_close(loop_of: Callable[[], LoopThread], coro: Any) -> Any:
    """Run ``coro`` on the loop ``loop_of()`` gives and block for its result; when there is
    none (``InvalidState``: never started, or stopped), close ``coro`` unawaited and raise."""
    try:
        loop = loop_of()
    except InvalidState:
        coro.close()  # no "coroutine was never awaited" warning
        raise
    return loop.run(coro)


def _finalize(engine: _Engine) -> None:
    log.warning("%s was not stopped: stopping it (use 'with' or call stop())", engine.label)
    with contextlib.suppress(Exception):
        engine.shutdown()


class Client:
    """A blocking client for the gateway at ``url``::

        with ibstream.Client("https://localhost:5000/v1/api", cacert="gateway.pem") as client:
            with client.subscribe(ibstream.MarketDataSpec(265598)) as aapl:
                aapl.wait(10)
                for event in aapl:
                    print(event)

    ``sink`` (any object with ``emit(event)``, see :mod:`ibstream.sinks`) gets every event,
    lifecycle included, from the client's dispatcher thread. Every method may be called from any
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
        self._aclient = StreamClient(url, verify=verify, cacert=cacert, config=config, auth=auth)
        self._engine = _Engine(self._aclient)
        self.config: ClientConfig = self._aclient.config
        # Where events go besides handles: the user's sink, callbacks of on(), recordings.
        self._sink = sink
        self._callbacks: CallbackSink | None = None
        self._recorders: list[RecorderSink] = []
        self._frames_tapped = False
        # Lifecycle.
        self._lock = threading.Lock()
        self._phase = _Phase.NEW
        self._stopped = threading.Event()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<Client {self._aclient.rest.base_url} {self._phase.value} {self.state.name}>"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> None:
        """Start the loop thread and the session; block until the gateway authenticated it.

        Raises what ``StreamClient.start`` raises (``StreamTimeout``, ``TLSError``,
        ``NotAuthenticated``...), after stopping everything again. A client starts once.
        """
        with self._lock:
            if self._phase is not _Phase.NEW:
                raise InvalidState("a Client starts once; create a new one")
            self._phase = _Phase.RUNNING
            loop = LoopThread()
            loop.start()
            self._engine.loop = loop
            self._finalizer = weakref.finalize(self, _finalize, self._engine)
            if self._sink is not None or self._callbacks is not None or self._recorders:
                self._start_dispatcher()
        try:
            loop.run(self._aclient.start(timeout))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close the socket, end every handle and stream, deliver what the sinks have, close the
        sinks, and join the threads. Idempotent; finishes even if Ctrl-C arrives meanwhile (the
        ``KeyboardInterrupt`` is raised afterwards)."""
        with self._lock:
            phase = self._phase
            if phase is _Phase.NEW:
                self._phase = _Phase.STOPPED
                self._stopped.set()
                return
            if phase is _Phase.STOPPED:
                return
            self._phase = _Phase.STOPPING
        if phase is _Phase.STOPPING:
            if not self._in_own_thread():
                self._stopped.wait()
            return
        interrupted = self._engine.shutdown()
        if self._finalizer is not None:
            self._finalizer.detach()
        with self._lock:
            self._phase = _Phase.STOPPED
            self._stopped.set()
        if interrupted:
            raise KeyboardInterrupt

    def _in_own_thread(self) -> bool:
        loop, dispatcher = self._engine.loop, self._engine.dispatcher
        current = threading.current_thread()
        return (loop is not None and loop.thread is current) or (
            dispatcher is not None and dispatcher.thread is current
        )

    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Started and not stopped (the session may be reconnecting)."""
        return self._phase is _Phase.RUNNING

    @property
    def state(self) -> SessionState:
        """The session state (a single attribute read, safe from any thread)."""
        return self._aclient.state

    # -- forwarding ------------------------------------------------------------------------------

    def _loop(self) -> LoopThread:
        loop = self._engine.loop
        if loop is None or self._phase is not _Phase.RUNNING:
            raise InvalidState("client is not running: use 'with Client(...)' or start()")
        return loop

    def _call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the loop thread while running; directly before start / after stop."""
        loop = self._engine.loop
        if loop is not None and loop.running:
            with contextlib.suppress(InvalidState):
                return loop.call(fn, *args)
        return fn(*args)

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
        loop = self._loop()
        aclient, engine = self._aclient, self._engine

        def make() -> SyncSubscription:
            handle = aclient.subscribe(spec, replace=replace, maxsize=maxsize, buffer=buffer)
            reader = SyncSubscription(loop, handle)
            engine.readers.add(reader)
            return reader

        result: SyncSubscription = loop.call(make)
        return result

    def events(self, *, maxsize: int | None = None) -> SyncEventStream:
        """A blocking iterator over every event from now on (data, lifecycle, auth, errors)."""
        loop = self._loop()
        aclient, engine = self._aclient, self._engine

        def make() -> SyncEventStream:
            reader = SyncEventStream(loop, aclient.events(maxsize=maxsize))
            engine.readers.add(reader)
            return reader

        result: SyncEventStream = loop.call(make)
        return result

    @staticmethod
    def wait_all(
        handles: list[SyncSubscription], timeout: float | None = None
    ) -> list[SyncSubscription]:
        """Wait for every handle (``timeout`` in total); return the ones not confirmed."""
        return wait_all(handles, timeout)

    # -- sinks, callbacks, recording ------------------------------------------------------------

    def _start_dispatcher(self) -> None:
        """Create and start the dispatcher and feed it from the loop (lock held, running)."""
        loop = self._engine.loop
        assert loop is not None
        dispatcher = Dispatcher(self.config.buffer_size)
        if self._sink is not None:
            dispatcher.add(self._sink)
        if self._callbacks is not None:
            dispatcher.add(self._callbacks)
        for recorder in self._recorders:
            dispatcher.add(recorder, frames=True)
        self._engine.dispatcher = dispatcher
        dispatcher.start()
        loop.call(self._aclient.on, None, dispatcher.put)
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
        with self._lock:
            if self._phase in (_Phase.STOPPING, _Phase.STOPPED):
                raise InvalidState("client stopped")
            if self._callbacks is None:
                self._callbacks = CallbackSink()
                if self._phase is _Phase.RUNNING:
                    if self._engine.dispatcher is None:
                        self._start_dispatcher()
                    else:
                        self._engine.dispatcher.add(self._callbacks)
            return self._callbacks.on(event_type, callback)

    def record(self, path: str | Path, *, include_outgoing: bool = True) -> RecorderSink:
        """Record raw frames to ``path`` (JSON lines, the format ``ibstream sim --replay``
        serves; ``.gz`` compresses). Writes happen on the dispatcher thread; the file is closed
        when the client stops, or earlier with ``recorder.close()``."""
        recorder = RecorderSink(path, include_outgoing=include_outgoing)
        with self._lock:
            if self._phase in (_Phase.STOPPING, _Phase.STOPPED):
                recorder.close()
                raise InvalidState("client stopped")
            self._recorders.append(recorder)
            if self._phase is _Phase.RUNNING:
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

    def ticker_snapshot(self, conid: int) -> TickerSnapshot:
        """An immutable, consistent copy of ``conid``'s ticker, made on the loop thread."""
        aclient = self._aclient
        snapshot: TickerSnapshot = self._call(lambda: aclient.ticker(conid).snapshot())
        return snapshot

    # The same live-state types as the asyncio client (``OrderBook``, ``TradeBook``,
    # ``AccountState``): each read returns a private copy made on the loop thread, so the caller's
    # thread reads a consistent state that no update changes under it.

    @property
    def tickers(self) -> Tickers:
        """The live tickers by conid (a ``Tickers`` registry copy holding the live ``Ticker``
        objects, as :meth:`ticker` returns them)."""
        result: Tickers = self._call(self._aclient.tickers.copy)
        return result

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

    @property
    def trades(self) -> TradeBook:
        """A snapshot of the executions (a ``TradeBook`` copy: execution id -> ``Trade``,
        ``trades()`` oldest first, ``for_order()``, ``for_conid()``...)."""
        result: TradeBook = self._call(self._aclient.trades.copy)
        return result

    @property
    def account(self) -> AccountState:
        """A snapshot of P&L, account summaries and ledgers (an ``AccountState`` copy)."""
        result: AccountState = self._call(self._aclient.account.copy)
        return result

    # -- REST features (issue 12): the asyncio client's names, blocking --------------------------

    def _run_rest(self, coro: Any) -> Any:
        return _run_or_close(self._loop, coro)

    @property
    def contracts(self) -> SyncContracts:
        """Contract lookups (see ``ibstream.aio.contracts``); needs a running client."""
        return SyncContracts(self._aclient.contracts, self._run_rest)

    @property
    def marketdata(self) -> SyncMarketData:
        """REST snapshots and history (see ``ibstream.aio.marketdata``)."""
        return SyncMarketData(self._aclient.marketdata, self._run_rest)

    @property
    def portfolio(self) -> SyncPortfolio:
        """Accounts, positions, summary, ledger over REST (see ``ibstream.aio.portfolio``)."""
        return SyncPortfolio(self._aclient.portfolio, self._run_rest)

    @property
    def positions(self) -> SyncPositions:
        """Live positions, kept current once ``start()``-ed (see ``ibstream.aio.portfolio``)."""
        return SyncPositions(self._aclient.positions, self._run_rest, self._call)

    def metrics(self) -> dict[str, Any]:
        """The asyncio client's counters, plus the sink hand-off's under ``"sinks"``."""
        metrics: dict[str, Any] = self._call(self._aclient.metrics)
        dispatcher = self._engine.dispatcher
        if dispatcher is not None:
            sinks = dispatcher.metrics()
            if self._callbacks is not None:
                sinks["callback_errors"] = self._callbacks.errors
            metrics["sinks"] = sinks
        return metrics
