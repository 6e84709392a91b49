"""REST snapshots and history over the in-memory transport: the ``fields`` argument, the
pre-flight under a short ``timeout``, arguments refused before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ibstream.aio.marketdata import MarketDataRest
from ibstream.aio.memory import MemoryGateway
from ibstream.exceptions import InvalidArgument

AAPL = 265598


class Snapshots:
    """A gateway's snapshot endpoint: the first call per conid is the pre-flight (§2.8)."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self.started: set[int] = set()

    def __call__(self, params: Mapping[str, str] | None, body: Any) -> tuple[int, Any]:
        assert params is not None
        self.queries.append(dict(params))
        out = []
        for conid in (int(c) for c in params["conids"].split(",")):
            entry: dict[str, Any] = {"conid": conid, "conidEx": str(conid)}
            if conid in self.started:
                entry.update({"31": "270.50", "84": "270.49", "86": "270.52"})
            self.started.add(conid)
            out.append(entry)
        return 200, out


@pytest.fixture
def gw() -> tuple[MemoryGateway, Snapshots]:
    gw = MemoryGateway()
    snaps = Snapshots()
    gw.routes[("GET", "/iserver/marketdata/snapshot")] = snaps
    return gw, snaps


@pytest.mark.parametrize("fields", ["31", 31, "last"])
async def test_a_single_field_is_one_field_not_its_characters(
    gw: tuple[MemoryGateway, Snapshots], fields: Any
) -> None:
    # like ``conids``, one field may be given alone; "31" must not become fields 3 and 1
    memory, snaps = gw
    got = await MarketDataRest(memory).snapshot(AAPL, fields)
    assert {q["fields"] for q in snaps.queries} == {"31"}
    assert got[AAPL].last == 270.5


async def test_a_timeout_shorter_than_the_interval_still_asks_after_the_preflight(
    gw: tuple[MemoryGateway, Snapshots],
) -> None:
    # the first call only starts the gateway's stream: within the timeout, ask once more
    memory, snaps = gw
    got = await MarketDataRest(memory).snapshot([AAPL], timeout=0.1, interval=0.2)
    assert len(snaps.queries) == 2
    assert got[AAPL].last == 270.5


async def test_a_zero_timeout_is_one_call(gw: tuple[MemoryGateway, Snapshots]) -> None:
    memory, snaps = gw
    got = await MarketDataRest(memory).snapshot([AAPL], timeout=0.0)
    assert len(snaps.queries) == 1 and got[AAPL].last is None


@pytest.mark.parametrize(("timeout", "interval"), [(-1.0, 0.2), (1.0, 0.0), (1.0, -0.5)])
async def test_absurd_timeout_or_interval_is_invalid_argument(
    gw: tuple[MemoryGateway, Snapshots], timeout: float, interval: float
) -> None:
    # an interval of 0 would ask the gateway in a tight loop until the timeout
    memory, snaps = gw
    with pytest.raises(InvalidArgument):
        await MarketDataRest(memory).snapshot([AAPL], timeout=timeout, interval=interval)
    assert snaps.queries == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"outside_rth": "false"},  # a truthy string: was sent as outsideRth=true
        {"outside_rth": 1},
        {"start": "20261127-15:00:00"},  # was a bare AttributeError (no astimezone)
        {"start": 1_795_000_000},
    ],
)
async def test_history_arguments_of_the_wrong_type_are_invalid_argument(
    kwargs: dict[str, Any],
) -> None:
    memory = MemoryGateway()
    with pytest.raises(InvalidArgument):
        await MarketDataRest(memory).history(AAPL, **kwargs)
    assert memory.calls == []
