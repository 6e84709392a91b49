"""``ibstream contract INSTRUMENT ...``: what an instrument text resolves to, with details.

INSTRUMENT is any text of the shared grammar: AAPL (stock), ES (front-month future), ESZ6 or
"ES 202612" (a future month), EUR.USD (FX), SPX (index), "AAPL CFD", "AAPL 20261218 200 C"
(option), 265598 (conid), 28812380;;;265598/1,272093/-1 (combo). --chain lists the futures of
a future or the option months of an underlying; --strikes MONTH lists the strikes of a month
(of the futures options, FOP, for a future).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import help_text
from ibstream.cli.lookup import add_common_args, emit_json, resolve_all, run_rest_command, table

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``contract`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "contract",
        help="resolve instruments (stocks, futures, options, FX, indices, combos) to contracts",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("instruments", nargs="+", metavar="INSTRUMENT")
    p.add_argument("--chain", action="store_true", help="futures chain / option months too")
    p.add_argument(
        "--strikes", metavar="MONTH", help="option strikes of MONTH (e.g. DEC26; FOP for a future)"
    )
    add_common_args(p)
    p.set_defaults(func=run)


async def _body(args: argparse.Namespace, client: StreamClient) -> int:
    from ibstream.exceptions import NotFound

    resolved = await resolve_all(client, args.instruments)
    docs: list[dict[str, Any]] = []
    for text, r in zip(args.instruments, resolved, strict=True):
        doc: dict[str, Any] = {"query": text, **dataclasses.asdict(r)}
        doc["legs"] = [dataclasses.asdict(leg) for leg in r.legs]
        if r.sec_type != "BAG":
            d = await client.contracts.details(r.conid)
            doc["details"] = {
                k: v for k, v in dataclasses.asdict(d).items() if k not in ("raw", "conid")
            }
        if args.chain:
            if r.sec_type == "FUT":
                doc["chain"] = [
                    dataclasses.asdict(f) for f in await client.contracts.futures(r.symbol)
                ]
            else:
                try:
                    doc["option_months"] = list(await client.contracts.option_months(r.symbol))
                except NotFound:
                    doc["option_months"] = []
        if args.strikes:
            kind = "FOP" if r.sec_type in ("FUT", "FOP") else "OPT"  # a future's are FOP
            s = await client.contracts.strikes(r.symbol, args.strikes, sec_type=kind)
            doc["strikes"] = {"call": list(s.call), "put": list(s.put)}
        docs.append(doc)
    if args.json:
        emit_json(docs)
        return 0
    for doc in docs:
        print(f"{doc['query']}: {doc['description']}")
        details = doc.get("details", {})
        rows: list[tuple[str, Any]] = [
            ("conid", doc["conidex"]),
            ("type", doc["sec_type"]),
            ("symbol", doc["symbol"]),
            ("exchange", doc.get("exchange") or details.get("exchange")),
            ("currency", details.get("currency")),
        ]
        for key in ("expiry", "strike", "right"):
            if doc.get(key) is not None:
                rows.append((key, doc[key]))
        if details.get("multiplier"):
            rows.append(("multiplier", details["multiplier"]))
        if details.get("company_name"):
            rows.append(("name", details["company_name"]))
        for leg in doc["legs"]:
            rows.append(("leg", f"{leg['conid']} x {leg['ratio']}"))
        for key, value in rows:
            print(f"  {key:<11}{'-' if value is None else value}")
        if "chain" in doc:
            print("  futures:")
            chain = [
                (f["conid"], f["expiration_date"], f["last_trading_day"]) for f in doc["chain"]
            ]
            print("    " + table(["conid", "expiry", "last day"], chain).replace("\n", "\n    "))
        if "option_months" in doc:
            print(f"  option months: {' '.join(doc['option_months']) or '-'}")
        if "strikes" in doc:
            strikes = " ".join(f"{s:g}" for s in doc["strikes"]["call"])
            print(f"  strikes {args.strikes.upper()}: {strikes}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream contract``."""
    return run_rest_command(args, lambda client: _body(args, client))
