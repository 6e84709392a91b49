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
    "ibstream.auth",
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
    "ibstream.orders",
    "ibstream.protocol.symbols",
    "ibstream.protocol.contracts",
    "ibstream.protocol.portfolio",
    "ibstream.aio.contracts",
    "ibstream.aio.marketdata",
    "ibstream.aio.portfolio",
    "ibstream.aio.pacing",
    "ibstream.sinks",
    "ibstream.sync",
)

if TYPE_CHECKING:
    from ibstream.aio.client import *
    from ibstream.aio.contracts import *
    from ibstream.aio.marketdata import *
    from ibstream.aio.pacing import *
    from ibstream.aio.portfolio import *
    from ibstream.aio.subscription import *
    from ibstream.auth import *
    from ibstream.backoff import *
    from ibstream.exceptions import *
    from ibstream.orders import *
    from ibstream.protocol.connection import *
    from ibstream.protocol.contracts import *
    from ibstream.protocol.decoding import *
    from ibstream.protocol.events import *
    from ibstream.protocol.fields import *
    from ibstream.protocol.lifecycle import *
    from ibstream.protocol.portfolio import *
    from ibstream.protocol.specs import *
    from ibstream.protocol.symbols import *
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


__all__ = [
    "COMBO_CONID",
    "DEFAULT_FIELDS",
    "DEFAULT_MAX_BARS",
    "DEFAULT_MAX_TERMINAL_ORDERS",
    "DEFAULT_MAX_TRADES",
    "DEFAULT_OAUTH_URL",
    "FIELDS",
    "FIELD_ALIASES",
    "HISTORY_BARS",
    "HISTORY_SOURCES",
    "MAX_POSITION_PAGES",
    "MONTH_CODES",
    "ORDER_FILTERS",
    "POSITIONS_PAGE_SIZE",
    "PROGRAMMING_ERRORS",
    "SNAPSHOT_BATCH",
    "AccountInfo",
    "AccountLedger",
    "AccountLedgerSpec",
    "AccountSnapshot",
    "AccountState",
    "AccountSummary",
    "AccountSummarySpec",
    "Action",
    "ActionNotOffered",
    "ApplyFailed",
    "Auth",
    "AuthDescription",
    "AuthStatus",
    "AuthenticationError",
    "Availability",
    "Bar",
    "Bracket",
    "BracketHandles",
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
    "Contract",
    "ContractDetails",
    "Contracts",
    "CurrencyBalance",
    "ErrorMessage",
    "Event",
    "EventStream",
    "Execution",
    "ExerciseAck",
    "ExerciseContent",
    "ExerciseDesk",
    "ExerciseInterrupted",
    "ExercisePrompt",
    "ExerciseRejected",
    "ExerciseTicket",
    "Fatal",
    "FieldInfo",
    "FieldKind",
    "FieldValue",
    "FutureContract",
    "Gap",
    "GatewayError",
    "GatewaySession",
    "GatewayUnreachable",
    "HTTPStatusError",
    "HandleOwner",
    "Heartbeat",
    "HistoryBars",
    "HistoryUnsubscribed",
    "IBStreamError",
    "InstrumentQuery",
    "InvalidArgument",
    "InvalidState",
    "LadderRow",
    "LedgerBalance",
    "LedgerUnsubscribed",
    "LifecycleEvent",
    "LimitExceeded",
    "Limits",
    "Listing",
    "LivePositions",
    "LiveState",
    "LogSink",
    "Malformed",
    "MarginChange",
    "MarketData",
    "MarketDataRest",
    "MarketDataSpec",
    "MarketHistories",
    "MarketHistory",
    "MarketHistorySpec",
    "Modification",
    "NotAuthenticated",
    "NotFound",
    "Notification",
    "OAuth1a",
    "OAuthClockSkew",
    "OAuthConfig",
    "OAuthConfigError",
    "OAuthError",
    "OAuthSignatureRejected",
    "OAuthTokenMismatch",
    "OAuthTokenRevoked",
    "OcaGroup",
    "Order",
    "OrderBook",
    "OrderHandle",
    "OrderNotFilled",
    "OrderPrompt",
    "OrderRejected",
    "OrderRequest",
    "OrderStateUnknown",
    "OrderStatus",
    "OrderStatusInfo",
    "OrderType",
    "OrderUpdate",
    "OrdersSpec",
    "Pnl",
    "PnlRow",
    "PnlSpec",
    "PollAuthStatus",
    "Portfolio",
    "PortfolioAccount",
    "Position",
    "PositionBook",
    "PositionChange",
    "PositionsView",
    "PriceLadder",
    "PriceLadderSpec",
    "PriceLadderState",
    "PriceLadders",
    "Prompt",
    "PromptPolicy",
    "PromptsDeclined",
    "ProtocolConfig",
    "ProtocolError",
    "ProtocolEvent",
    "QueryKind",
    "QueueReader",
    "QueueSink",
    "RateLimited",
    "RateLimiter",
    "RawFrame",
    "Reauthenticate",
    "Reconnect",
    "ReconnectPolicy",
    "RecorderSink",
    "Resolved",
    "SecType",
    "Section",
    "SessionState",
    "SessionStateChanged",
    "Side",
    "Sink",
    "SlowConsumerError",
    "Spec",
    "StockListing",
    "StreamClient",
    "StreamKey",
    "StreamLifecycle",
    "StreamProtocol",
    "StreamTimeout",
    "Strikes",
    "Subscription",
    "SubscriptionConflict",
    "SubscriptionError",
    "SubscriptionRejected",
    "SubscriptionState",
    "SubscriptionStateChanged",
    "SubscriptionTimeout",
    "SummaryItem",
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
    "TimeInForce",
    "Topic",
    "Trade",
    "TradeBook",
    "TradeChange",
    "TradeUpdated",
    "TradesOpened",
    "TradesSpec",
    "Trading",
    "TradingConfig",
    "TradingDisabled",
    "TradingError",
    "TrailingType",
    "Unknown",
    "UserAction",
    "ValueRejected",
    "WaitingForSession",
    "WhatIf",
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
    "parse_instrument",
    "parse_ledger",
    "parse_summary",
    "parse_value",
    "resolve_field",
    "session_message",
    "set_cache_limits",
    "tic_message",
    "to_float",
    "value_parser",
    "wait_all",
]
