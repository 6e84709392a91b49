"""IBind 0.2.2's REST calls for contracts, market data and portfolio work unchanged against the
simulator (they got 404 before): IBind is threaded, the simulator runs on a background loop."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ibstream.sim import Simulator
from ibstream.sim.portfolio_routes import set_position
from ibstream.sim.testing import fast_config

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ibind") is None, reason="ibind (dev extra) not installed"
)

AAPL = 265598


class _SimThread:
    def __init__(self, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(fast_config(**overrides))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Simulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with _SimThread() as s:
        yield s


@pytest.mark.timeout(60)
def test_ibind_rest_methods_against_simulator(sim: Simulator) -> None:
    from ibind import IbkrClient

    acct = sim.config.account
    set_position(sim.gateway, 8314, 25, 240.0)
    client = IbkrClient(
        url=sim.base_url + "/", cacert=False, account_id=acct, use_oauth=False, timeout=5
    )
    try:
        accounts = client.portfolio_accounts().data
        assert [a["accountId"] for a in accounts] == [acct]

        positions = client.positions().data
        ibm = next(p for p in positions if p["conid"] == 8314)
        assert ibm["position"] == 25 and ibm["contractDesc"] == "IBM" and ibm["acctId"] == acct

        info = client.contract_information_by_conid(str(AAPL)).data
        assert info["con_id"] == AAPL and info["symbol"] == "AAPL"
        assert info["instrument_type"] == "STK"

        history = client.marketdata_history_by_conid(str(AAPL), bar="5min", period="1d").data
        assert history["symbol"] == "AAPL" and history["barLength"] == 300
        assert len(history["data"]) == history["points"] == 288
        assert {"o", "h", "l", "c", "v", "t"} <= set(history["data"][0])

        conids = client.stock_conid_by_symbol("AAPL").data
        assert conids == {"AAPL": AAPL}  # the US listing (isUS filtering), not MEXI

        snap = client.live_marketdata_snapshot_by_symbol("AAPL", fields=["31", "84", "86"])
        aapl = snap["AAPL"]
        assert aapl["conid"] == AAPL
        assert {"last_price", "bid_price", "ask_price"} <= set(aapl), aapl
        assert float(aapl["bid_price"]) <= float(aapl["ask_price"])
    finally:
        client.close()
