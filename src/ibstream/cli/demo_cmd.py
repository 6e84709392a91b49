"""``ibstream demo``: the quick start. A gateway simulator in this process, the asyncio client
connected to it, and the live market view: quotes, simulated orders, P&L and a status line.

Nothing to configure and no gateway needed. ``--duration`` ends it by itself (exit 0); Ctrl-C
ends it cleanly (exit 0). Without a terminal it prints one block of plain lines per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import EXIT_USAGE, CliError, help_text, stop_on_signals, unless_stopped
from ibstream.exceptions import IBStreamError

if TYPE_CHECKING:
    from ibstream.sim import Simulator

__all__ = ["register", "run"]

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "TSLA", "NVDA", "SPY")


def register(subparsers: Any) -> None:
    """Add the ``demo`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="live market view against a built-in gateway simulator (no gateway needed)",
        description=help_text(__doc__),
        epilog="The simulator's instruments: AAPL MSFT TSLA NVDA SPY AMZN GOOG META (stocks), "
        "ES (future), EUR (EUR.USD); symbols or conids.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)"
    )
    p.add_argument(
        "--conids",
        nargs="+",
        metavar="CONID|SYMBOL",
        help=f"instruments to show (default: {' '.join(DEFAULT_SYMBOLS)})",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=4.0,
        metavar="HZ",
        help="market-data updates per second per instrument (default 4)",
    )
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    p.add_argument(
        "--mask", action="store_true", help="mask account ids (e.g. when sharing the screen)"
    )
    p.add_argument(
        "--no-orders", action="store_true", help="do not place simulated orders now and then"
    )
    p.add_argument("--seed", type=int, default=None, help="simulator seed (default: random)")
    p.set_defaults(func=run)


def _pick_conids(names: list[str] | None) -> list[int]:
    from ibstream.sim import DEFAULT_INSTRUMENTS

    by_symbol = {i.symbol: i.conid for i in DEFAULT_INSTRUMENTS}
    known = set(by_symbol.values())
    out: list[int] = []
    for name in names or list(DEFAULT_SYMBOLS):
        conid = int(name) if name.isdigit() else by_symbol.get(name.upper())
        if conid is None or conid not in known:
            choices = ", ".join(by_symbol)
            raise CliError(f"unknown instrument {name!r}; the simulator has {choices}", EXIT_USAGE)
        if conid not in out:
            out.append(conid)
    return out


async def _trader(sim: Simulator, conids: list[int], stop: asyncio.Event) -> None:
    """Place a simulated order every few seconds (mostly market orders, so positions and P&L
    move; some resting limit orders that get cancelled later)."""
    rng = random.Random()
    resting: list[int] = []
    await asyncio.sleep(1.0)
    while not stop.is_set():
        conid = rng.choice(conids)
        side = rng.choice(("BUY", "BUY", "SELL"))
        qty = rng.choice((10, 25, 50, 100))
        try:
            if rng.random() < 0.6:
                await sim.place_order(conid, side, qty, "MKT")
            else:
                price = sim.last_price(conid)
                away = price * rng.uniform(0.001, 0.004)
                limit = round(price - away if side == "BUY" else price + away, 2)
                order = await sim.place_order(conid, side, qty, "LMT", limit)
                resting.append(order.order_id)
            if len(resting) > 2:
                await sim.cancel_order(resting.pop(0))
        except IBStreamError:
            pass  # an order the simulator refused (e.g. already filled): try again later
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(1.5, 3.5))


async def _demo(args: argparse.Namespace) -> int:
    from ibstream.aio.client import ClientConfig, StreamClient
    from ibstream.cli.connect import embedded_simulator
    from ibstream.cli.view import MarketView, run_view, start_positions, stdout_is_terminal
    from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, PnlSpec, TradesSpec
    from ibstream.sim import DEFAULT_INSTRUMENTS

    conids = _pick_conids(args.conids)
    if args.rate <= 0:
        raise CliError("--rate must be > 0", EXIT_USAGE)
    if args.duration is not None and args.duration < 0:
        raise CliError("--duration must be >= 0", EXIT_USAGE)
    stop = asyncio.Event()
    stop_on_signals(stop)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    async with embedded_simulator(
        seed=seed, update_interval=1.0 / args.rate, rate_limit=None
    ) as sim:
        client = StreamClient(sim.base_url, config=ClientConfig(start_timeout=10.0))
        names = {i.conid: i.symbol for i in DEFAULT_INSTRUMENTS}
        view = MarketView(
            client,
            conids,
            names=names,
            title=f"ibstream demo — simulator at {sim.base_url}",
            mask=args.mask,
        )
        try:
            await unless_stopped(stop, client.start())
            for conid in conids:
                client.subscribe(MarketDataSpec(conid))
            client.subscribe(OrdersSpec())
            client.subscribe(TradesSpec())
            client.subscribe(PnlSpec())
            await start_positions(client)  # the positions panel (refreshed on fills)
            trader = None if args.no_orders else asyncio.create_task(_trader(sim, conids, stop))
            try:
                plain = args.plain or not stdout_is_terminal()
                await run_view(view, stop, duration=args.duration, plain=plain)
            finally:
                stop.set()
                if trader is not None:
                    trader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await trader
        finally:
            await client.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream demo``."""
    return asyncio.run(_demo(args))
