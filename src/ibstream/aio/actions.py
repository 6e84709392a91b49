"""The REST side of the driver: the core's actions carried out as short tasks.

Mixed into :class:`~ibstream.aio.client.StreamClient`: ``Reconnect`` closes the socket,
``PollAuthStatus`` polls ``/iserver/auth/status`` (a positive answer is checked against the
``/tickle`` session id before the session resumes), ``Tickle`` keeps the session alive and
notices a new session id, ``Reauthenticate`` reclaims a competing session, ``Fatal`` stops the
client; the order book is seeded from REST when orders are subscribed; ``send_message`` writes
one message the caller built (an option-exercise answer) on the live socket. At most one task of
each kind runs at a time; a failing task is logged (a programming error with its traceback) and
never takes the connection with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

import aiohttp

from ibstream.aio.transport import Clock, TickleInfo, Transport, WebSocketLike
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import ConnectionClosed, NotAuthenticated, OAuthError
from ibstream.masking import mask
from ibstream.protocol.connection import StreamProtocol
from ibstream.protocol.lifecycle import Fatal, PollAuthStatus, Reauthenticate, Reconnect, Tickle
from ibstream.state import OrderBook

__all__ = ["SessionActions"]

log = logging.getLogger("ibstream.client")

#: A ``/tickle`` answer this recent (seconds) opens the next socket without another ``/tickle``.
_FRESH_TICKLE = 5.0


class SessionActions:
    """The action half of the driver (see the module docstring)."""

    rest: Transport
    orders: OrderBook
    _proto: StreamProtocol
    _clock: Clock
    _policy: ReconnectPolicy
    _rest_tasks: dict[str, asyncio.Task[Any]]
    _ws: WebSocketLike | None
    _session_id: str | None
    _session_checked: bool
    _fresh_tickle: tuple[TickleInfo, float] | None

    def _pump(self) -> None:
        raise NotImplementedError

    def _tap(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        raise NotImplementedError

    async def send_message(self, text: str) -> None:
        """Write ``text`` on the socket now, after what the core queued, or raise
        ``ConnectionClosed`` (no authenticated socket, or the write failed): never queued for a
        later connection, where the gateway would not know the question it answers."""
        ws = self._ws
        if ws is None or ws.closed or not self._proto.authenticated:
            raise ConnectionClosed(None, "no authenticated socket: nothing was sent")
        await self._flush()
        self._tap("out", text, self._clock.time(), False)
        try:
            await ws.send_str(text)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise ConnectionClosed(ws.close_code, f"send failed: {exc}") from exc

    async def _flush(self) -> None:
        raise NotImplementedError

    def _fail(self, exc: BaseException) -> None:
        raise NotImplementedError

    @property
    def _stopping(self) -> bool:
        raise NotImplementedError

    def _act(self, actions: Iterable[object]) -> None:
        for action in actions:
            log.debug("action %r", action)
            if isinstance(action, Reconnect):
                log.info("reconnect requested: %s", action.reason)
                ws = self._ws
                if ws is not None and not ws.closed:
                    self._spawn("close", ws.close(code=4000, message=action.reason.encode()[:100]))
            elif isinstance(action, PollAuthStatus):
                self._spawn("auth", self._poll_auth())
            elif isinstance(action, Tickle):
                self._spawn("tickle", self._tickle())
            elif isinstance(action, Reauthenticate):
                self._spawn("reauth", self.rest.reauthenticate())
            elif isinstance(action, Fatal):
                self._fail(action.error)
                self._spawn("stop", self._stop_after_fatal())

    async def _stop_after_fatal(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    def _spawn(self, kind: str, coro: Coroutine[Any, Any, object]) -> None:
        if kind in self._rest_tasks and not self._rest_tasks[kind].done():
            coro.close()
            return
        task = asyncio.create_task(coro, name=f"ibstream-{kind}")
        self._rest_tasks[kind] = task
        task.add_done_callback(self._rest_done)

    def _rest_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, OAuthError):  # the auth strategy failed: no retry helps
            log.warning("%s failed: %s", task.get_name(), exc)
            if not self._stopping:
                self._fail(exc)
                self._spawn("stop", self._stop_after_fatal())
        elif self._policy.is_fatal(exc):  # a programming error: keep its traceback in the log
            log.error("%s failed", task.get_name(), exc_info=exc)
        else:
            log.warning("%s failed: %s", task.get_name(), exc)

    async def _poll_auth(self) -> None:
        checked = False
        try:
            auth = await self.rest.auth_status()
            if auth.authenticated:
                if await self._session_moved():
                    return  # a fresh login: the socket belongs to the old session
                checked = True
        except NotAuthenticated:
            self._proto.auth_status_polled(self._clock.time(), False, False, False)
        else:
            self._proto.auth_status_polled(
                self._clock.time(), auth.authenticated, auth.competing, auth.connected
            )
        # the session id was just checked: resuming needs no second /tickle (session_changed)
        self._session_checked = checked
        try:
            self._pump()
        finally:
            self._session_checked = False
        await self._flush()

    async def _tickle(self) -> None:
        try:
            await self._session_moved()
        except NotAuthenticated:
            self._proto.auth_status_polled(self._clock.time(), False, False, False)
            self._pump()

    async def _session_moved(self) -> bool:
        """``/tickle``; when the gateway's session id is not the socket's (a logout and a fresh
        login, a restart), reconnect with the new cookie and return True."""
        info = await self.rest.tickle()
        if self._session_id is None or info.session_id == self._session_id:
            return False
        log.warning(
            "gateway session changed (%s -> %s): reconnecting with the new cookie",
            mask(self._session_id),
            mask(info.session_id),
        )
        # the reconnect opens the socket with this answer: a second /tickle right after this
        # one would wait for its pacing slot (1 per second, protocol.md §2.9)
        self._fresh_tickle = (info, self._clock.time())
        self._act([Reconnect(reason="session id changed")])
        return True

    async def _tickle_for_connect(self) -> TickleInfo:
        """``/tickle`` before a handshake, or the answer that just announced a new session id
        (used once, if younger than ``_FRESH_TICKLE`` seconds)."""
        fresh, self._fresh_tickle = self._fresh_tickle, None
        if fresh is not None and self._clock.time() - fresh[1] <= _FRESH_TICKLE:
            return fresh[0]
        return await self.rest.tickle()

    async def _load_orders(self) -> None:
        orders = await self.rest.orders(force=True)
        self.orders.load_rest(orders)
