"""PriceDecimals: display decimals from the contract rules, over the in-memory gateway (never
blocking: unknown first, known once the lookup answered; failures fall back and retry later)."""

from __future__ import annotations

from typing import Any

import pytest

from ibstream.aio.contracts import Contracts
from ibstream.aio.decimals import PriceDecimals
from ibstream.aio.memory import MemoryGateway
from ibstream.exceptions import InvalidArgument
from ibstream.sim.testing import wait_for

EURUSD, AAPL, BROKEN = 12087792, 265598, 999


def rules_route(increment: object) -> tuple[int, dict[str, Any]]:
    return 200, {"con_id": 1, "rules": {"increment": increment, "incrementRules": []}}


@pytest.fixture
def gateway() -> MemoryGateway:
    gw = MemoryGateway()
    gw.routes[("GET", f"/iserver/contract/{EURUSD}/info-and-rules")] = rules_route(0.00005)
    gw.routes[("GET", f"/iserver/contract/{AAPL}/info-and-rules")] = rules_route("0.01")
    gw.routes[("GET", f"/iserver/contract/{BROKEN}/info-and-rules")] = (500, {"error": "down"})
    return gw


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_unknown_first_then_the_increment_decimals(gateway: MemoryGateway) -> None:
    decimals = PriceDecimals(Contracts(gateway))
    assert decimals.get(EURUSD) is None  # never blocks: the lookup runs in the background
    assert decimals.decimals(AAPL, 271.5, fallback=4) == 4
    await wait_for(lambda: decimals.get(EURUSD) == 5 and decimals.get(AAPL) == 2)
    assert decimals.rules(EURUSD) is not None and decimals.lookups == 2
    for _ in range(5):  # cached per conid: no second request
        decimals.get(EURUSD)
    assert gateway.calls.count(f"GET /iserver/contract/{EURUSD}/info-and-rules") == 1
    await decimals.close()


async def test_failures_fall_back_and_are_retried_after_a_while(gateway: MemoryGateway) -> None:
    clock = Clock()
    decimals = PriceDecimals(Contracts(gateway), retry_after=60.0, retry_transient=5.0, clock=clock)
    assert await decimals.lookup(BROKEN) is None and decimals.failures == 1  # HTTP 500
    assert await decimals.lookup(77) is None and decimals.failures == 2  # no route: 404
    assert decimals.decimals(BROKEN, 1.0, fallback=3) == 3  # not retried yet
    assert await decimals.lookup(BROKEN) is None and decimals.failures == 2
    assert gateway.calls.count(f"GET /iserver/contract/{BROKEN}/info-and-rules") == 1
    gateway.routes[("GET", f"/iserver/contract/{BROKEN}/info-and-rules")] = rules_route(0.25)
    gateway.routes[("GET", "/iserver/contract/77/info-and-rules")] = rules_route(0.5)
    clock.now += 6.0  # a transient failure is asked again soon, a missing contract is not
    found = await decimals.lookup_many([BROKEN, BROKEN, EURUSD, 77])
    assert found[BROKEN] is not None and decimals.get(BROKEN) == 2 and decimals.get(EURUSD) == 5
    assert found[77] is None and gateway.calls.count("GET /iserver/contract/77/info-and-rules") == 1
    clock.now += 60.0
    assert await decimals.lookup(77) is not None and decimals.get(77) == 1


async def test_absurd_increments_and_conids_are_unknown(gateway: MemoryGateway) -> None:
    gateway.routes[("GET", f"/iserver/contract/{AAPL}/info-and-rules")] = rules_route(-1)
    decimals = PriceDecimals(Contracts(gateway))
    assert await decimals.lookup(AAPL) is None and decimals.get(AAPL) is None
    for bad in (0, -5, True):
        assert decimals.get(bad) is None
    with pytest.raises(InvalidArgument):
        await Contracts(gateway).price_rules(0)


def test_without_a_running_loop_nothing_is_started(gateway: MemoryGateway) -> None:
    decimals = PriceDecimals(Contracts(gateway))
    assert decimals.get(EURUSD) is None and decimals.decimals(EURUSD, None, 2) == 2
    assert gateway.calls == []


async def test_the_terminal_view_uses_the_increment_then_infers_without_it(
    gateway: MemoryGateway,
) -> None:
    from ibstream.aio.client import StreamClient
    from ibstream.cli.view import MarketView

    client = StreamClient(rest=gateway)
    view = MarketView(client, [EURUSD, AAPL, BROKEN])
    assert view.digits(EURUSD, 1.0861) == 4  # inferred while the rules are looked up
    assert view.digits(BROKEN, 1.0861) == 4 and view.digits(AAPL, 271.5) == 2
    await wait_for(lambda: view.digits(EURUSD, 1.0861) == 5)
    decimals = view.price_decimals
    assert decimals is not None
    await wait_for(lambda: decimals.failures == 1)  # BROKEN: the view keeps inferring
    assert view.digits(BROKEN, 1.0861) == 4 and view.digits(BROKEN, 271.0) == 2
    assert view.digits(None, 3.5) == 4
    await decimals.close()
