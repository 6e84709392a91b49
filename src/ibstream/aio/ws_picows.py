"""The client WebSocket on picows, behind the driver's socket interface (issue 19).

:class:`PicowsWebSocket` is what :meth:`GatewayRest.ws_connect
<ibstream.aio.rest.GatewayRest.ws_connect>` returns when ``ws_backend`` resolves to picows
(:mod:`ibstream.aio.wsbackend`). It keeps the aiohttp path's semantics:

* text and binary frames are delivered as ``bytes`` (no UTF-8 decoding: IBKR sometimes puts
  non-UTF-8 bytes in text frames, protocol.md §1.5); fragmented messages are assembled, and a
  message over ``max_frame_size`` closes the socket with 1009;
* a CLOSE from the peer is answered and ends the stream with its code and reason; a lost TCP
  connection ends it with 1006 and the error in ``exception()``;
* ``heartbeat=h``: a ping after ``h`` seconds without incoming data, and a pong missing for
  ``h / 2`` seconds closes the socket (1006, ``exception()`` a ``TimeoutError``), as aiohttp;
* back-pressure: past ``high_water`` bytes received and not taken, the socket stops reading
  (the TCP window fills and the gateway slows down); it reads again below a quarter of that.
  One read is bounded too: the kernel receive buffer is fixed (``receive_buffer``), so the
  memory held is at most ``high_water`` plus about twice that buffer;
* ``close()`` sends a CLOSE, waits a little for the peer's, then drops the connection.

The driver reads it with :meth:`PicowsWebSocket.receive_batch`: one call takes every frame
received so far, without a future or message object per frame. ``receive()`` exists too, for
code written against the aiohttp-shaped :class:`~ibstream.aio.transport.WebSocketLike`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

import aiohttp
from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSError,
    WSFrame,
    WSHandshakeError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    InvalidArgument,
    NotAuthenticated,
    StreamTimeout,
)

__all__ = ["DEFAULT_HIGH_WATER", "PicowsMessage", "PicowsWebSocket", "open_picows"]

log = logging.getLogger("ibstream.ws")

DEFAULT_HIGH_WATER = 256 * 1024
"""Bytes received and not yet taken by the driver before the socket stops reading."""

DEFAULT_RECEIVE_BUFFER = 1024 * 1024
"""The socket's kernel receive buffer (``SO_RCVBUF``): bounds one read (see
``on_ws_connected``); 0 leaves the system's autotuning."""

CLOSE_TIMEOUT = 2.0
"""``close()`` waits this long for the peer's CLOSE before dropping the connection."""

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_PONG = WSMsgType.PONG
_ABNORMAL = 1006


class PicowsMessage(NamedTuple):
    """One message as ``receive()`` returns it (aiohttp's ``WSMessage`` shape)."""

    type: aiohttp.WSMsgType
    data: Any
    extra: Any


