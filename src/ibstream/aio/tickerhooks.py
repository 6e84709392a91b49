"""ib_async-style ticker conveniences on top of the client's callbacks.

* :func:`on_ticker_update` — ``callback(ticker)`` after each update of one contract's live
  ticker (ib_async's ``ticker.updateEvent``);
* :func:`on_pending_tickers` — ``callback(tickers)`` once per event-loop iteration with every
  ticker that changed in it (ib_async's ``pendingTickersEvent``): a burst of frames becomes one
  call, so a GUI or a strategy recomputes once per batch, not once per frame.

Both run on the event loop after the ticker was merged (``client.ticker(conid)`` already shows the
new values); each returns a function that removes the hook. A callback that raises is logged
and counted like any client callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ibstream.protocol.events import MarketData
from ibstream.state import Ticker

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["on_pending_tickers", "on_ticker_update"]

log = logging.getLogger("ibstream.client")


def on_ticker_update(
    client: StreamClient, conid: int, callback: Callable[[Ticker], object]
) -> Callable[[], None]:
    """Call ``callback(ticker)`` after each market-data update of ``conid``."""

    def hook(event: MarketData) -> None:
        if event.conid == conid:
            callback(client.ticker(conid))

    return client.on(MarketData, hook)


def on_pending_tickers(
    client: StreamClient, callback: Callable[[list[Ticker]], object]
) -> Callable[[], None]:
    """Call ``callback(tickers)`` once per loop iteration with the tickers updated in it
    (each once, in order of first update)."""
    pending: dict[int, Ticker] = {}
    scheduled: list[asyncio.Handle] = []
    removed = False

    def flush() -> None:
        scheduled.clear()
        if removed or not pending:
            pending.clear()
            return
        batch = list(pending.values())
        pending.clear()
        try:
            callback(batch)
        except Exception:
            log.exception("pending-tickers callback %r failed", callback)

    def hook(event: MarketData) -> None:
        if event.conid not in pending:
            pending[event.conid] = client.ticker(event.conid)
        if not scheduled:
            scheduled.append(asyncio.get_running_loop().call_soon(flush))

    remove_hook = client.on(MarketData, hook)

    def remove() -> None:
        nonlocal removed
        removed = True
        remove_hook()
        for handle in scheduled:
            handle.cancel()
        scheduled.clear()

    return remove
