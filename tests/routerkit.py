"""What the router tests share: a driver's hooks that record what they are told, and an
authenticated sans-I/O protocol (no socket, no loop, time passed in)."""

from __future__ import annotations

import orjson

from ibstream.exceptions import ClientClosed
from ibstream.protocol.connection import ProtocolConfig, StreamProtocol
from ibstream.protocol.lifecycle import SessionStateChanged
from ibstream.protocol.specs import StreamKey

__all__ = ["Hooks", "authenticated"]


class Hooks:
    """Records what the router tells its driver."""

    def __init__(self) -> None:
        self.wakes = 0
        self.sessions: list[SessionStateChanged] = []
        self.active: list[StreamKey] = []
        self.running = True

    def wake(self) -> None:
        self.wakes += 1

    def check_running(self) -> None:
        if not self.running:
            raise ClientClosed("stopped")

    def session_changed(self, event: SessionStateChanged) -> None:
        self.sessions.append(event)

    def stream_active(self, key: StreamKey) -> None:
        self.active.append(key)


def authenticated(now: float) -> StreamProtocol:
    """A protocol connected and authenticated at ``now``, its output drained."""
    proto = StreamProtocol(ProtocolConfig())
    proto.connecting(now)
    proto.connection_made(now, "s" * 32)
    proto.receive_frame(orjson.dumps({"topic": "sts", "args": {"authenticated": True}}), now)
    proto.events_received()
    proto.data_to_send()
    return proto