class PicowsWebSocket(WSListener):
    """One client WebSocket on picows (see the module docstring); picows calls the ``on_ws_*``
    methods, the driver calls the rest."""

    def __init__(
        self,
        *,
        max_message_size: int,
        high_water: int = DEFAULT_HIGH_WATER,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    ) -> None:
        self._receive_buffer = receive_buffer
        self._max_message = max_message_size
        self._high = high_water
        self._low = high_water // 4
        self._frames: list[bytes] = []
        self._queued = 0  # bytes in _frames
        self._paused = False
        self._parts: list[bytes] | None = None  # a fragmented message being assembled
        self._parts_size = 0
        self._parts_binary = True
        self._waiter: asyncio.Future[None] | None = None
        self._transport: WSTransport | None = None
        self._ended = False  # no more frames: CLOSE received, closed by us, or disconnected
        self._closing = False  # close() called
        self._disconnected = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._exception: BaseException | None = None
        self._awaiting_pong = False
        self._write_waiter: asyncio.Future[None] | None = None
        # the binary flag of each queued frame, kept only once the queue mixes TEXT and
        # BINARY; while it does not (the rule: a gateway sends one kind), _kind is that kind
        self._kinds: list[bool] | None = None
        self._kind: WSMsgType | None = None
        self._taken: list[bool] | bool = True  # the flags of the last batch taken, or one flag
        self._taken_count = 0

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<PicowsWebSocket {state} queued={len(self._frames)} code={self._close_code}>"

    # -- the driver's interface (WebSocketLike + BatchSocket) -------------------------------

    @property
    def closed(self) -> bool:
        """Closing or closed: nothing can be sent any more."""
        return self._closing or self._ended

    @property
    def close_code(self) -> int | None:
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def pending(self) -> bool:
        return bool(self._frames)

    def exception(self) -> BaseException | None:
        return self._exception

    @property
    def taken_kinds(self) -> list[bool]:
        """Whether each frame the last ``receive_batch`` returned came as BINARY (else TEXT)."""
        taken = self._taken
        return taken if isinstance(taken, list) else [taken] * self._taken_count

    async def receive_batch(self, limit: int) -> list[bytes]:
        frames = self._frames
        if not frames:
            if self._ended:
                return frames
            await self._wait()
            frames = self._frames
            if not frames:
                return frames
        kinds = self._kinds
        if len(frames) <= limit:
            self._frames = []
            out = frames
            if kinds is None:
                self._taken = self._kind is not _TEXT
            else:  # the queue is empty again: uniform until kinds mix again
                self._taken, self._kinds, self._kind = kinds, None, None
        else:
            out = frames[:limit]
            del frames[:limit]
            if kinds is None:
                self._taken = self._kind is not _TEXT
            else:
                self._taken = kinds[:limit]
                del kinds[:limit]
        self._taken_count = len(out)
        self._queued -= sum(map(len, out))
        if self._paused and self._queued <= self._low:
            self._resume()
        return out

    async def receive(self, timeout: float | None = None) -> PicowsMessage:
        """One message, aiohttp-style: ``TEXT``/``BINARY`` with the payload as bytes, then
        ``ERROR`` (an error ended the socket) or ``CLOSE`` (``data`` the code, ``extra`` the
        reason)."""
        if not self._frames and not self._ended:
            async with asyncio.timeout(timeout):
                await self._wait()
        batch = await self.receive_batch(1)
        if batch:
            binary = self.taken_kinds[0]
            kind = aiohttp.WSMsgType.BINARY if binary else aiohttp.WSMsgType.TEXT
            return PicowsMessage(kind, batch[0], None)
        if self._exception is not None:
            return PicowsMessage(aiohttp.WSMsgType.ERROR, self._exception, None)
        return PicowsMessage(aiohttp.WSMsgType.CLOSE, self._close_code, self._close_reason)

    async def send_str(self, data: str, compress: int | None = None) -> None:
        await self.send_bytes(data.encode(), text=True)

    async def send_bytes(self, data: bytes, *, text: bool = False) -> None:
        """Send one frame (TEXT or BINARY); ``ConnectionResetError`` once closing."""
        transport = self._transport
        if transport is None or self.closed:
            raise ConnectionResetError("cannot send on a closing WebSocket")
        transport.send(_TEXT if text else _BINARY, data)
        if self._write_waiter is not None:  # the socket buffer is full: wait for it to drain
            await asyncio.shield(self._write_waiter)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """Send a CLOSE (``code``, ``message``), wait up to :data:`CLOSE_TIMEOUT` for the peer's,
        then drop the connection; ``False`` if it was closed already."""
        transport = self._transport
        if self._closing or self._disconnected or transport is None:
            return False
        self._closing = True
        if self._close_code is None:
            self._close_code = code
        if not transport.is_close_frame_sent:
            transport.send_close(cast(WSCloseCode, code), message)
        self._end()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.shield(self._drained())
        transport.disconnect(graceful=False)
        with contextlib.suppress(Exception):
            await transport.wait_disconnected()
        return True

    # -- picows callbacks ---------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        # picows doubles its read buffer whenever a read fills it, so under a flood one read
        # would take all the kernel holds (megabytes on a fast link, autotuned): a fixed
        # kernel receive buffer bounds each read, hence memory, and pushes back over TCP
        sock = transport.underlying_transport.get_extra_info("socket")
        if sock is not None and self._receive_buffer:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if transport.is_close_frame_sent and self._after_close(transport, frame):
            return
        mtype = frame.msg_type
        if (mtype is _BINARY or mtype is _TEXT) and frame.fin and self._parts is None:
            data = frame.get_payload_as_bytes()
            kinds = self._kinds
            if kinds is not None:
                kinds.append(mtype is _BINARY)
            elif mtype is not self._kind:
                self._kinds_mixed(mtype)
            self._frames.append(data)
            self._queued += len(data)
            if self._queued > self._high and not self._paused:
                self._pause()
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        elif mtype is _CLOSE:
            self._peer_closed(transport, frame)
        elif mtype is _BINARY or mtype is _TEXT or mtype is _CONTINUATION:
            self._fragment(transport, frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._disconnected = True
        # picows keeps the error that made it disconnect for wait_disconnected(): take it there
        # (it is reported below from the CLOSE picows sent), so asyncio never logs it as lost
        asyncio.get_running_loop().create_task(_reap(transport), name="picows-reap")
        if self._close_code is None:
            shake = transport.close_handshake
            sent = shake.sent if shake is not None else None
            if sent is not None:  # picows closed it: protocol error, too big, or no pong
                self._local_failure(sent.code, sent.reason)
            else:
                self._failed(_ABNORMAL, ConnectionResetError("connection lost"))
        self._end()
        write = self._write_waiter
        if write is not None:
            self._write_waiter = None
            if not write.done():
                write.set_result(None)

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        self._awaiting_pong = True
        transport.send_ping()

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        if frame.msg_type is _PONG:
            self._awaiting_pong = False
            return True
        return False

    def pause_writing(self) -> None:
        if self._write_waiter is None:
            self._write_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- internals ------------------------------------------------------------------------------

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    async def _drained(self) -> None:
        transport = self._transport
        if transport is not None:
            await transport.wait_disconnected()

    def _end(self) -> None:
        self._ended = True
        self._parts = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _failed(self, code: int, exc: BaseException) -> None:
        if self._close_code is None:
            self._close_code = code
            self._close_reason = str(exc)
            self._exception = exc

    def _pause(self) -> None:
        transport = self._transport
        if transport is not None and not self._disconnected:
            self._paused = True
            transport.underlying_transport.pause_reading()

    def _resume(self) -> None:
        self._paused = False
        transport = self._transport
        if transport is not None and not self._disconnected:
            transport.underlying_transport.resume_reading()

    def _after_close(self, transport: WSTransport, frame: WSFrame) -> bool:
        """A frame after a CLOSE went out: ``True`` when it is not data to deliver. picows
        sends a CLOSE on its own after a parse error or a missing pong; only a frame over the
        size cap goes on being parsed then (its header passed): it ends the stream. A frame
        parsed before such an error is delivered just after it, and kept."""
        if frame.msg_type is _CLOSE:
            self._peer_closed(transport, frame)
            return True
        if self._ended:
            return True
        if frame.payload_size > self._max_message:
            self._local_failure(WSCloseCode.MESSAGE_TOO_BIG, "message over the size limit")
            self._end()
            return True
        return False

    def _kinds_mixed(self, kind: WSMsgType) -> None:
        """A frame of another kind than those queued (called before it is queued)."""
        if self._frames:
            self._kinds = [self._kind is not _TEXT] * len(self._frames)
            self._kinds.append(kind is _BINARY)
        self._kind = kind

    def _local_failure(self, code: WSCloseCode, reason: str) -> None:
        """picows closed the socket itself (``code``, ``reason`` of the CLOSE it sent)."""
        if self._awaiting_pong and code is WSCloseCode.GOING_AWAY:
            self._failed(_ABNORMAL, TimeoutError(f"heartbeat: {reason}"))
        else:
            self._failed(_code(code), ConnectionError(reason or str(code)))

    def _peer_closed(self, transport: WSTransport, frame: WSFrame) -> None:
        code = frame.get_close_code()
        shake = transport.close_handshake
        sent = shake.sent if shake is not None else None
        if sent is not None and not self._closing:  # the answer to a CLOSE picows sent
            self._local_failure(sent.code, sent.reason)
        elif self._close_code is None:
            value = _code(code)
            self._close_code = value if value else 1005
            self._close_reason = frame.get_close_reason()
        if not transport.is_close_frame_sent:
            transport.send_close(code if _code(code) else WSCloseCode.OK)
        self._end()
        transport.disconnect()

    def _fragment(self, transport: WSTransport, frame: WSFrame) -> None:
        """Assemble a fragmented message (TEXT/BINARY without FIN, then CONTINUATIONs)."""
        starts = frame.msg_type is not _CONTINUATION
        if starts == (self._parts is not None):  # a start inside a message, or a stray part
            self._protocol_error(transport, 1002, "unexpected fragment")
            return
        parts = self._parts if self._parts is not None else []
        if starts:
            self._parts_binary = frame.msg_type is _BINARY
        data = frame.get_payload_as_bytes()
        self._parts_size += len(data)
        if self._parts_size > self._max_message:
            self._protocol_error(
                transport, 1009, f"message over the {self._max_message}-byte limit"
            )
            return
        parts.append(data)
        self._parts = parts
        if not frame.fin:
            return
        self._parts, self._parts_size = None, 0
        message = b"".join(parts)
        kinds = self._kinds
        kind = _BINARY if self._parts_binary else _TEXT
        if kinds is not None:
            kinds.append(self._parts_binary)
        elif kind is not self._kind:
            self._kinds_mixed(kind)
        self._frames.append(message)
        self._queued += len(message)
        if self._queued > self._high and not self._paused:
            self._pause()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _protocol_error(self, transport: WSTransport, code: int, reason: str) -> None:
        self._failed(code, ConnectionError(reason))
        transport.send_close(WSCloseCode(code), reason.encode())
        self._end()
        transport.disconnect()


def _code(code: object) -> int:
    """A close code as an int (picows gives a ``WSCloseCode``, or an int outside it)."""
    value = getattr(code, "value", code)
    return value if isinstance(value, int) else 0


async def _reap(transport: WSTransport) -> None:
    with contextlib.suppress(Exception):
        await transport.wait_disconnected()


def _picows_ssl(ssl_setting: ssl.SSLContext | bool) -> ssl.SSLContext | None:
    """The aiohttp-style TLS setting as picows takes it (``False``: verification off)."""
    if isinstance(ssl_setting, ssl.SSLContext):
        return ssl_setting
    if ssl_setting is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return None


async def open_picows(
    url: str,
    *,
    headers: Mapping[str, str],
    ssl_setting: ssl.SSLContext | bool,
    heartbeat: float | None,
    max_message_size: int,
    timeout: float,
    tls_error: Callable[[BaseException], Exception],
    display_url: str,
) -> PicowsWebSocket:
    """Open ``url`` with picows; errors in the ibstream tree, as the aiohttp handshake's.

    ``display_url`` names the socket in messages (never the query: it may hold a token).
    """
    socket = PicowsWebSocket(max_message_size=max_message_size)
    interval = heartbeat if heartbeat is not None and heartbeat > 0 else None
    try:
        async with asyncio.timeout(timeout):
            await ws_connect(
                lambda: socket,
                url,
                ssl_context=_picows_ssl(ssl_setting) if url.startswith("wss:") else None,
                websocket_handshake_timeout=timeout,
                logger_name=logging.getLogger("ibstream.ws.picows"),
                enable_auto_ping=interval is not None,
                auto_ping_idle_timeout=interval or 10.0,
                auto_ping_reply_timeout=(interval or 10.0) / 2,
                auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
                enable_auto_pong=True,
                max_frame_size=max_message_size,
                extra_headers=dict(headers),
                max_redirects=0,
            )
    except ssl.SSLError as exc:  # certificate errors included
        raise tls_error(exc) from exc
    except WSHandshakeError as exc:
        status = exc.response.status if exc.response is not None else None
        if status == 401:
            raise NotAuthenticated("WebSocket handshake refused: not authenticated") from None
        if status is None:
            raise GatewayUnreachable(
                f"WebSocket {display_url}: not a WebSocket server ({exc})"
            ) from None
        body = (exc.raw_body or b"").decode("utf-8", "replace")
        raise HTTPStatusError("GET", "/ws", int(status), body or str(exc)) from None
    except TimeoutError as exc:  # before OSError: TimeoutError is one
        raise StreamTimeout(f"WebSocket handshake with {display_url} timed out") from exc
    except (OSError, WSError) as exc:
        raise GatewayUnreachable(f"WebSocket {display_url} unreachable: {exc}") from exc
    except ValueError as exc:  # picows: a URL it cannot parse
        raise InvalidArgument("url", f"invalid WebSocket URL {display_url!r}") from exc
    return socket
