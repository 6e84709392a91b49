"""Pure live state merged from the typed events of :mod:`ibstream.protocol.events`.

Every class here is updated in place by ``apply(event)`` and does no I/O, reads no clock and
takes no lock (style.md principles 1 and 12): the I/O layer feeds it, and hands immutable
snapshots (:class:`TickerSnapshot`, :class:`Order`, :class:`~ibstream.protocol.events.Trade`...)
to other threads.

* :class:`Ticker` / :class:`Tickers`: level-1 market data per conid (``smd``).
* :class:`PriceLadderState` / :class:`PriceLadders`: BookTrader ladders (``sbd``).
* :class:`OrderBook`: the account's orders merged by order id (``sor`` + REST seed); keeps
  every working order and at most ``max_terminal`` terminal ones.
* :class:`TradeBook`: executions de-duplicated by execution id (``str``); at most ``max_size``.
* :class:`AccountState`: P&L (``spl``), summary (``ssd``), ledger (``sld``).
* :class:`HistoryBars` / :class:`MarketHistories`: historical bars (``smh``).
* :class:`LiveState`: the four above that a client keeps, and their snapshot for late joiners.
* :class:`PositionBook`: positions per account, replaced by each REST read (``client.positions``).
"""

from __future__ import annotations

from ibstream.state.account import AccountState, LedgerBalance, PnlRow
from ibstream.state.history import DEFAULT_MAX_BARS, HistoryBars, MarketHistories
from ibstream.state.ladder import PriceLadders, PriceLadderState
from ibstream.state.live import LiveState
from ibstream.state.orders import (
    DEFAULT_MAX_TERMINAL_ORDERS,
    Order,
    OrderBook,
    OrderStatus,
    normalize_order_status,
)
from ibstream.state.positions import PositionBook, PositionChange
from ibstream.state.ticker import Ticker, Tickers, TickerSnapshot, field_id
from ibstream.state.trades import DEFAULT_MAX_TRADES, TradeBook, TradeChange

__all__ = [
    "DEFAULT_MAX_BARS",
    "DEFAULT_MAX_TERMINAL_ORDERS",
    "DEFAULT_MAX_TRADES",
    "AccountState",
    "HistoryBars",
    "LedgerBalance",
    "LiveState",
    "MarketHistories",
    "Order",
    "OrderBook",
    "OrderStatus",
    "PnlRow",
    "PositionBook",
    "PositionChange",
    "PriceLadderState",
    "PriceLadders",
    "Ticker",
    "TickerSnapshot",
    "Tickers",
    "TradeBook",
    "TradeChange",
    "field_id",
    "normalize_order_status",
]
