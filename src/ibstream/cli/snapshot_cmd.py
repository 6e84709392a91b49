"""``ibstream snapshot INSTRUMENT ...``: current values over REST (no stream), with the
gateway's snapshot pre-flight handled. INSTRUMENT is any text of the shared grammar."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import help_text
from ibstream.cli.lookup import add_common_args, emit_json, resolve_all, run_rest_command, table

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``snapshot`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "snapshot",
        help="current quotes of instruments over REST",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("instruments", nargs="+", metavar="INSTRUMENT")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for data")
    add_common_args(p)
    p.set_defaults(func=run)


async def _body(args: argparse.Namespace, client: StreamClient) -> int:
    resolved = await resolve_all(client, args.instruments)
    snaps = await client.marketdata.snapshot([r.conid for r in resolved], timeout=args.timeout)
    if args.json:
        emit_json(
            [
                {"query": text, "conid": r.conid, "description": r.description,
                 "last": snaps[r.conid].last, "bid": snaps[r.conid].bid,
                 "ask": snaps[r.conid].ask, "volume": snaps[r.conid].volume,
                 "change_percent": snaps[r.conid].change_percent}
                for text, r in zip(args.instruments, resolved, strict=True)
            ]
        )  # fmt: skip
        return 0
    rows = [
        (r.description, s.last, s.bid, s.ask, s.volume, s.change_percent, r.conid)
        for r in resolved
        for s in (snaps[r.conid],)
    ]
    print(table(["instrument", "last", "bid", "ask", "volume", "chg%", "conid"], rows))
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream snapshot``."""
    return run_rest_command(args, lambda client: _body(args, client))
