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
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

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
    from ibstream.backoff import *
    from ibstream.exceptions import *
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
    "DEFAULT_MAX_TRADES",
    "FIELDS",
    "HISTORY_BARS",
    "HISTORY_SOURCES",
    "MAX_POSITION_PAGES",
    "MONTH_CODES",
    "ORDER_FILTERS",
    "POSITIONS_PAGE_SIZE",
    "SNAPSHOT_BATCH",
    "AccountInfo",
    "AccountLedger",
    "AccountLedgerSpec",
    "AccountSnapshot",
    "AccountState",
    "AccountSummary",
    "AccountSummarySpec",
    "Action",
    "AuthStatus",
    "AuthenticationError",
    "Availability",
    "Bar",
    "Bulletin",
    "CallbackSink",
    "Client",
    "ClientClosed",
    "ClientConfig",
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
    "Fatal",
    "FieldInfo",
    "FieldKind",
    "FieldValue",
    "FutureContract",
    "Gap",
    "GatewayError",
    "GatewayUnreachable",
    "HTTPStatusError",
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
    "Listing",
    "LivePositions",
    "LogSink",
    "Malformed",
    "MarketData",
    "MarketDataRest",
    "MarketDataSpec",
    "MarketHistories",
    "MarketHistory",
    "MarketHistorySpec",
    "NotAuthenticated",
    "NotFound",
    "Notification",
    "Order",
    "OrderBook",
    "OrderStatus",
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
    "PriceLadder",
    "PriceLadderSpec",
    "PriceLadderState",
    "PriceLadders",
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
    "Sink",
    "SlowConsumerError",
    "Spec",
    "StockListing",
    "StreamClient",
    "StreamKey",
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
    "Topic",
    "Trade",
    "TradeBook",
    "TradeChange",
    "TradesOpened",
    "TradesSpec",
    "Unknown",
    "WaitingForSession",
    "classify",
    "connect",
    "decode",
    "echo_message",
    "field_by_name",
    "field_id",
    "key_by_stream",
    "key_by_type",
    "normalize_order_status",
    "order_changes",
    "parse_availability",
    "parse_instrument",
    "parse_ledger",
    "parse_summary",
    "parse_value",
    "session_message",
    "tic_message",
    "to_float",
    "value_parser",
    "wait_all",
]
