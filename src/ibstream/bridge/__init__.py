"""``ibstream bridge``: publish one IBKR session to NATS JetStream and/or Redis Streams.

:class:`Bridge` (:mod:`ibstream.bridge.service`) holds the session while it holds the leader
lease, publishes every event with a dedupe id and a fencing token, keeps live state for late
joiners and follows consumers' demand leases; :mod:`ibstream.bridge.core` holds its decisions
without I/O. Consumers use :mod:`ibstream.remote`.
"""

from __future__ import annotations

from ibstream.bridge.core import DemandTable, LeaderLease, StateMirror, merge_event
from ibstream.bridge.service import Bridge, BridgeConfig, bridge_config
from ibstream.bridge.settings import BridgeSettings, load_bridge_settings

__all__ = [
    "Bridge",
    "BridgeConfig",
    "BridgeSettings",
    "DemandTable",
    "LeaderLease",
    "StateMirror",
    "bridge_config",
    "load_bridge_settings",
    "merge_event",
]
