"""The threaded API: ``ibstream.Client`` runs the asyncio client on one private loop thread.

* :class:`Client` — blocking start/stop, ``subscribe`` -> :class:`SyncSubscription`,
  ``events()`` -> :class:`SyncEventStream`, live tickers, order/trade/account snapshots, sinks.
* :func:`wait_all` — wait for several subscriptions; returns the ones that failed.
* :class:`AccountSnapshot` — an immutable copy of P&L, summaries and ledgers.
"""

from __future__ import annotations

from ibstream.sync.client import Client
from ibstream.sync.handles import SyncEventStream, SyncSubscription, wait_all
from ibstream.sync.snapshots import AccountSnapshot

__all__ = ["AccountSnapshot", "Client", "SyncEventStream", "SyncSubscription", "wait_all"]
