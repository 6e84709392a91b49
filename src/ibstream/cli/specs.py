"""The command-line SPEC grammar: one word per stream, parsed into ``ibstream.protocol`` specs.

::

    md:INSTR[:FIELDS]          market data; FIELDS = comma-separated field ids (default set)
    mh:INSTR[:PERIOD[:BAR]]    market history, e.g. mh:265598:1d:5min
    ladder:ACCOUNT:INSTR       BookTrader price ladder
    orders | trades | pnl      the account-wide streams
    summary:ACCOUNT            account summary
    ledger:ACCOUNT             account ledger

INSTR is a conid (``265598``) or any instrument of the shared grammar (``AAPL``, ``ES``,
``ESZ6``, ``EUR.USD``, ``AAPL 20261218 200 C``; :mod:`ibstream.protocol.symbols`).
Topic codes are accepted as aliases: ``smd``, ``smh``, ``sbd``, ``sor``,
``str``, ``spl``, ``ssd``, ``sld`` and ``or``/``tr``/``pl``/``sd``/``ld``/``bd``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ibstream.cli.common import EXIT_USAGE, CliError, is_conid
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    Spec,
    TradesSpec,
)
from ibstream.protocol.symbols import parse_instrument

__all__ = ["GRAMMAR", "ParsedSpec", "build_specs", "parse_spec"]

GRAMMAR = """\
SPEC grammar (one word per stream):
  md:INSTR[:FIELDS]         market data; FIELDS = comma-separated ids, e.g. md:265598:31,84,86
  mh:INSTR[:PERIOD[:BAR]]   market history, e.g. mh:265598:1d:5min
  ladder:ACCOUNT:INSTR      price ladder (BookTrader), e.g. ladder:DU1234567:265598
  orders | trades | pnl     live orders, executions, P&L
  summary:ACCOUNT           account summary, e.g. summary:DU1234567
  ledger:ACCOUNT            account ledger, e.g. ledger:DU1234567
INSTR is a conid (265598) or an instrument: AAPL, ES (front month), ESZ6, EUR.USD, SPX,
'AAPL 20261218 200 C'."""

_ALIASES = {
    "md": "md",
    "smd": "md",
    "mh": "mh",
    "smh": "mh",
    "history": "mh",
    "ladder": "ladder",
    "bd": "ladder",
    "sbd": "ladder",
    "orders": "orders",
    "or": "orders",
    "sor": "orders",
    "trades": "trades",
    "tr": "trades",
    "str": "trades",
    "pnl": "pnl",
    "pl": "pnl",
    "spl": "pnl",
    "summary": "summary",
    "sd": "summary",
    "ssd": "summary",
    "ledger": "ledger",
    "ld": "ledger",
    "sld": "ledger",
}

# kind -> (minimum, maximum) number of arguments after the kind
_ARITY = {
    "md": (1, 2),
    "mh": (1, 3),
    "ladder": (2, 2),
    "orders": (0, 0),
    "trades": (0, 0),
    "pnl": (0, 0),
    "summary": (1, 1),
    "ledger": (1, 1),
}


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    """A SPEC word, checked for shape; ``instrument`` still needs resolving when a symbol."""

    text: str
    kind: str
    args: tuple[str, ...]

    @property
    def instrument(self) -> str | None:
        if self.kind in ("md", "mh"):
            return self.args[0]
        if self.kind == "ladder":
            return self.args[1]
        return None


def _bad(text: str, why: str) -> CliError:
    return CliError(f"bad spec {text!r}: {why} (see --help for the SPEC grammar)", EXIT_USAGE)


def parse_spec(text: str) -> ParsedSpec:
    """Check one SPEC word; raises ``CliError`` (exit 2) naming what is wrong."""
    parts = text.strip().split(":")
    kind = _ALIASES.get(parts[0].lower())
    if kind is None:
        raise _bad(
            text,
            f"unknown stream {parts[0]!r}; one of md, mh, ladder, orders, trades, "
            "pnl, summary, ledger",
        )
    args = tuple(parts[1:])
    lo, hi = _ARITY[kind]
    if not lo <= len(args) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise _bad(text, f"{kind} takes {want} argument(s) after ':'")
    if any(not a.strip() for a in args):
        raise _bad(text, "empty argument")
    parsed = ParsedSpec(text, kind, tuple(a.strip() for a in args))
    inst = parsed.instrument
    if inst is not None and not is_conid(inst):
        try:
            parse_instrument(inst)
        except InvalidArgument as exc:
            raise _bad(text, f"{inst!r} is neither a conid nor an instrument ({exc})") from exc
    # Build once with a placeholder conid to validate the other arguments early.
    _to_spec(parsed, 1)
    return parsed


def _to_spec(parsed: ParsedSpec, conid: int | None) -> Spec:
    kind, args = parsed.kind, parsed.args
    try:
        if kind == "md":
            assert conid is not None
            if len(args) == 2:
                fields = tuple(f.strip() for f in args[1].split(",") if f.strip())
                if not fields or not all(f.isdigit() for f in fields):
                    raise _bad(parsed.text, "FIELDS must be comma-separated field ids")
                return MarketDataSpec(conid, fields=fields)
            return MarketDataSpec(conid)
        if kind == "mh":
            assert conid is not None
            period = args[1] if len(args) > 1 else "1d"
            bar = args[2] if len(args) > 2 else "5min"
            return MarketHistorySpec(conid, period=period, bar=bar)
        if kind == "ladder":
            assert conid is not None
            return PriceLadderSpec(args[0], conid)
        if kind == "orders":
            return OrdersSpec()
        if kind == "trades":
            return TradesSpec()
        if kind == "pnl":
            return PnlSpec()
        if kind == "summary":
            return AccountSummarySpec(args[0])
        return AccountLedgerSpec(args[0])
    except InvalidArgument as exc:
        raise _bad(parsed.text, str(exc)) from exc


async def build_specs(
    parsed: Sequence[ParsedSpec],
    resolve: Callable[[Sequence[str]], Awaitable[dict[str, int]]],
) -> list[Spec]:
    """Turn parsed words into specs, resolving symbols with ``resolve`` (one call for all)."""
    names = [p.instrument for p in parsed if p.instrument is not None]
    conids = await resolve(list(dict.fromkeys(names))) if names else {}
    specs: list[Spec] = []
    for p in parsed:
        inst = p.instrument
        specs.append(_to_spec(p, conids[inst] if inst is not None else None))
    return specs
