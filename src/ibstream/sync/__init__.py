"""The threaded API: ``ibstream.Client`` runs the asyncio client on one private loop thread.

* :class:`Client` — blocking start/stop, ``subscribe`` -> :class:`SyncSubscription`,
  ``events()`` -> :class:`SyncEventStream`, live tickers, and ``tickers``/``orders``/``trades``/
  ``account`` as copies of the asyncio client's ``Tickers``/``OrderBook``/``TradeBook``/
  ``AccountState`` (one model for both APIs), sinks.
* :func:`wait_all` — wait for several subscriptions; returns the ones that failed.
* :class:`AccountSnapshot` — a frozen view of an ``AccountState`` (for code that builds one).
"""

from __future__ import annotations

from ibstream.sync.client import Client
from ibstream.sync.handles import SyncEventStream, SyncSubscription, wait_all
from ibstream.sync.snapshots import AccountSnapshot

__all__ = ["AccountSnapshot", "Client", "SyncEventStream", "SyncSubscription", "wait_all"]
