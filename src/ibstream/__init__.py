"""ibstream: stream the Interactive Brokers Client Portal Web API WebSocket, for real.

::

    import ibstream

    async with ibstream.connect("https://localhost:5000/v1/api", cacert="gateway.pem") as client:
        async with client.subscribe(ibstream.MarketDataSpec(265598)) as aapl:
            async for event in aapl:
                print(event)

The top-level names are imported lazily (the sans-I/O core can be used without loading aiohttp).
The public surface is ``__all__``: the union of the public modules' ``__all__`` lists below,
checked by ``tests/test_exports.py``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

#: the one version source (``pyproject.toml`` reads it; ``ibstream --version`` prints it)
__version__ = "0.2.0.dev0"

# A library never configures logging; this keeps "No handlers could be found" quiet and leaves
# the choice of handlers to the application (``ibstream`` CLI: ``--log-level``/``-v``).
logging.getLogger("ibstream").addHandler(logging.NullHandler())

#: public module -> the names it exports at the top level (its whole ``__all__``)
_PUBLIC_MODULES = (
    "ibstream.exceptions",
    "ibstream.protocol.specs",
    "ibstream.protocol.events",
    "ibstream.protocol.fields",
    "ibstream.protocol.lifecycle",
    "ibstream.protocol.connection",
    "ibstream.protocol.decoding",
    "ibstream.state",
    "ibstream.backoff",
    "ibstream.aio.client",
    "ibstream.aio.subscription",
    "ibstream.sinks",
    "ibstream.sync",
)

if TYPE_CHECKING:
    from ibstream.aio.client import *
    from ibstream.aio.subscription import *
    from ibstream.backoff import *
    from ibstream.exceptions import *
    from ibstream.protocol.connection import *
    from ibstream.protocol.decoding import *
    from ibstream.protocol.events import *
    from ibstream.protocol.fields import *
    from ibstream.protocol.lifecycle import *
    from ibstream.protocol.specs import *
    from ibstream.sinks import *
    from ibstream.state import *
    from ibstream.sync import *


def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for module in _PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            index.setdefault(name, module)
    return index


_INDEX: dict[str, str] | None = None


def __getattr__(name: str) -> Any:
    global _INDEX
    if name.startswith("__"):
        raise AttributeError(name)
    if _INDEX is None:
        _INDEX = _index()
    module = _INDEX.get(name)
    if module is None:
        raise AttributeError(f"module 'ibstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_index()))


__all__ = [  # resolved lazily by __getattr__; == union of the modules' __all__
    "DEFAULT_FIELDS",
    "DEFAULT_MAX_BARS",
    "DEFAULT_MAX_TRADES",
    "FIELDS",
    "FIELD_ALIASES",
    "HISTORY_BARS",
    "HISTORY_SOURCES",
    "ORDER_FILTERS",
    "PROGRAMMING_ERRORS",
    "AccountInfo",
    "AccountLedger",
    "AccountLedgerSpec",
    "AccountSnapshot",
    "AccountState",
    "AccountSummary",
    "AccountSummarySpec",
    "Action",
    "ApplyFailed",
    "AuthStatus",
    "AuthenticationError",
    "Availability",
    "Bar",
    "Bulletin",
    "CallbackSink",
    "Client",
    "ClientClosed",
    "ClientConfig",
    "ClientEvent",
    "ClientState",
    "Combo",
    "ComboId",
    "ComboLeg",
    "CompetingSession",
    "CompositeSink",
    "Confirmation",
    "ConnectionClosed",
    "ErrorMessage",
    "Event",
    "EventStream",
    "ExerciseAck",
    "ExerciseContent",
    "ExercisePrompt",
    "Fatal",
    "FieldInfo",
    "FieldKind",
    "FieldValue",
    "Gap",
    "GatewayError",
    "GatewayUnreachable",
    "HTTPStatusError",
    "HandleOwner",
    "Heartbeat",
    "HistoryBars",
    "HistoryUnsubscribed",
    "IBStreamError",
    "InvalidArgument",
    "InvalidState",
    "LadderRow",
    "LedgerBalance",
    "LedgerUnsubscribed",
    "LifecycleEvent",
    "LiveState",
    "LogSink",
    "Malformed",
    "MarketData",
    "MarketDataSpec",
    "MarketHistories",
    "MarketHistory",
    "MarketHistorySpec",
    "NotAuthenticated",
    "Notification",
    "Order",
    "OrderBook",
    "OrderPrompt",
    "OrderStatus",
    "OrderUpdate",
    "OrdersSpec",
    "Pnl",
    "PnlRow",
    "PnlSpec",
    "PollAuthStatus",
    "PriceLadder",
    "PriceLadderSpec",
    "PriceLadderState",
    "PriceLadders",
    "ProtocolConfig",
    "ProtocolError",
    "ProtocolEvent",
    "QueueReader",
    "QueueSink",
    "RawFrame",
    "Reauthenticate",
    "Reconnect",
    "ReconnectPolicy",
    "RecorderSink",
    "SessionState",
    "SessionStateChanged",
    "Sink",
    "SlowConsumerError",
    "Spec",
    "StreamClient",
    "StreamKey",
    "StreamLifecycle",
    "StreamProtocol",
    "StreamTimeout",
    "Subscription",
    "SubscriptionConflict",
    "SubscriptionError",
    "SubscriptionRejected",
    "SubscriptionState",
    "SubscriptionStateChanged",
    "SubscriptionTimeout",
    "SummaryUnsubscribed",
    "SummaryValue",
    "SyncEventStream",
    "SyncSubscription",
    "SystemLogin",
    "TLSError",
    "ThreadSafeBuffer",
    "TicReply",
    "Ticker",
    "TickerSnapshot",
    "Tickers",
    "Tickle",
    "Topic",
    "Trade",
    "TradeBook",
    "TradeChange",
    "TradeUpdated",
    "TradesOpened",
    "TradesSpec",
    "Unknown",
    "UserAction",
    "ValueRejected",
    "WaitingForSession",
    "cache_stats",
    "classify",
    "connect",
    "decode",
    "echo_message",
    "effective_spec",
    "field_by_name",
    "field_id",
    "field_name",
    "key_by_stream",
    "key_by_type",
    "normalize_order_status",
    "order_changes",
    "parse_availability",
    "parse_value",
    "resolve_field",
    "session_message",
    "set_cache_limits",
    "tic_message",
    "to_float",
    "value_parser",
    "wait_all",
]
