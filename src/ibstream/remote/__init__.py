"""Consume a bridged IBKR session from NATS JetStream or Redis Streams (``ibstream bridge``).

``ibstream.remote.connect(url)`` gives the consuming API of ``ibstream.connect`` backed by the
bus; see :mod:`ibstream.remote.client`. The wire format (subjects, dedupe ids, fencing tokens,
positions) is :mod:`ibstream.remote.wire`; bus messages become typed events in
:mod:`ibstream.remote.codec`. Needs the ``bridge`` extra: ``pip install 'ibstream[bridge]'``.
"""

from __future__ import annotations

from ibstream.remote.bus import Bus, Fenced, Message, Retention
from ibstream.remote.client import RemoteClient, RemoteSubscription, connect
from ibstream.remote.codec import event_from_dict, event_from_json
from ibstream.remote.factory import open_bus
from ibstream.remote.positions import RemotePositions
from ibstream.remote.wire import (
    POSITIONS_KEY,
    FenceGuard,
    Layout,
    Position,
    PositionUpdate,
    format_position,
    parse_position,
)

__all__ = [
    "POSITIONS_KEY",
    "Bus",
    "FenceGuard",
    "Fenced",
    "Layout",
    "Message",
    "Position",
    "PositionUpdate",
    "RemoteClient",
    "RemotePositions",
    "RemoteSubscription",
    "Retention",
    "connect",
    "event_from_dict",
    "event_from_json",
    "format_position",
    "open_bus",
    "parse_position",
]
