"""Absurd arguments to the REST lookups over the in-memory transport: each is refused with
``InvalidArgument`` before anything is sent, never a bare ``ValueError`` and never silently
turned into another contract."""

from __future__ import annotations

from typing import Any

import pytest

from ibstream.aio.contracts import Contracts
from ibstream.aio.memory import MemoryGateway
from ibstream.exceptions import HTTPStatusError, InvalidArgument, NotFound

AAPL = 265598
MSFT = 272093


def _details(params: Any, body: Any) -> tuple[int, Any]:
    return 200, {"con_id": AAPL, "symbol": "AAPL", "instrument_type": "STK"}


@pytest.fixture
def gw() -> MemoryGateway:
    gw = MemoryGateway()
    sections = [{"secType": "STK"}, {"secType": "OPT", "months": "DEC26", "exchange": "SMART"}]
    search = [{"conid": AAPL, "symbol": "AAPL", "sections": sections}]
    gw.routes[("GET", "/iserver/secdef/search")] = (200, search)
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


@pytest.mark.parametrize(
    ("expiry", "strike"),
    [
        ("20261318", 200.0),  # month 13: was a bare IndexError
        ("20260018", 200.0),  # month 0: was silently asked as DEC26
        ("20260231", 200.0),  # no such day
        ("20261218", float("nan")),
        ("20261218", float("inf")),
        ("20261218", -5.0),
        ("20261218", 0),
        ("20261218", True),
    ],
)
async def test_option_with_an_impossible_expiry_or_strike_is_invalid_argument(
    gw: MemoryGateway, expiry: str, strike: Any
) -> None:
    with pytest.raises(InvalidArgument):
        await Contracts(gw).option("AAPL", expiry, strike, "C")
    assert gw.calls == []


async def test_no_brokerage_bridge_is_not_reported_as_an_unknown_symbol() -> None:
    # HTTP 400 "Bad Request: no bridge" (protocol.md §2.4) says the brokerage session is not
    # up: saying "unknown symbol 'AAPL'" would send the user looking for a typo
    gw = MemoryGateway()
    no_bridge = (400, '{"error":"Bad Request: no bridge"}')
    gw.routes[("GET", "/iserver/secdef/search")] = no_bridge
    gw.routes[("GET", f"/iserver/contract/{AAPL}/info")] = no_bridge
    contracts = Contracts(gw)
    for call in (contracts.resolve("AAPL"), contracts.search("AAPL"), contracts.details(AAPL)):
        with pytest.raises(HTTPStatusError) as info:
            await call
        assert not isinstance(info.value, NotFound)
        assert info.value.status == 400 and info.value.error == "Bad Request: no bridge"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.futures(""),  # was sent as symbols= and answered "no futures for ''"
        lambda c: c.futures("  "),
        lambda c: c.front_month(""),
        lambda c: c.future("ES", 13, 26),  # month 13: was "no ES future for 13/26"
        lambda c: c.future("ES", 0, 26),
        lambda c: c.future("ES", True, 26),
        lambda c: c.future("ES", 12, -1),
        lambda c: c.future("ES", 12, "26x"),
    ],
)
async def test_futures_lookups_refuse_absurd_arguments(gw: MemoryGateway, call: Any) -> None:
    with pytest.raises(InvalidArgument):
        await call(Contracts(gw))
    assert gw.calls == []


@pytest.mark.parametrize("month", ["XYZ", "DEC", "DEC2026", "13/26", "", "Z26"])
async def test_option_months_not_in_ibkr_form_are_invalid_argument(
    gw: MemoryGateway, month: str
) -> None:
    # a month IBKR cannot know came back as an empty strike list: "no strikes", not "bad month"
    with pytest.raises(InvalidArgument, match="month"):
        await Contracts(gw).strikes("AAPL", month)
    with pytest.raises(InvalidArgument, match="month"):
        await Contracts(gw).option_expiries("AAPL", month)
    assert gw.calls == []
