"""Absurd arguments to the REST lookups over the in-memory transport: each is refused with
``InvalidArgument`` before anything is sent, never a bare ``ValueError`` and never silently
turned into another contract."""

from __future__ import annotations

from typing import Any

import pytest

from ibstream.aio.contracts import Contracts
from ibstream.aio.memory import MemoryGateway
from ibstream.exceptions import InvalidArgument

AAPL = 265598
MSFT = 272093


def _details(params: Any, body: Any) -> tuple[int, Any]:
    return 200, {"con_id": AAPL, "symbol": "AAPL", "instrument_type": "STK"}


@pytest.fixture
def gw() -> MemoryGateway:
    gw = MemoryGateway()
    gw.routes[("GET", "/iserver/secdef/search")] = (200, [{"conid": AAPL, "symbol": "AAPL"}])
    for conid in (AAPL, MSFT):
        gw.routes[("GET", f"/iserver/contract/{conid}/info")] = _details
    return gw


async def test_search_with_an_unknown_security_type_is_invalid_argument(
    gw: MemoryGateway,
) -> None:
    contracts = Contracts(gw)
    with pytest.raises(InvalidArgument, match="sec_type"):
        await contracts.search("AAPL", sec_type="XYZ")
    assert gw.calls == []
    assert [c.conid for c in await contracts.search("AAPL", sec_type="stk")] == [AAPL]


@pytest.mark.parametrize(
    "legs",
    [
        [(265598.7, 1), (MSFT, -1)],  # a float conid: int() would pick contract 265598
        [(AAPL, 1.5), (MSFT, -1)],  # a fractional ratio: int() would make it 1
        [(True, 1), (MSFT, -1)],  # a bool is not a conid
        [(AAPL, 1), (MSFT, False)],
    ],
)
async def test_combo_legs_are_not_truncated_to_another_contract(
    gw: MemoryGateway, legs: list[tuple[Any, Any]]
) -> None:
    with pytest.raises(InvalidArgument):
        await Contracts(gw).combo(legs)
    assert gw.calls == []


async def test_combo_accepts_conids_as_digit_strings(gw: MemoryGateway) -> None:
    combo = await Contracts(gw).combo([(str(AAPL), "1"), (MSFT, -1)])
    assert combo.conidex == f"28812380;;;{AAPL}/1,{MSFT}/-1"
