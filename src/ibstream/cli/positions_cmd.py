"""``ibstream positions``: the account's positions (every page), with --summary the account
summary and --ledger the cash balances per currency. Default account: the first one."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import help_text
from ibstream.cli.lookup import add_common_args, emit_json, run_rest_command, table

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["register", "run"]

_SUMMARY_KEYS = (
    "netliquidation",
    "totalcashvalue",
    "grosspositionvalue",
    "availablefunds",
    "buyingpower",
    "unrealizedpnl",
    "realizedpnl",
)


def register(subparsers: Any) -> None:
    """Add the ``positions`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "positions",
        help="the account's positions (and summary, ledger) over REST",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--account", help="account id (default: the first portfolio account)")
    p.add_argument("--summary", action="store_true", help="the account summary too")
    p.add_argument("--ledger", action="store_true", help="cash balances per currency too")
    add_common_args(p)
    p.set_defaults(func=run)


def _plain(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(obj).items() if k != "raw"}


async def _body(args: argparse.Namespace, client: StreamClient) -> int:
    portfolio = client.portfolio
    accounts = await portfolio.accounts()
    account = args.account or (accounts[0].account_id if accounts else None)
    positions = await portfolio.positions(account)
    summary = await portfolio.summary(account) if args.summary else {}
    ledger = await portfolio.ledger(account) if args.ledger else {}
    if args.json:
        doc: dict[str, Any] = {"account": account, "positions": [_plain(p) for p in positions]}
        if args.summary:
            doc["summary"] = {k: _plain(v) for k, v in summary.items()}
        if args.ledger:
            doc["ledger"] = {k: _plain(v) for k, v in ledger.items()}
        emit_json(doc)
        return 0
    print(f"account {account}: {len(positions)} position(s)")
    if positions:
        rows = [
            (p.symbol, p.description, p.sec_type, p.quantity, p.avg_price, p.market_price,
             p.market_value, p.unrealized_pnl, p.currency, p.conid)
            for p in sorted(positions, key=lambda p: (p.symbol or "", p.conid))
        ]  # fmt: skip
        headers = ["symbol", "contract", "type", "qty", "avg", "price", "value", "upl", "ccy"]
        print(table([*headers, "conid"], rows))
    if args.summary:
        print("summary:")
        for key in _SUMMARY_KEYS:
            item = summary.get(key)
            if item is not None:
                amount = "-" if item.amount is None else f"{item.amount:,.2f}"
                print(f"  {key:<20}{amount} {item.currency or ''}".rstrip())
    if args.ledger:
        print("ledger:")
        rows2 = [
            (c.currency, c.cash_balance, c.settled_cash, c.net_liquidation, c.unrealized_pnl)
            for c in ledger.values()
        ]
        print(table(["currency", "cash", "settled", "net liq", "upl"], rows2))
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream positions``."""
    return run_rest_command(args, lambda client: _body(args, client))
