"""Contracts, snapshots, history and positions through the session (IBind's ``IbkrClient``
REST calls: ``stock_conid_by_symbol``, ``security_future_by_symbol``, ``search_strikes_by_conid``,
``live_marketdata_snapshot``, ``marketdata_history_by_conid``, ``positions``...).

With IBind these run in a second client beside the WebSocket one; with ibstream the client that
owns the session makes them, paced within IBKR's limits, with typed answers and errors.

    python examples/rest_01_contracts.py --sim
    python examples/rest_01_contracts.py --url https://localhost:5000/v1/api --cacert gateway.pem
"""

from __future__ import annotations

from _gateway import gateway, parse_args

import ibstream


def main() -> None:
    args = parse_args(__doc__ or "")
    with gateway(args) as gw, ibstream.Client(gw.url, **gw.options) as client:
        contracts = client.contracts
        for text in ("AAPL", "ES", "EUR.USD", "SPX"):
            r = contracts.resolve(text)
            print(f"resolved {text}: {r.description} {r.sec_type} conid={r.conidex}")
        front = contracts.front_month("ES")
        print("ES front month:", front.conid, front.expiration_date)
        month = contracts.option_months("AAPL")[0]
        strikes = contracts.strikes("AAPL", month)
        expiry = contracts.option_expiries("AAPL", month)[0]
        atm = strikes.call[len(strikes.call) // 2]
        call = contracts.option("AAPL", expiry, atm, "C")
        print(f"AAPL {month}: {len(strikes.call)} strikes; {expiry} {atm:g} C conid={call.conid}")
        try:
            contracts.resolve("NOSUCH")
        except ibstream.NotFound as exc:
            print("not found:", exc.endpoint, "-", exc)

        quotes = client.marketdata.snapshot([265598, front.conid], fields=["31", "84", "86"])
        for conid, q in quotes.items():
            print(f"snapshot {conid}: last={q.last} bid={q.bid} ask={q.ask}")
        hist = client.marketdata.history(265598, period="1d", bar="1h")
        print(f"history AAPL: {len(hist.bars)} bars, last close {hist.bars[-1].close}")

        for p in client.portfolio.positions():
            print(f"position {p.symbol}: {p.quantity:+g} @ {p.avg_price} value={p.market_value}")
        summary = client.portfolio.summary()
        print("net liquidation:", summary["netliquidation"].amount)
        print("pacing:", client.metrics()["pacing"]["limits"]["global"])


if __name__ == "__main__":
    main()
