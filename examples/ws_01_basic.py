"""Stream level-1 market data of one instrument and print it (IBind's ``ws_01_basic``).

IBind v1 started an ``IbkrWsClient``, sent ``subscribe('md+265598', {'fields': [...]},
needs_confirmation=False)``, read ``new_queue_accessor(IbkrWsKey.MARKET_DATA)`` in a polling loop
with ``time.sleep(1)``, then unsubscribed and called ``shutdown()``. With ibstream the stream is
a handle you iterate; leaving the ``with`` blocks unsubscribes and stops the client, also on
Ctrl-C.

    python examples/ws_01_basic.py --sim --duration 3
    python examples/ws_01_basic.py --url https://localhost:5000/v1/api --cacert gateway.pem
"""

from __future__ import annotations

import time

from _gateway import gateway, parse_args

import ibstream
from ibstream.state import field_id

AAPL = 265598
NAMES = ("symbol", "open", "high", "low", "close", "volume", "last_price")


def main() -> None:
    args = parse_args(__doc__ or "")
    fields = tuple(field_id(name) for name in NAMES)
    with gateway(args) as gw, ibstream.Client(gw.url, **gw.options) as client:
        started = time.monotonic()
        with client.subscribe(ibstream.MarketDataSpec(AAPL, fields=fields)) as aapl:
            print("subscribed:", aapl.wait(10), aapl.status.name)
            try:
                while not gw.expired(started):
                    try:
                        event = aapl.get(timeout=1.0)
                    except ibstream.StreamTimeout:
                        continue
                    if isinstance(event, ibstream.MarketData):
                        values = {
                            n: event.values[f]
                            for n, f in zip(NAMES, fields, strict=True)
                            if f in event.values
                        }
                        print("MarketData", event.conid, values)
            except KeyboardInterrupt:
                print("KeyboardInterrupt")
        print("last:", client.ticker_snapshot(AAPL))


if __name__ == "__main__":
    main()
