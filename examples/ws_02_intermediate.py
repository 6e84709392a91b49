"""Several streams at once, read through per-type queues (IBind's ``ws_02_intermediate``).

IBind v1 subscribed the channels ``md+265598``, ``or``, ``tr``, ``sd+ACCOUNT``, ``ld+ACCOUNT`` and
``pl`` (retrying ``subscribe`` until it returned ``True``), read one ``QueueAccessor`` per
``IbkrWsKey`` and installed ``signal`` handlers to unsubscribe and shut down. With ibstream the
channels are typed specs, a ``QueueSink`` keeps one bounded queue per event type (market data
conflates when you fall behind; orders and trades are never dropped), ``wait_all`` reports the
streams that failed, and the ``with`` block does the clean-up (Ctrl-C included).

    python examples/ws_02_intermediate.py --sim --duration 3
"""

from __future__ import annotations

import time

from _gateway import gateway, parse_args

import ibstream
from ibstream.serialize import event_to_dict

AAPL = 265598
FIELDS = (55, 71, 84, 86, 88, 85, 87, 7295, 7296, 70)
TYPES = (
    ibstream.MarketData,
    ibstream.OrderUpdate,
    ibstream.Trade,
    ibstream.AccountSummary,
    ibstream.AccountLedger,
    ibstream.Pnl,
)


def main() -> None:
    args = parse_args(__doc__ or "")
    queues = ibstream.QueueSink(maxsize=10_000)  # one queue per event class
    with gateway(args) as gw, ibstream.Client(gw.url, sink=queues, **gw.options) as client:
        specs = [
            ibstream.MarketDataSpec(AAPL, fields=FIELDS),
            ibstream.OrdersSpec(),
            ibstream.TradesSpec(),
            ibstream.AccountSummarySpec(gw.account),
            ibstream.AccountLedgerSpec(gw.account),
            ibstream.PnlSpec(),
        ]
        handles = [client.subscribe(spec) for spec in specs]
        failed = client.wait_all(handles, timeout=10)
        print("subscribed:", len(handles) - len(failed), "failed:", [str(h.key) for h in failed])
        readers = [queues.reader(t) for t in TYPES]
        started = time.monotonic()
        try:
            while not gw.expired(started):
                for reader in readers:
                    while (event := reader.get_nowait()) is not None:
                        print(type(event).__name__, event_to_dict(event))
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
        for handle in handles:
            handle.unsubscribe()
    print("stopped")


if __name__ == "__main__":
    main()
