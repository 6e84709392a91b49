"""The command-line SPEC grammar: one word per stream, read by :mod:`ibstream.protocol.registry`.

::

    md:INSTR[:FIELDS]          market data; FIELDS = comma-separated field ids (default set)
    mh:INSTR[:PERIOD[:BAR]]    market history, e.g. mh:265598:1d:5min
    ladder:ACCOUNT:INSTR       BookTrader price ladder
    orders | trades | pnl      the account-wide streams
    summary:ACCOUNT            account summary
    ledger:ACCOUNT             account ledger

Any other member of the spec may follow as ``name=value`` (``md:265598:exchange=NASDAQ``,
``trades:days=3``). INSTR is a conid (``265598``) or any instrument of the shared grammar
(``AAPL``, ``ES``, ``ESZ6``, ``EUR.USD``, ``AAPL 20261218 200 C``;
:mod:`ibstream.protocol.symbols`) resolved through the gateway; for ``md`` also a combo,
``SPREAD;;;LEG/RATIO,...`` as the gateway writes it (``md:28812380;;;265598/1,272093/-1``;
quote it in a shell). Topic codes are accepted as aliases: ``smd``,
``smh``, ``sbd``, ``sor``, ``str``, ``spl``, ``ssd``, ``sld`` and ``or``/``tr``/``pl``/``sd``/
``ld``/``bd``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ibstream.cli.common import EXIT_USAGE, CliError
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.registry import SpecWord, parse_spec_word
from ibstream.protocol.specs import Spec

__all__ = ["GRAMMAR", "ParsedSpec", "build_specs", "parse_spec"]

GRAMMAR = """\
SPEC grammar (one word per stream):
  md:INSTR[:FIELDS]         market data; FIELDS = comma-separated ids, e.g. md:265598:31,84,86
  mh:INSTR[:PERIOD[:BAR]]   market history, e.g. mh:265598:1d:5min
  ladder:ACCOUNT:INSTR      price ladder (BookTrader), e.g. ladder:DU1234567:265598
  orders | trades | pnl     live orders, executions, P&L
  summary:ACCOUNT           account summary, e.g. summary:DU1234567
  ledger:ACCOUNT            account ledger, e.g. ledger:DU1234567
Other options follow as name=value, e.g. md:265598:exchange=NASDAQ, trades:days=3.
INSTR is a conid (265598) or an instrument: AAPL, ES (front month), ESZ6, EUR.USD, SPX,
'AAPL 20261218 200 C'."""

ParsedSpec = SpecWord
"""A SPEC word, checked for shape; ``instrument`` still needs resolving when a symbol."""


def _bad(text: str, why: str) -> CliError:
    return CliError(f"bad spec {text!r}: {why} (see --help for the SPEC grammar)", EXIT_USAGE)


def parse_spec(text: str) -> SpecWord:
    """Check one SPEC word; raises ``CliError`` (exit 2) naming what is wrong."""
    try:
        return parse_spec_word(text, symbols=True)
    except InvalidArgument as exc:
        raise _bad(text, str(exc)) from exc


async def build_specs(
    parsed: Sequence[SpecWord],
    resolve: Callable[[Sequence[str]], Awaitable[dict[str, int]]],
) -> list[Spec]:
    """Turn parsed words into specs, resolving symbols with ``resolve`` (one call for all)."""
    names = [p.symbol for p in parsed if p.symbol is not None]
    conids = await resolve(list(dict.fromkeys(names))) if names else {}
    specs: list[Spec] = []
    for p in parsed:
        sym = p.symbol
        try:
            specs.append(p.to_spec(conids[sym] if sym is not None else None))
        except InvalidArgument as exc:
            raise _bad(p.text, str(exc)) from exc
    return specs
