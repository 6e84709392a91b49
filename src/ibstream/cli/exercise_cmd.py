"""``ibstream order exercise CONID QUANTITY``: exercise option contracts (the gateway's exercise
dialog, :mod:`ibstream.orders.exercise`).

Shows the ticket (position, deadline, the gateway's warning), asks "Exercise ...?" unless --yes,
submits the quantity and shows the gateway's confirmation question ("final and irreversible"),
which is answered "continue" only when confirmed on stdin or, under --yes, with --final (--yes
alone declines it: nothing is confirmed silently). A declined step answers "cancel".
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from ibstream.cli.common import CliError, add_gateway_args

__all__ = ["add_exercise_parser", "exercise"]


def add_exercise_parser(actions: Any) -> argparse.ArgumentParser:
    """The ``exercise`` action of ``ibstream order`` (the session's selected account)."""
    e: argparse.ArgumentParser = actions.add_parser(
        "exercise", help="exercise QUANTITY contracts of the option position CONID"
    )
    e.add_argument("conid", type=int, help="the option's conid")
    e.add_argument("quantity", type=int, help="contracts to exercise")
    e.add_argument(
        "--final",
        action="store_true",
        help="under --yes, answer the gateway's 'final and irreversible' question with continue",
    )
    e.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_gateway_args(e, sim=True)
    return e


async def exercise(args: argparse.Namespace, client: Any, ask: Callable[[str], bool]) -> int:
    """Run the dialog; ``ask(question)`` confirms on stdin (never called under --yes)."""
    from ibstream.masking import mask_account
    from ibstream.protocol.events import OrderUpdate

    if args.quantity <= 0:
        raise CliError("quantity: give a positive number of contracts", 2)
    account = await client.trading.account()
    async with await client.exercise.start(args.conid) as ticket:
        c = ticket.content
        position = "?" if c.position is None else f"{c.position:g}"
        print(
            f"exercise ticket {c.underlying_symbol or args.conid} (conid {args.conid}): "
            f"position {position}, deadline {c.deadline or '?'}"
        )
        for ev in ticket.events:
            if getattr(ev, "warning", None):
                print(f"  warning: {ev.warning}")
        what = f"Exercise {args.quantity} of conid {args.conid} on {mask_account(account)}?"
        if not args.yes and not await asyncio.to_thread(ask, what):
            await ticket.cancel()
            raise CliError("not exercised")
        prompt = await ticket.submit(args.quantity)
        offered = ", ".join(a.id for a in prompt.actions)
        print(f"gateway asks: {prompt.title or ''}: {prompt.text or ''} ({offered})")
        confirmed = args.final if args.yes else await asyncio.to_thread(ask, "Continue?")
        if not confirmed:
            await ticket.cancel()
            hint = " (--final confirms it under --yes)" if args.yes else ""
            raise CliError(f"exercise not confirmed: cancelled{hint}")
        result = await ticket.confirm()
    if not isinstance(result, OrderUpdate):
        raise CliError(f"the gateway asks again: {result.text or result.title or ''}")
    size = result.raw.get("totalSize", args.quantity)
    print(
        f"exercise order {result.order_id}: {size:g} of conid {args.conid} "
        f"({result.status or 'submitted'})"
    )
    return 0
