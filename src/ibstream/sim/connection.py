"""One simulated WebSocket connection: raw frame writer and per-socket subscription state.

Frames are written straight to the transport with :func:`ibstream.sim.wire.encode_frame`, so
sending is synchronous (fan-out needs no awaits), binary/invalid-UTF-8 text frames are possible
(protocol.md §1.5, §8.15) and saturation can batch many frames per ``write``. Subscription state
is per socket and discarded on close (§8.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ibstream.sim.wire import OP_BINARY, OP_TEXT, dumps, encode_frame

__all__ = ["Connection", "Sub"]

_ids = itertools.count(1)

MAX_BUFFER = 64 * 1024 * 1024
"""A client that lets more than this pile up unread is dropped (protects the simulator)."""


@dataclass(slots=True)
class Sub:
    """One live subscription on one socket."""

    key: str
    """``md:CONID``, ``mh:SERVERID``, ``bd:ACCT``, ``or``, ``tr``, ``pl``, ``sd:ACCT``,
    ``ld:ACCT``."""
    topic: str
    """Echo topic of its frames, e.g. ``smd+265598``."""
    args: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    server_id: str = ""
    conid: int = 0
    created: float = 0.0
    expires_at: float | None = None
    task: asyncio.Task[None] | None = None
    saturating: bool = False

    def describe(self) -> dict[str, Any]:
        """JSON-able view for ``active_subscriptions()`` / the admin API."""
        d: dict[str, Any] = {"key": self.key, "topic": self.topic}
        if self.server_id:
            d["server_id"] = self.server_id
        if self.fields:
            d["fields"] = list(self.fields)
        return d


class Connection:
    """A WebSocket peer of the simulated gateway."""

    def __init__(self, ws: web.WebSocketResponse, binary: bool) -> None:
        self.id = next(_ids)
        self.ws = ws
        writer = ws._writer
        assert writer is not None, "prepare() the response first"
        self._transport = writer.transport
        self._protocol = writer.protocol
        self.opcode = OP_BINARY if binary else OP_TEXT
        self.session_ok = False
        """The socket presented a valid session (cookie or ``{"session":…}``) (§1.3)."""
        self.authed = False
        """The opening burst was sent (§1.4); subscribing before this is 'early' (§8.1)."""
        self.subs: dict[str, Sub] = {}
        self.received: list[str] = []
        self.activity = asyncio.Event()
        """Set whenever a message is received (see :meth:`wait_received`)."""
        self.sent_frames = 0

    # --- writing -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the socket can no longer be written to."""
        return self.ws.closed or self._transport.is_closing()

    def send(self, obj: Any) -> None:
        """Encode and send one JSON object as a text (or binary) frame."""
        self.send_payload(dumps(obj))

    def send_payload(self, payload: bytes, opcode: int | None = None) -> None:
        """Send raw payload bytes with the socket's opcode (or ``opcode``)."""
        if self.closed:
            return
        self._transport.write(encode_frame(payload, self.opcode if opcode is None else opcode))
        self.sent_frames += 1
        if self._transport.get_write_buffer_size() > MAX_BUFFER:
            self.abort()

    def send_many(self, payloads: Iterable[bytes]) -> int:
        """Write many pre-encoded payloads in one ``transport.write``; returns the count."""
        if self.closed:
            return 0
        op = self.opcode
        chunk = [encode_frame(p, op) for p in payloads]
        self._transport.write(b"".join(chunk))
        self.sent_frames += len(chunk)
        return len(chunk)

    @property
    def paused(self) -> bool:
        """Whether the transport asked us to stop writing (flow control)."""
        return bool(getattr(self._protocol, "_paused", False))

    async def drain(self) -> None:
        """Wait until the transport accepts more data."""
        if self.paused and not self.closed:
            await self._protocol._drain_helper()

    def record(self, text: str) -> None:
        """Log one received C→S message."""
        self.received.append(text)
        self.activity.set()

    async def wait_received(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` messages were received (or ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count:
            left = deadline - loop.time()
            if left <= 0 or self.closed:
                return False
            self.activity.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.activity.wait(), left)
        return True

    # --- closing -------------------------------------------------------------------------

    def abort(self) -> None:
        """Abrupt reset: drop the TCP connection without a close frame."""
        self.clear_subs()
        self._transport.abort()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        """Clean close with ``code`` (§1.6: the gateway closes with 1000 and empty reason)."""
        self.clear_subs()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, message=message), 2.0)
        if not self._transport.is_closing():
            self._transport.abort()

    # --- subscriptions -------------------------------------------------------------------

    def add_sub(self, sub: Sub) -> Sub:
        """Register ``sub`` (replacing and cancelling any previous one with the same key)."""
        self.drop_sub(sub.key)
        self.subs[sub.key] = sub
        return sub

    def holds(self, sub: Sub, now: Callable[[], float]) -> bool:
        """``sub`` still streams here: the socket is open, no other subscription replaced it,
        and it has not expired (silently, §8.4) by the simulated time ``now()``."""
        if self.closed or self.subs.get(sub.key) is not sub:
            return False
        return sub.expires_at is None or now() < sub.expires_at

    def drop_sub(self, key: str) -> Sub | None:
        """Remove one subscription and cancel its task."""
        sub = self.subs.pop(key, None)
        if sub is not None and sub.task is not None:
            sub.task.cancel()
        return sub

    def clear_subs(self) -> None:
        """Discard every subscription of this socket (§8.2)."""
        for key in list(self.subs):
            self.drop_sub(key)

    def describe(self) -> dict[str, Any]:
        """JSON-able view for the admin API."""
        return {
            "id": self.id,
            "authenticated": self.authed,
            "subscriptions": [s.describe() for s in self.subs.values()],
            "received": len(self.received),
            "sent": self.sent_frames,
        }
