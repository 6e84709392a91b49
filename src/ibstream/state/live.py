"""The live state of one session, and its snapshot API for consumers that join late.

:class:`LiveState` groups the pure state objects the client's router keeps up to date
(``tickers``, ``orders``, ``trades``, ``account``). IBKR sends deltas after the first frame of a
stream, so a consumer that joins a live stream needs the current state first:
:meth:`LiveState.snapshot` gives it as ordinary events of that stream (``MarketData`` with every
known field, one ``OrderUpdate`` per order, the trades, ``Pnl`` rows, summary and ledger), made
from the state itself, so the service, the threaded client and asyncio users share one answer.
"""

from __future__ import annotations

from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    Event,
    MarketData,
    OrderUpdate,
    Pnl,
)
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.state.account import AccountState
from ibstream.state.orders import DEFAULT_MAX_TERMINAL_ORDERS, OrderBook
from ibstream.state.ticker import Tickers
from ibstream.state.trades import DEFAULT_MAX_TRADES, TradeBook

__all__ = ["LiveState", "book_metrics"]


def book_metrics(orders: OrderBook, trades: TradeBook) -> dict[str, dict[str, int | None]]:
    """What the order and trade books keep and have forgotten (a client's ``metrics()``)."""
    return {
        "orders": {
            "kept": len(orders),
            "open": len(orders) - orders.terminal_count,
            "max_terminal": orders.max_terminal,
            "evicted": orders.evicted,
            "late_updates": orders.late_updates,
        },
        "trades": {
            "kept": len(trades),
            "max": trades.max_size,
            "evicted": trades.evicted,
            "duplicates": trades.duplicates,
        },
    }


class LiveState:
    """Tickers, orders, trades and account state of one session (pure, updated by the router).

    ``max_terminal_orders`` and ``max_trades`` bound the books (:class:`OrderBook`,
    :class:`TradeBook`; ``None``: unbounded)."""

    __slots__ = ("account", "orders", "tickers", "trades")

    def __init__(
        self,
        *,
        max_terminal_orders: int | None = DEFAULT_MAX_TERMINAL_ORDERS,
        max_trades: int | None = DEFAULT_MAX_TRADES,
    ) -> None:
        self.tickers = Tickers()
        self.orders = OrderBook(max_terminal=max_terminal_orders)
        self.trades = TradeBook(max_trades)
        self.account = AccountState()

    def metrics(self) -> dict[str, dict[str, int | None]]:
        """See :func:`book_metrics`."""
        return book_metrics(self.orders, self.trades)

    def __repr__(self) -> str:
        return (
            f"<LiveState tickers={len(self.tickers)} orders={len(self.orders)} "
            f"trades={len(self.trades.trades())}>"
        )

    def snapshot(self, key: StreamKey) -> list[Event]:
        """The current state of stream ``key`` as events of that stream (empty if none known)."""
        topic = key.topic
        if topic is Topic.MARKET_DATA:
            return self._market_data(key)
        if topic is Topic.ORDERS:
            return [
                OrderUpdate(
                    key=key,
                    account=o.account,
                    order_id=o.order_id,
                    conid=o.conid,
                    status=o.status.value if o.status is not None else None,
                    changes=dict(o.fields),
                    raw={},
                )
                for o in self.orders.orders()
            ]
        if topic is Topic.TRADES:
            return list(self.trades.trades())
        if topic is Topic.PNL:
            return [
                Pnl(
                    key=key,
                    account=r.account,
                    row=r.row,
                    row_type=r.row_type,
                    daily_pnl=r.daily_pnl,
                    unrealized_pnl=r.unrealized_pnl,
                    net_liquidity=r.net_liquidity,
                    excess_liquidity=r.excess_liquidity,
                    market_value=r.market_value,
                    raw={},
                )
                for r in self.account.pnl.values()
            ]
        if topic is Topic.ACCOUNT_SUMMARY:
            values = self.account.summary(key.ident)
            if not values:
                return []
            ts = self.account.summary_timestamp(key.ident)
            return [AccountSummary(key=key, account=key.ident, timestamp=ts, values=values, raw={})]
        if topic is Topic.ACCOUNT_LEDGER:
            return [
                AccountLedger(
                    key=key,
                    account=b.account,
                    currency=b.currency,
                    timestamp=b.timestamp,
                    values=dict(b.values),
                    raw={},
                )
                for b in self.account.ledger(key.ident).values()
            ]
        return []

    def _market_data(self, key: StreamKey) -> list[Event]:
        ident = key.ident.partition("@")[0]
        ticker = self.tickers.get(int(ident)) if ident.isdigit() else None
        if ticker is None or not ticker.values:
            return []
        return [
            MarketData(
                key=key,
                conid=ticker.conid,
                server_id=ticker.server_id,
                updated_ms=ticker.updated_ms,
                values=dict(ticker.values),
                # closed/halted are read from the raw last price (C/H prefix)
                raw={str(k): v for k, v in ticker.raw.items()},
            )
        ]
