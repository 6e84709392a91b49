"""The client's bounded order and trade books (``ClientConfig.max_terminal_orders`` /
``max_trades``) against the simulator on port 0, over real sockets."""

from __future__ import annotations

import pytest

from ibstream.aio.client import ClientConfig, connect
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.specs import OrdersSpec, TradesSpec
from ibstream.sim.testing import SimulatorFactory, wait_for
from toolkit import AAPL, assert_no_leaks, fast_client_config

pytestmark = pytest.mark.e2e


async def test_books_bounded_working_order_kept_reseed_counted_late(
    simulator: SimulatorFactory,
) -> None:
    """Five filled orders and one working: the client keeps the working one and the last two
    filled, the trade book its last three executions; after a reconnect the REST re-seed lists
    the evicted orders again, and they are counted as late, not brought back."""
    sim = await simulator(seed=3)
    client = connect(sim.base_url, config=fast_client_config(max_terminal_orders=2, max_trades=3))
    await client.start()
    try:
        orders = client.subscribe(OrdersSpec())
        trades = client.subscribe(TradesSpec())
        await orders.ready(5)
        await trades.ready(5)
        working = await sim.place_order(conid=AAPL, side="BUY", quantity=1, price=1.0)
        await wait_for(lambda: working.order_id in client.orders)
        filled: list[int] = []

        def ended(order_id: int) -> bool:
            order = client.orders.get(order_id)
            return client.orders.forgotten(order_id) or (order is not None and order.terminal)

        for _ in range(5):
            order = await sim.place_order(conid=AAPL, side="BUY", quantity=1, order_type="MKT")
            filled.append(order.order_id)
            await wait_for(lambda: ended(filled[-1]))
        await wait_for(lambda: client.metrics()["orders"]["evicted"] == 3)
        kept = list(client.orders)
        assert working.order_id in kept and client.orders[working.order_id].is_open
        assert client.orders.terminal_count == 2 and set(filled[-2:]) <= set(kept)
        assert all(client.orders.forgotten(oid) for oid in filled[:3])
        await wait_for(lambda: client.metrics()["trades"]["evicted"] >= 2)
        assert len(client.trades) == 3

        late_before = client.orders.late_updates
        reconnects = client.metrics()["reconnects"]
        await sim.drop_connections(abrupt=True)
        await wait_for(lambda: client.metrics()["reconnects"] > reconnects)
        # the re-seed lists the three evicted orders: each one late, none back in the book
        await wait_for(lambda: client.orders.late_updates >= late_before + 3, timeout=10)
        assert list(client.orders) == kept and client.metrics()["orders"]["evicted"] == 3
        m = client.metrics()["orders"]
        assert (m["kept"], m["open"], m["max_terminal"]) == (3, 1, 2)
    finally:
        await client.stop()
        await assert_no_leaks(sim)


@pytest.mark.parametrize("name", ["max_terminal_orders", "max_trades"])
@pytest.mark.parametrize("value", [0, -5, True, 2.5])
def test_bad_bounds_rejected_by_the_config(name: str, value: object) -> None:
    with pytest.raises(InvalidArgument, match=name):
        ClientConfig(**{name: value})  # type: ignore[arg-type]
    assert getattr(ClientConfig(**{name: None}), name) is None  # type: ignore[arg-type]
