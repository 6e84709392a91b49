"""The command-line SPEC grammar (in process: no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ibstream.cli.common import CliError
from ibstream.cli.specs import GRAMMAR, build_specs, parse_spec
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    TradesSpec,
)


async def _resolve(names: Sequence[str]) -> dict[str, int]:
    table = {"AAPL": 265598, "MSFT": 272093}
    return {n: int(n) if n.isdigit() else table[n.upper()] for n in names}


def _build(*texts: str) -> list[object]:
    return list(asyncio.run(build_specs([parse_spec(t) for t in texts], _resolve)))


def test_every_kind() -> None:
    specs = _build(
        "md:265598",
        "md:MSFT:31,84,86",
        "mh:265598:1d:5min",
        "mh:AAPL",
        "orders",
        "trades",
        "pnl",
        "summary:DU1234567",
        "ledger:DU1234567",
        "ladder:DU1234567:AAPL",
    )
    assert specs == [
        MarketDataSpec(265598),
        MarketDataSpec(272093, fields=("31", "84", "86")),
        MarketHistorySpec(265598, period="1d", bar="5min"),
        MarketHistorySpec(265598),
        OrdersSpec(),
        TradesSpec(),
        PnlSpec(),
        AccountSummarySpec("DU1234567"),
        AccountLedgerSpec("DU1234567"),
        PriceLadderSpec("DU1234567", 265598),
    ]


def test_topic_code_aliases() -> None:
    assert _build("smd:265598", "sor", "str", "spl", "ssd:DU1", "sld:DU1", "sbd:DU1:1") == [
        MarketDataSpec(265598),
        OrdersSpec(),
        TradesSpec(),
        PnlSpec(),
        AccountSummarySpec("DU1"),
        AccountLedgerSpec("DU1"),
        PriceLadderSpec("DU1", 1),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("quotes:AAPL", "unknown stream 'quotes'"),
        ("md", "md takes 1 to 2 argument(s)"),
        ("md:265598:31:84", "md takes 1 to 2"),
        ("md::31", "empty argument"),
        ("md:AA$PL", "neither a conid nor a symbol"),
        ("mh:265598:1d:7min", "bad spec 'mh:265598:1d:7min'"),
        ("orders:x", "orders takes 0 argument(s)"),
        ("summary", "summary takes 1 argument(s)"),
        ("ladder:DU1", "ladder takes 2 argument(s)"),
    ],
)
def test_bad_specs(text: str, fragment: str) -> None:
    with pytest.raises(CliError) as info:
        parse_spec(text)
    assert info.value.code == 2
    assert fragment in str(info.value)
    assert "--help" in str(info.value)


def test_grammar_documents_every_kind() -> None:
    for word in ("md:", "mh:", "ladder:", "orders", "trades", "pnl", "summary:", "ledger:"):
        assert word in GRAMMAR


def test_options_as_name_value() -> None:
    assert _build("md:AAPL:exchange=NASDAQ", "trades:days=3", "mh:MSFT:bar=1h") == [
        MarketDataSpec(265598, exchange="NASDAQ"),
        TradesSpec(days=3),
        MarketHistorySpec(272093, bar="1h"),
    ]
    with pytest.raises(CliError, match="md has no option 'bar'"):
        parse_spec("md:AAPL:bar=1h")


def test_market_data_of_a_combo() -> None:
    """A combo is written as the gateway writes it and needs no symbol resolution."""
    combo = "28812380;;;265598/1,272093/-1"
    assert _build(f"md:{combo}", f"md:{combo}:31,84") == [
        MarketDataSpec(combo),
        MarketDataSpec(combo, fields=("31", "84")),
    ]
    with pytest.raises(CliError, match="ratio"):
        parse_spec("md:28812380;;;265598/0,272093/1")
