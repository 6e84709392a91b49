"""The private event loop thread of a sync client.

One daemon thread runs one asyncio loop forever; other threads hand it work with
``asyncio.run_coroutine_threadsafe`` (:meth:`LoopThread.run`) or ``loop.call_soon_threadsafe``
(:meth:`LoopThread.call`, :meth:`LoopThread.call_soon`) and block on a
``concurrent.futures.Future``. The caller's own event loop, if any, is never touched, and nothing
nests ``run_until_complete``: that is why the sync client works inside Jupyter or uvicorn.

Ctrl-C: a ``KeyboardInterrupt`` that hits a thread blocked in :meth:`run` cancels the pending
work on the loop (the coroutine sees ``CancelledError`` and cleans up) and propagates; with
``shield_interrupt=True`` (used by ``stop()``) the work finishes first and the interrupt is
raised afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ibstream.exceptions import InvalidState

__all__ = ["LoopThread"]

log = logging.getLogger("ibstream.sync")

T = TypeVar("T")


class LoopThread:
    """A daemon thread running a private asyncio loop until :meth:`stop`."""

    def __init__(self, name: str = "ibstream-loop") -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        # True from the first loop iteration until run_forever returned (set on the loop thread).
        self.running = False
        # Results other threads wait for; those still pending when the loop closed are
        # cancelled then, so no caller waits forever on work a closed loop will never run.
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def __repr__(self) -> str:
        return f"<LoopThread {self.name} running={self.running}>"

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        self.running = True
        loop.call_soon(self._started.set)
        try:
            loop.run_forever()
        finally:
            self.running = False
            self._started.set()
            try:
                self._cancel_leftovers()
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
                self._cancel_leftovers()  # work handed over while the loop was stopping
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                for fut in list(self._pending):
                    _abandon(fut)

    def _cancel_leftovers(self) -> None:
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    # -- handing work to the loop ------------------------------------------------------------

    def _check(self, what: str) -> None:
        if self.in_loop_thread:
            raise InvalidState(f"{what} from the client's own loop thread would deadlock")
        if not self.running or self.loop.is_closed():
            raise InvalidState("the client is not running")

    def run(self, coro: Coroutine[Any, Any, T], *, shield_interrupt: bool = False) -> T:
        """Run ``coro`` on the loop and block until it is done; return or raise its outcome."""
        try:
            self._check("a blocking call")
            fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as exc:  # closed since the check
            coro.close()
            if isinstance(exc, InvalidState):
                raise
            raise InvalidState("the client is not running") from exc
        except BaseException:
            coro.close()
            raise
        self._track(fut)
        return self._wait(fut, shield_interrupt)

    def _track(self, fut: concurrent.futures.Future[Any]) -> None:
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)
        if self.loop.is_closed():  # closed meanwhile: the sweep in _main may have missed it
            _abandon(fut)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and return its result (direct call on the loop thread)."""
        if self.in_loop_thread:
            return fn(*args)
        self._check("a blocking call")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:
                fut.set_exception(exc)

        self._track(fut)
        try:
            self.loop.call_soon_threadsafe(work)
        except RuntimeError as exc:  # closed since the check
            fut.cancel()
            raise InvalidState("the client is not running") from exc
        return self._wait(fut, False)

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop without waiting (``InvalidState`` if stopped)."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError as exc:  # loop closed
            raise InvalidState("the client is not running") from exc

    @staticmethod
    def _wait(fut: concurrent.futures.Future[T], shield_interrupt: bool) -> T:
        interrupted = False
        while True:
            try:
                result = fut.result()
            except KeyboardInterrupt:
                if not shield_interrupt:
                    fut.cancel()
                    raise
                interrupted = True
                continue
            except concurrent.futures.CancelledError as exc:
                raise InvalidState("the client stopped while the call was pending") from exc
            break
        if interrupted:
            raise KeyboardInterrupt
        return result

    # -- stopping ----------------------------------------------------------------------------

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop the loop and join the thread (no join on the loop thread itself).

        Returns whether a ``KeyboardInterrupt`` arrived while joining (the join is completed
        first; the caller re-raises).
        """
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self.in_loop_thread or not self._thread.is_alive():
            return False
        return join(self._thread, timeout)


def _abandon(fut: concurrent.futures.Future[Any]) -> None:
    """End a wait on work the closed loop will never run (an exception, not ``cancel()``: that
    would ask the closed loop to cancel the task)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # done meanwhile
        fut.set_exception(InvalidState("the client stopped while the call was pending"))


def join(thread: threading.Thread, timeout: float | None) -> bool:
    """``thread.join(timeout)``, finished even if Ctrl-C arrives; returns whether it did."""
    interrupted = False
    while True:
        try:
            thread.join(timeout)
        except KeyboardInterrupt:
            interrupted = True
            continue
        if thread.is_alive():
            log.warning("thread %s did not stop within %s s", thread.name, timeout)
        return interrupted
