"""Subscription objects, handles and sinks (IBind's v2 example, ``ws_04_ws_v2``).

IBind 0.2 builds ``MarketDataSubscription(conid=..., fields=...)``, ``OrdersSubscription()``,
``PnlSubscription()``... passes them to ``IbkrWsClient.subscribe``, which returns a
``SubscriptionHandle`` (``wait``, ``status``, ``unsubscribe``), and delivers events to an
``EventSink`` (``CallbackSink``, ``QueueSink``, ``CompositeSink``, ``LogSink``). ibstream has the
same shape: specs, handles, ``wait_all`` and sinks; the sinks run on one dispatcher thread with a
bounded hand-off, so a slow callback never stalls the socket.

    python examples/ws_04_v2_sinks.py --sim --duration 3
"""

from __future__ import annotations

import logging
import time
from typing import Any

from _gateway import gateway, parse_args

import ibstream


def on_market_data(event: ibstream.MarketData) -> None:
    print("MarketData", event.conid, event.values.get(31))


def on_pnl(event: ibstream.Pnl) -> None:
    print("Pnl", event.row, event.daily_pnl, event.unrealized_pnl)


def on_lifecycle(event: Any) -> None:
    print("Lifecycle", type(event).__name__, getattr(event, "current", None))


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.basicConfig(level=logging.WARNING)
    callbacks = ibstream.CallbackSink()
    callbacks.on(ibstream.MarketData, on_market_data)
    callbacks.on(ibstream.Pnl, on_pnl)
    callbacks.on(ibstream.LifecycleEvent, on_lifecycle)
    sink = ibstream.CompositeSink(callbacks, ibstream.LogSink(level=logging.DEBUG))
    with gateway(args) as gw, ibstream.Client(gw.url, sink=sink, **gw.options) as client:
        specs = [
            ibstream.AccountSummarySpec(gw.account),
            ibstream.AccountLedgerSpec(gw.account),
            ibstream.MarketDataSpec(265598, fields=(31, 84, 86)),
            ibstream.OrdersSpec(),
            ibstream.PnlSpec(),
            ibstream.TradesSpec(),
        ]
        handles = [client.subscribe(spec) for spec in specs]
        failed = ibstream.wait_all(handles, timeout=10)
        for handle in handles:
            print("handle", handle.key, handle.status.name)
        print("failed:", failed)
        started = time.monotonic()
        try:
            while not gw.expired(started):
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("Interrupt")
        for handle in handles:
            handle.unsubscribe()
        print("metrics:", client.metrics()["sinks"])


if __name__ == "__main__":
    main()
