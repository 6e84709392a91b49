"""``ibstream history INSTRUMENT --period 1d --bar 5min``: historical bars over REST.

INSTRUMENT is any text of the shared grammar (AAPL, ES, EUR.USD, "AAPL 20261218 200 C",
265598...). Periods: {1-30}min, {1-8}h, {1-1000}d, {1-792}w, {1-182}m, {1-15}y; bars: 1min
2min 3min 5min 10min 15min 30min 1h 2h 3h 4h 8h 1d 1w 1m. --csv prints CSV, --json JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import help_text
from ibstream.cli.lookup import add_common_args, emit_json, resolve_all, run_rest_command, table

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``history`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "history",
        help="historical bars of an instrument over REST",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("instrument", metavar="INSTRUMENT")
    p.add_argument("--period", default="1d", help="how far back (default 1d)")
    p.add_argument("--bar", default="5min", help="bar size (default 5min)")
    p.add_argument("--outside-rth", action="store_true", help="include outside regular hours")
    p.add_argument("--csv", action="store_true", help="CSV: time,open,high,low,close,volume")
    add_common_args(p)
    p.set_defaults(func=run)


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


async def _body(args: argparse.Namespace, client: StreamClient) -> int:
    from ibstream.protocol.specs import MarketHistorySpec

    MarketHistorySpec(1, period=args.period, bar=args.bar)  # bad period/bar: exit 2 at once
    (resolved,) = await resolve_all(client, [args.instrument])
    hist = await client.marketdata.history(
        resolved.conid, period=args.period, bar=args.bar, outside_rth=args.outside_rth
    )
    bars = hist.bars
    if args.json:
        emit_json(
            {
                "conid": hist.conid,
                "symbol": hist.symbol,
                "description": resolved.description,
                "period": args.period,
                "bar": args.bar,
                "bars": [
                    {"t": b.time_ms, "o": b.open, "h": b.high, "l": b.low, "c": b.close,
                     "v": b.volume}
                    for b in bars
                ],
            }
        )  # fmt: skip
        return 0
    if args.csv:
        print("time,open,high,low,close,volume")
        for b in bars:
            print(f"{_time(b.time_ms)},{b.open},{b.high},{b.low},{b.close},{b.volume}")
        return 0
    print(f"{resolved.description} ({hist.conid}): {len(bars)} bars of {args.bar}, {args.period}")
    rows = [(_time(b.time_ms), b.open, b.high, b.low, b.close, b.volume) for b in bars]
    print(table(["time (UTC)", "open", "high", "low", "close", "volume"], rows))
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream history``."""
    return run_rest_command(args, lambda client: _body(args, client))
