"""``ibstream serve``: one IBKR session, many consumers (extra: ``ibstream[service]``).

The service holds the one upstream session (:class:`~ibstream.aio.client.StreamClient`) and fans
it out over GraphQL (``/graphql``), a plain WebSocket protocol (``/stream``) and Server-Sent
Events (``/events``), sharing upstream subscriptions between consumers. See ``docs/service.md``.
"""

from __future__ import annotations

from ibstream._deps import require

require("strawberry-graphql", extra="service")
require("prometheus-client", extra="service")

from ibstream.service.app import Service, build_app, serve  # noqa: E402
from ibstream.service.config import ServiceConfig, load_config  # noqa: E402
from ibstream.service.hub import Consumer, Hub, Upstream  # noqa: E402

__all__ = [
    "Consumer",
    "Hub",
    "Service",
    "ServiceConfig",
    "Upstream",
    "build_app",
    "load_config",
    "serve",
]
