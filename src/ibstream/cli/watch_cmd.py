"""``ibstream watch INSTRUMENT ...``: the live market view against a gateway.

Instruments use the shared grammar: AAPL (stock), ES (front-month future), ESZ6, EUR.USD,
SPX, "AAPL CFD", "AAPL 20261218 200 C"; numbers are conids.
Orders and P&L of the account are shown too. The gateway comes from ``--url`` / ``--cacert`` /
``--insecure`` or the environment (``IBSTREAM_URL``, ``IBSTREAM_CACERT``, ``IBSTREAM_INSECURE=1``);
``--sim`` runs against a simulator inside this process instead.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ibstream.cli.common import (
    EXIT_USAGE,
    CliError,
    add_gateway_args,
    help_text,
    stop_on_signals,
    unless_stopped,
)

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``watch`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="live market view of instruments (any type) or conids from a gateway",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("instruments", nargs="+", metavar="INSTRUMENT")
    add_gateway_args(p, sim=True)
    p.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)"
    )
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    p.add_argument(
        "--mask", action="store_true", help="mask account ids (e.g. when sharing the screen)"
    )
    p.add_argument("--no-account", action="store_true", help="do not subscribe orders and P&L")
    p.set_defaults(func=run)


async def _watch(args: argparse.Namespace) -> int:
    from ibstream.cli.connect import connected_client, resolve_instruments
    from ibstream.cli.view import MarketView, run_view, start_positions, stdout_is_terminal
    from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, PnlSpec

    if args.duration is not None and args.duration < 0:
        raise CliError("--duration must be >= 0", EXIT_USAGE)
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with connected_client(args, stop) as client:
        resolved = await unless_stopped(stop, resolve_instruments(client.rest, args.instruments))
        conids = list(dict.fromkeys(resolved.values()))
        names = {conid: name.upper() for name, conid in resolved.items() if not name.isdigit()}
        await unless_stopped(stop, client.start())
        for conid in conids:
            client.subscribe(MarketDataSpec(conid))
        if not args.no_account:
            client.subscribe(OrdersSpec())
            client.subscribe(PnlSpec())
        view = MarketView(
            client,
            conids,
            names=names,
            title=f"ibstream — {client.rest.base_url}",
            mask=args.mask,
        )
        plain = args.plain or not stdout_is_terminal()
        if not args.no_account:
            await start_positions(client)  # the positions panel (refreshed on fills)
        await run_view(view, stop, duration=args.duration, plain=plain)
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream watch``."""
    return asyncio.run(_watch(args))
