"""What the bridge and the remote client need from a message bus, and how to open one.

Two implementations: :class:`~ibstream.remote.nats_bus.NatsBus` (NATS JetStream + KV) and
:class:`~ibstream.remote.redis_bus.RedisBus` (Redis Streams + hashes). Both carry the same
messages (:mod:`ibstream.remote.wire`); the bridge publishes to every bus it is given, a remote
client reads from one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from ibstream.exceptions import IBStreamError
from ibstream.protocol.specs import StreamKey
from ibstream.remote.wire import Layout, Position

__all__ = ["Bus", "Fenced", "Message", "Retention"]


class Fenced(IBStreamError):
    """The bus refused a write: a bridge with a newer fencing token has written since."""


@dataclass(frozen=True, slots=True)
class Message:
    """One event as read from the bus."""

    position: Position
    fence: int
    msg_id: str
    sent_ms: int  # the bridge's publish time, epoch ms
    body: bytes  # the event's JSON (``serialize.event_to_json``)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """How long each kind of stream is kept (explicit: both buses are bounded)."""

    #: Market data, history and ladders: messages kept per stream key, and for how long.
    market_data_per_key: int = 1_000
    market_data_age: float = 3_600.0
    #: Orders, trades and account values: seven days by default.
    reliable_age: float = 7 * 86_400.0
    reliable_per_key: int = 1_000_000
    #: Session, auth, bulletins, errors, lifecycle (keyless events).
    events_age: float = 86_400.0
    events_max: int = 100_000
    #: How long a dedupe id is remembered (NATS duplicate window, Redis marker expiry).
    dedupe_window: float = 600.0


class Bus(Protocol):
    """A bus: publishing and state (the bridge), reading (remote clients), demand, election."""

    layout: Layout

    async def start(self) -> None: ...

    async def provision(self) -> None:
        """Create streams and buckets with the configured retention (the bridge calls it)."""
        ...

    async def close(self) -> None: ...

    # -- publishing (the leader bridge) ----------------------------------------------------
    async def publish(
        self,
        key: StreamKey | None,
        event_type: str,
        body: bytes,
        *,
        msg_id: str,
        fence: int,
        sent_ms: int,
    ) -> tuple[Position, bool]:
        """Store one message; returns its position and whether it was a duplicate (dropped).

        Raises :class:`Fenced` when the bus knows a newer token, ``OSError``/bus errors when the
        bus cannot be reached (the bridge retries reliable topics).
        """
        ...

    async def put_state(
        self, key: StreamKey, entries: dict[str, bytes], watermark: Position
    ) -> None:
        """Write state entities of ``key`` (``entity -> StateEntry JSON``), then its watermark:
        every event of ``key`` up to ``watermark`` is reflected in the stored state."""
        ...

    # -- reading (remote clients) -----------------------------------------------------------
    async def state(self, key: StreamKey) -> tuple[Position | None, dict[str, bytes]]:
        """The watermark of ``key`` (read first) and then its state entities."""
        ...

    async def first_position(self, key: StreamKey) -> Position | None:
        """The position of the oldest message the bus still keeps for ``key`` (``None``: none)."""
        ...

    def read(self, key: StreamKey | None, after: Position | None) -> AsyncIterator[Message]:
        """Messages of stream ``key`` after ``after`` (``None``: from the oldest kept); with
        ``key=None`` every stream's messages from now on (``after`` ignored)."""
        ...

    # -- demand and election ----------------------------------------------------------------
    async def send_demand(self, payload: bytes) -> None: ...

    def demands(self) -> AsyncIterator[bytes]: ...

    async def acquire(self, node: str, ttl: float) -> int | None:
        """Take the leader lease for ``ttl`` s if nobody holds it; the fencing token or ``None``."""
        ...

    async def renew(self, node: str, token: int, ttl: float) -> bool:
        """Extend our lease; ``False`` if it is no longer ours."""
        ...

    async def release(self, node: str, token: int) -> None: ...
