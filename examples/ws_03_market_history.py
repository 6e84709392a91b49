"""Stream historical bars (IBind's ``ws_03_market_history``).

IBind v1 needed a custom ``IbkrSubscriptionProcessor`` whose ``make_unsubscribe_payload`` used the
server id (``umh+SERVERID``) and a loop over ``ws_client.server_ids(IbkrWsKey.MARKET_HISTORY)`` to
unsubscribe. ibstream tracks the server id of each history stream itself: ``unsubscribe()`` (or
leaving the ``with`` block) sends the right ``umh`` message, and streams beyond IBKR's five
concurrent history requests wait in the ``QUEUED`` state.

    python examples/ws_03_market_history.py --sim --duration 3
"""

from __future__ import annotations

import time

from _gateway import gateway, parse_args

import ibstream

AAPL = 265598


def main() -> None:
    args = parse_args(__doc__ or "")
    spec = ibstream.MarketHistorySpec(
        AAPL, period="1min", bar="1min", outside_rth=True, source="trades", format="%o/%c/%h/%l"
    )
    with gateway(args) as gw, ibstream.Client(gw.url, **gw.options) as client:
        started = time.monotonic()
        with client.subscribe(spec) as history:
            print("subscribed:", history.wait(10), history.status.name)
            try:
                while not gw.expired(started):
                    try:
                        event = history.get(timeout=1.0)
                    except ibstream.StreamTimeout:
                        continue
                    if isinstance(event, ibstream.MarketHistory):
                        last = event.bars[-1] if event.bars else None
                        print(
                            "MarketHistory",
                            event.conid,
                            f"server_id={event.server_id}",
                            f"bars={len(event.bars)}",
                            f"last={last}",
                        )
            except KeyboardInterrupt:
                print("KeyboardInterrupt")
        print("left the history stream", history.key)


if __name__ == "__main__":
    main()
