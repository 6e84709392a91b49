"""Settings and lifecycle states of the asyncio client (:mod:`ibstream.aio.client`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ibstream.aio.wsbackend import WSBackend
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import InvalidArgument
from ibstream.orders.rails import TradingConfig
from ibstream.protocol.config import ProtocolConfig
from ibstream.state.orders import DEFAULT_MAX_TERMINAL_ORDERS
from ibstream.state.trades import DEFAULT_MAX_TRADES

__all__ = ["ClientConfig", "ClientState"]


class ClientState(Enum):
    """The lifecycle of a :class:`StreamClient` (the session itself is ``client.state``)."""

    NEW = "new"
    """Built, not started."""
    STARTING = "starting"
    """``start()`` runs: waiting for the first authenticated session."""
    RUNNING = "running"
    """Authenticated once; reconnects on its own from here."""
    STOPPING = "stopping"
    """``stop()`` runs."""
    STOPPED = "stopped"
    """Stopped by the user (terminal: a client runs once)."""
    FAILED = "failed"
    """Stopped by a fatal error, kept in ``client.error`` (terminal)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Settings of the asyncio client (timing of the session itself is in ``protocol``)."""

    #: Session timing and subscription rules of the sans-I/O core.
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    #: Builds the reconnect policy (backoff with jitter, fatal-error classifier).
    reconnect: Callable[[], ReconnectPolicy] = ReconnectPolicy
    #: Per-consumer buffer size (events); see ``ibstream.conflating`` for the overflow policy.
    buffer_size: int = 10_000
    #: Timeout of one REST request and of the WebSocket handshake.
    request_timeout: float = 10.0
    #: ``start()`` waits this long for the first authenticated session.
    start_timeout: float = 30.0
    #: Seed the order book from ``GET /iserver/account/orders`` when orders are subscribed.
    load_orders: bool = True
    #: Terminal orders ``client.orders`` keeps (filled, cancelled, rejected; the ones terminal
    #: longest ago go first, working orders always stay); ``None``: unbounded. A positive int.
    max_terminal_orders: int | None = DEFAULT_MAX_TERMINAL_ORDERS
    #: Executions ``client.trades`` keeps (the oldest by trade time go first); ``None``:
    #: unbounded. A positive int.
    max_trades: int | None = DEFAULT_MAX_TRADES
    #: WebSocket ping interval: a ping after this long without data; a pong missing for half
    #: of it closes the socket (both backends).
    ws_ping_interval: float | None = 10.0
    #: The library under the client WebSocket: "auto" (picows when installed, unless
    #: ``IBSTREAM_WS_BACKEND`` says otherwise), "aiohttp" or "picows" (ibstream.aio.wsbackend).
    #: A ``GatewayRest`` passed as ``rest=`` uses its own ``ws_backend`` argument instead.
    ws_backend: WSBackend = "auto"
    #: Order entry (``client.trading``): off unless ``TradingConfig(enabled=True)``.
    trading: TradingConfig = field(default_factory=TradingConfig)

    def __post_init__(self) -> None:
        for name in ("max_terminal_orders", "max_trades"):
            bound = getattr(self, name)
            if bound is not None and (type(bound) is not int or bound < 1):
                raise InvalidArgument(name, f"must be a positive int or None, got {bound!r}")
