"""``ibstream order``: place, cancel and list orders through the gateway session.

  ibstream order buy AAPL 10 --limit 180          limit buy (asks "Place this order?")
  ibstream order sell 265598 5                     market sell by conid
  ibstream order buy AAPL 10 --stop 190 --limit 191 --tif GTC
  ibstream order buy AAPL 10 --limit 180 --take-profit 190 --stop-loss 175   (a bracket)
  ibstream order cancel 1234567890
  ibstream order list
  ibstream order exercise 708764406 2             exercise 2 option contracts (asks twice)

Every placement and cancellation asks for confirmation unless --yes. Reply prompts from the
gateway (price far from the market, size limits ...) are shown and asked one by one; with --yes
they are declined unless their message id is given with --accept-prompt (nothing is ever
confirmed silently). --whatif previews commission and margin and places nothing.

Exit status: 0 done; 1 refused or failed (gateway, limits, declined); 2 bad options;
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ibstream.cli.common import (
    EXIT_FAILURE,
    CliError,
    add_gateway_args,
    help_text,
)

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``order`` subparser and its actions."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "order",
        help="place, cancel and list orders (asks for confirmation unless --yes)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for side in ("buy", "sell"):
        a = actions.add_parser(side, help=f"{side} QTY of SYMBOL|CONID")
        a.add_argument("instrument", help="stock symbol (AAPL) or conid (265598)")
        a.add_argument("quantity", type=float, help="units (or a cash amount with --cash)")
        a.add_argument("--cash", action="store_true", help="QUANTITY is a cash amount")
        a.add_argument("--limit", type=float, metavar="PRICE", help="limit price")
        a.add_argument("--stop", type=float, metavar="PRICE", help="stop (trigger) price")
        a.add_argument("--trail", type=float, metavar="AMOUNT", help="trailing stop amount")
        a.add_argument("--trail-percent", action="store_true", help="--trail is a percentage")
        close = a.add_mutually_exclusive_group()
        close.add_argument("--moc", action="store_true", help="market on close")
        close.add_argument("--loc", action="store_true", help="limit on close (needs --limit)")
        a.add_argument("--tif", default="DAY", choices=("DAY", "GTC", "IOC", "OPG"))
        a.add_argument("--outside-rth", action="store_true", help="may fill outside RTH")
        a.add_argument("--take-profit", type=float, metavar="PRICE", help="bracket take-profit")
        a.add_argument("--stop-loss", type=float, metavar="PRICE", help="bracket stop-loss")
        a.add_argument("--whatif", action="store_true", help="preview only, place nothing")
        a.add_argument(
            "--wait",
            type=float,
            metavar="SECONDS",
            default=0.0,
            help="wait up to SECONDS for the fill and print the executions",
        )
        _common(a)
        a.set_defaults(func=run, side=side.upper())
    c = actions.add_parser("cancel", help="cancel a working order by order id")
    c.add_argument("order_id", type=int)
    _common(c)
    c.set_defaults(func=run)
    from ibstream.cli.exercise_cmd import add_exercise_parser

    add_exercise_parser(actions).set_defaults(func=run)
    ls = actions.add_parser("list", help="the day's orders (live orders)")
    add_gateway_args(ls, sim=True)
    ls.set_defaults(func=run)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", default=None, help="account (default: the selected one)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--accept-prompt",
        action="append",
        default=[],
        metavar="ID",
        help="confirm the gateway's reply prompt with this message id (repeatable)",
    )
    add_gateway_args(p, sim=True)


def _ask(question: str) -> bool:
    print(question + " [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _request(args: argparse.Namespace, conid: int, symbol: str | None) -> Any:
    from ibstream.orders import OrderRequest, OrderType, TrailingType

    qty = None if args.cash else args.quantity
    cash = args.quantity if args.cash else None
    kind = OrderType.MARKET
    if args.moc:
        kind = OrderType.MARKET_ON_CLOSE
    elif args.loc:
        kind = OrderType.LIMIT_ON_CLOSE
    elif args.trail is not None:
        kind = OrderType.TRAILING
    elif args.stop is not None:
        kind = OrderType.STOP_LIMIT if args.limit is not None else OrderType.STOP
    elif args.limit is not None:
        kind = OrderType.LIMIT
    return OrderRequest(
        conid=conid,
        side=args.side,
        order_type=kind,
        quantity=qty,
        cash_qty=cash,
        price=args.limit,
        aux_price=args.stop,
        trailing_amount=args.trail,
        trailing_type=(
            (TrailingType.PERCENT if args.trail_percent else TrailingType.AMOUNT)
            if args.trail is not None
            else None
        ),
        tif=args.tif,
        outside_rth=args.outside_rth,
        account=args.account,
        symbol=symbol,
    )


async def _order(args: argparse.Namespace) -> int:
    from ibstream.aio.client import ClientConfig, StreamClient
    from ibstream.cli.common import gateway_target
    from ibstream.cli.connect import embedded_simulator, open_client, preflight

    async def with_client(client: StreamClient) -> int:
        await client.start()
        return await _act(args, client)

    from ibstream.orders import PromptPolicy, TradingConfig

    policy = PromptPolicy(
        accept=args.accept_prompt if hasattr(args, "accept_prompt") else (),
        callback=None if getattr(args, "yes", True) else _prompt_callback,
    )
    config = ClientConfig(
        start_timeout=15.0,
        trading=TradingConfig(
            enabled=args.action != "list", read_only=args.action == "list", prompts=policy
        ),
    )
    if args.sim:
        async with embedded_simulator() as sim:
            client = StreamClient(sim.base_url, config=config)
            try:
                return await with_client(client)
            finally:
                await client.stop()
    client = open_client(gateway_target(args), config=config)
    try:
        await preflight(client.rest)
        return await with_client(client)
    finally:
        await client.stop()


async def _prompt_callback(prompt: Any, what: str) -> bool:
    ids = ", ".join(prompt.message_ids) or "no id"
    print(f"gateway asks ({ids}) about {what}:\n  {prompt.text}")
    return await asyncio.to_thread(_ask, "Confirm?")


async def _act(args: argparse.Namespace, client: Any) -> int:
    from ibstream.masking import mask_account

    trading = client.trading
    if args.action == "list":
        orders = await trading.live_orders()
        print(
            f"{'ORDER ID':>12} {'cOID':<28} {'SIDE':<4} {'QTY':>8} {'SYMBOL':<8} "
            f"{'TYPE':<12} {'PRICE':>10} STATUS"
        )
        for o in orders:
            price = "" if o.price is None else f"{o.price:g}"
            print(
                f"{o.order_id:>12} {o.fields.get('order_ref') or ''!s:<28} "
                f"{o.side or '':<4} {o.total_size or 0:>8g} {o.symbol or '':<8} "
                f"{o.order_type or '':<12} {price:>10} {o.status.value if o.status else ''}"
            )
        return 0
    if args.action == "exercise":
        from ibstream.cli.exercise_cmd import exercise

        return await exercise(args, client, _ask)
    account = await trading.account(args.account)
    if args.action == "cancel":
        if not args.yes and not await asyncio.to_thread(
            _ask, f"Cancel order {args.order_id} on {mask_account(account)}?"
        ):
            raise CliError("not cancelled")
        await trading.cancel(args.order_id, account=account)
        print(f"cancel requested for order {args.order_id}")
        return 0
    from ibstream.cli.connect import resolve_instruments
    from ibstream.orders import Bracket

    conid = (await resolve_instruments(client.rest, [args.instrument]))[args.instrument]
    symbol = None if args.instrument.isdigit() else args.instrument.upper()
    order = _request(args, conid, symbol)
    if args.whatif:
        w = await trading.whatif(order)
        print(
            f"what-if {order.describe()}: amount {w.amount} commission {w.commission} "
            f"initial margin {w.initial_margin.after} equity after {w.equity.after}"
            + (f" warning: {w.warning}" if w.warning else "")
        )
        return 0
    bracket = None
    if args.take_profit is not None or args.stop_loss is not None:
        bracket = Bracket(entry=order, take_profit=args.take_profit, stop_loss=args.stop_loss)
    what = "; ".join(o.describe() for o in (bracket.orders() if bracket else [order]))
    if not args.yes and not await asyncio.to_thread(
        _ask, f"Place {what} on {mask_account(account)}?"
    ):
        raise CliError("not placed")
    if bracket is not None:
        handles = (await trading.place_bracket(bracket)).all()
    else:
        handles = [await trading.place(order)]
    for h in handles:
        print(f"placed order {h.order_id} (cOID {h.coid}): {h.request.describe()}")
    if args.wait > 0:
        filled = await handles[0].filled(timeout=args.wait)
        for t in handles[0].fills:
            print(f"  filled {t.size:g} @ {t.price} ({t.execution_id})")
        print(f"order {filled.order_id} {filled.status.value if filled.status else ''}")
    for h in handles:
        h.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ibstream order``."""
    try:
        return asyncio.run(_order(args))
    except CliError:
        raise
    except Exception as exc:
        from ibstream.orders import TradingError

        if isinstance(exc, TradingError):
            raise CliError(str(exc), EXIT_FAILURE) from exc
        raise
