"""Open a bus by URL: ``nats://`` -> :class:`NatsBus`, ``redis://`` -> :class:`RedisBus`."""

from __future__ import annotations

from ibstream.exceptions import InvalidArgument
from ibstream.remote.bus import Bus, Retention
from ibstream.remote.wire import Layout

__all__ = ["open_bus"]


def open_bus(url: str, *, prefix: str = "ibs", retention: Retention | None = None) -> Bus:
    """A bus for ``nats://...`` or ``redis://...`` / ``rediss://...`` (not started)."""
    layout = Layout(prefix)
    if url.startswith(("nats://", "tls://", "ws://", "wss://")):
        from ibstream.remote.nats_bus import NatsBus

        return NatsBus(url, layout, retention or Retention())
    if url.startswith(("redis://", "rediss://", "unix://")):
        from ibstream.remote.redis_bus import RedisBus

        return RedisBus(url, layout, retention or Retention())
    raise InvalidArgument("url", f"a nats:// or redis:// URL, got {url!r}")
