"""The blocking client's REST features: the asyncio names, run on the loop thread."""

from __future__ import annotations

import pytest

from ibstream.exceptions import InvalidState, NotFound
from ibstream.sim.portfolio_routes import set_position
from ibstream.sim.testing import SimThread
from ibstream.state.positions import PositionChange
from ibstream.sync import Client

AAPL = 265598


def test_contracts_marketdata_portfolio_positions(sim: SimThread, client: Client) -> None:
    assert client.contracts.resolve("AAPL").conid == AAPL
    front = client.contracts.front_month("ES")
    assert client.contracts.resolve("ES").conid == front.conid
    assert client.contracts.fx("EUR.USD").conid == 12087792
    months = client.contracts.option_months("AAPL")
    assert client.contracts.strikes("AAPL", months[0]).call
    assert client.contracts.details(AAPL).symbol == "AAPL"
    with pytest.raises(NotFound):
        client.contracts.resolve("ZZZZ")
    snaps = client.marketdata.snapshot([AAPL], fields=["31", "84", "86"])
    assert snaps[AAPL].last is not None
    one = client.marketdata.snapshot(AAPL, fields="31")  # one field, not fields 3 and 1
    assert one[AAPL].last is not None and set(one[AAPL].values) <= {31, 6509}
    hist = client.marketdata.history(AAPL, period="1h", bar="5min")
    assert len(hist.bars) == 12
    assert client.portfolio.accounts()[0].account_id == "DU1234567"
    assert client.portfolio.summary()["netliquidation"].amount is not None
    assert "USD" in client.portfolio.ledger()
    sim.call(set_position, sim.sim.gateway, 8314, 9, 240.0)
    assert any(p.conid == 8314 and p.quantity == 9 for p in client.portfolio.positions())

    changes: list[PositionChange] = []
    client.positions.on_change(changes.append)
    client.positions.start()
    assert client.positions.quantity(8314) == 9 and client.positions.tracking
    before = client.positions.quantity(AAPL)
    sim.run(sim.sim.place_order(AAPL, "BUY", 3, "MKT"))
    client.positions.wait_for(lambda p: p.quantity(AAPL) == before + 3, timeout=10)
    assert any(c.conid == AAPL for c in changes)
    assert len(client.positions) == len(client.positions.all()) >= 2
    client.positions.stop()
    assert client.metrics()["pacing"]["limits"]["global"]["granted"] > 0


def test_rest_features_need_a_running_client(sim: SimThread) -> None:
    c = Client(sim.url)
    with pytest.raises(InvalidState):
        c.contracts.resolve("AAPL")
