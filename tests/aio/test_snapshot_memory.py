"""REST snapshots over the in-memory transport: the ``fields`` argument and the pre-flight
under a short ``timeout``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ibstream.aio.marketdata import MarketDataRest
from ibstream.aio.memory import MemoryGateway

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
