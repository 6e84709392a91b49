"""The plumbing both threaded facades share: ``ibstream.Client`` (:mod:`ibstream.sync.client`)
and the bus consumer's ``RemoteClient`` (:mod:`ibstream.sync.remote`).

Each runs its asyncio client on one private :class:`~ibstream.sync.loop.LoopThread` and forwards
every call to it; :class:`ThreadedFacade` holds what that takes, written once: the lifecycle
(start once, idempotent ``stop()`` that finishes even under Ctrl-C, a ``weakref.finalize``
finaliser for a client dropped unstopped), forwarding (``_loop``, ``_call``, ``_run``), blocking
readers made on the loop thread, ``on()`` callbacks on a dispatcher thread, copies of the live
state and the hand-off's metrics. The :class:`Engine` is what a running facade owns; the
finaliser holds it, never the facade.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from ibstream.aio.subscription import EventStream
from ibstream.exceptions import InvalidState
from ibstream.sinks.base import Sink
from ibstream.sinks.callback import Callback, CallbackSink
from ibstream.state import AccountState, OrderBook, Ticker, Tickers, TickerSnapshot, TradeBook
from ibstream.sync.dispatch import Dispatcher
from ibstream.sync.handles import SyncEventStream
from ibstream.sync.loop import LoopThread
from ibstream.sync.loop import join as join_thread

__all__ = ["AsyncClient", "Engine", "Phase", "ThreadedFacade", "run_or_close"]

log = logging.getLogger("ibstream.sync")


class Phase(Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class AsyncClient(Protocol):
    """What a facade runs: ``StreamClient``, or the remote client of ``ibstream.remote``."""

    tickers: Tickers
    orders: OrderBook
    trades: TradeBook
    account: AccountState

    async def stop(self) -> None: ...

    def events(self, *, maxsize: int | None = None) -> EventStream[Any]: ...

    def on(self, event_type: type | None, callback: Callback) -> Callable[[], None]: ...

    def ticker(self, conid: int) -> Ticker: ...

    def metrics(self) -> dict[str, Any]: ...


A = TypeVar("A", bound=AsyncClient)
R = TypeVar("R", bound=SyncEventStream)


class Engine:
    """What a running client owns; shared with the finaliser, so it never refers to the Client."""

    def __init__(self, aclient: AsyncClient, label: str = "an ibstream.Client") -> None:
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
            # The hand-off closes once the session did (so sinks get its last events); another
            # thread's stop() then waits in :meth:`join`.
            def stopped(_: object) -> None:
                if dispatcher is not None:
                    dispatcher.stop(join=False)
                loop.loop.stop()

            task = loop.loop.create_task(self._stop_async(), name="ibstream-stop")
            task.add_done_callback(stopped)
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

    def join(self) -> bool:
        """Wait (not on the client's own threads) for the threads of a shutdown begun elsewhere,
        e.g. on the loop thread; return whether a ``KeyboardInterrupt`` arrived meanwhile."""
        loop, dispatcher = self.loop, self.dispatcher
        interrupted = False
        if loop is not None and not loop.in_loop_thread and loop.thread.is_alive():
            interrupted = join_thread(loop.thread, 10.0)
        if dispatcher is not None:
            interrupted |= dispatcher.stop()
        return interrupted


def run_or_close(loop_of: Callable[[], LoopThread], coro: Any) -> Any:
    """Run ``coro`` on the loop ``loop_of()`` gives and block for its result; when there is
    none (``InvalidState``: never started, or stopped), close ``coro`` unawaited and raise."""
    try:
        loop = loop_of()
    except InvalidState:
        coro.close()  # no "coroutine was never awaited" warning
        raise
    return loop.run(coro)


def _finalize(engine: Engine) -> None:
    log.warning("%s was not stopped: stopping it (use 'with' or call stop())", engine.label)
    with contextlib.suppress(Exception):
        engine.shutdown()


class ThreadedFacade(Generic[A]):
    """The threaded client of an asyncio client ``A`` (see the module docstring).

    A subclass names its messages (``_STARTS_ONCE``, ``_NOT_RUNNING``), passes its asyncio client
    to ``__init__``, and writes its public ``start``/``events``/``on``/``metrics`` over
    ``_start``/``_events``/``_on``/``_metrics`` (each with its own docstring and signature).
    """

    _STARTS_ONCE: ClassVar[str]
    _NOT_RUNNING: ClassVar[str]

    def __init__(self, aclient: A, engine: Engine, buffer_size: int) -> None:
        self._aclient = aclient
        self._engine = engine
        self._buffer_size = buffer_size  # of the dispatcher's hand-off buffer
        self._callbacks: CallbackSink | None = None
        # Lifecycle.
        self._lock = threading.Lock()
        self._phase = Phase.NEW
        self._stopped = threading.Event()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def _start(self, start: Callable[[], Coroutine[Any, Any, Any]], loop_name: str) -> None:
        """Start the loop thread, then run ``start()`` on it; stop everything if that fails."""
        with self._lock:
            if self._phase is not Phase.NEW:
                raise InvalidState(self._STARTS_ONCE)
            self._phase = Phase.RUNNING
            loop = LoopThread(name=loop_name)
            loop.start()
            self._engine.loop = loop
            self._finalizer = weakref.finalize(self, _finalize, self._engine)
            if self._dispatch_sinks():
                self._start_dispatcher()
        try:
            loop.run(start())
        except BaseException:
            self.stop()
            raise

    def start(self) -> None:
        """Start the loop thread and the asyncio client (each facade does, over :meth:`_start`)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the asyncio client and join the threads. Idempotent; finishes even if Ctrl-C
        arrives meanwhile (the ``KeyboardInterrupt`` is raised afterwards); a second caller
        waits for the first to finish (except on the client's own threads)."""
        with self._lock:
            phase = self._phase
            if phase is Phase.NEW:
                self._phase = Phase.STOPPED
                self._stopped.set()
                return
            if phase is not Phase.STOPPED:
                self._phase = Phase.STOPPING
        if phase is not Phase.RUNNING:  # stopping or stopped by another caller
            if not self._in_own_thread():
                self._stopped.wait()
                if self._engine.join():
                    raise KeyboardInterrupt
            return
        interrupted = self._engine.shutdown()
        if self._finalizer is not None:
            self._finalizer.detach()
        with self._lock:
            self._phase = Phase.STOPPED
            self._stopped.set()
        if interrupted:
            raise KeyboardInterrupt

    def _in_own_thread(self) -> bool:
        loop, dispatcher = self._engine.loop, self._engine.dispatcher
        current = threading.current_thread()
        return (loop is not None and loop.thread is current) or (
            dispatcher is not None and dispatcher.thread is current
        )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Started and not stopped (the session may be reconnecting)."""
        return self._phase is Phase.RUNNING

    # -- forwarding ------------------------------------------------------------------------------

    def _loop(self) -> LoopThread:
        loop = self._engine.loop
        if loop is None or self._phase is not Phase.RUNNING:
            raise InvalidState(self._NOT_RUNNING)
        return loop

    def _call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the loop thread while running; directly before start / after stop."""
        loop = self._engine.loop
        if loop is not None and loop.running:
            with contextlib.suppress(InvalidState):
                return loop.call(fn, *args)
        return fn(*args)

    def _run(self, coro: Any) -> Any:
        """Run ``coro`` on the loop thread and block for its result."""
        return run_or_close(self._loop, coro)

    # -- blocking readers ------------------------------------------------------------------------

    def _open(self, make: Callable[[LoopThread], R]) -> R:
        """``make(loop)`` on the loop thread: a blocking reader, drained when the client stops."""
        loop = self._loop()
        engine = self._engine

        def opened() -> R:
            reader = make(loop)
            engine.readers.add(reader)
            return reader

        result: R = loop.call(opened)
        return result

    def _events(self, maxsize: int | None) -> SyncEventStream:
        aclient = self._aclient
        return self._open(lambda loop: SyncEventStream(loop, aclient.events(maxsize=maxsize)))

    # -- the dispatcher: callbacks (and a subclass's sinks) ------------------------------------

    def _dispatch_sinks(self) -> list[tuple[Sink, bool]]:
        """What the dispatcher delivers to, in order, each with whether it takes raw frames."""
        return [] if self._callbacks is None else [(self._callbacks, False)]

    def _start_dispatcher(self) -> None:
        """Create and start the dispatcher and feed it from the loop (lock held, running)."""
        loop = self._engine.loop
        assert loop is not None
        dispatcher = Dispatcher(self._buffer_size)
        for sink, frames in self._dispatch_sinks():
            dispatcher.add(sink, frames=frames)
        self._engine.dispatcher = dispatcher
        dispatcher.start()
        loop.call(self._aclient.on, None, dispatcher.put)
        self._dispatcher_started(loop, dispatcher)

    def _dispatcher_started(self, loop: LoopThread, dispatcher: Dispatcher) -> None:
        """Hook: the dispatcher runs and gets every event (lock held)."""

    def _on(self, event_type: Any, callback: Callback, *, before_start: bool) -> Any:
        """Register ``callback`` on the callback sink, made (and delivered to) on first use.
        ``before_start``: allowed before ``start()`` too (else only while running)."""
        with self._lock:
            if not before_start:
                self._loop()
            elif self._phase in (Phase.STOPPING, Phase.STOPPED):
                raise InvalidState("client stopped")
            if self._callbacks is None:
                self._callbacks = CallbackSink()
                if self._phase is Phase.RUNNING:
                    if self._engine.dispatcher is None:
                        self._start_dispatcher()
                    else:
                        self._engine.dispatcher.add(self._callbacks)
            return self._callbacks.on(event_type, callback)

    def _metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = self._call(self._aclient.metrics)
        dispatcher = self._engine.dispatcher
        if dispatcher is not None:
            sinks = dispatcher.metrics()
            if self._callbacks is not None:
                sinks["callback_errors"] = self._callbacks.errors
            metrics["sinks"] = sinks
        return metrics

    # -- live state: copies made on the loop thread ----------------------------------------------

    def ticker_snapshot(self, conid: int) -> TickerSnapshot:
        """An immutable, consistent copy of ``conid``'s ticker, made on the loop thread."""
        aclient = self._aclient
        snapshot: TickerSnapshot = self._call(lambda: aclient.ticker(conid).snapshot())
        return snapshot

    @property
    def tickers(self) -> Tickers:
        """The live tickers by conid (a ``Tickers`` registry copy holding the live ``Ticker``
        objects, as :meth:`ticker` returns them)."""
        result: Tickers = self._call(self._aclient.tickers.copy)
        return result

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
