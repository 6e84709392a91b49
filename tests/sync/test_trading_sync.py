"""Order entry through the blocking client against the simulator (its own thread)."""

from __future__ import annotations

import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.orders import (
    Bracket,
    OrderNotFilled,
    OrderRequest,
    PromptPolicy,
    PromptsDeclined,
    TradingConfig,
    TradingDisabled,
)
from ibstream.protocol.events import OrderUpdate, Trade
from ibstream.sim.testing import SimThread
from ibstream.state import OrderStatus
from ibstream.sync import Client
from toolkit import assert_nothing_left
from toolkit import fast_client_config as fast_config

pytestmark = pytest.mark.e2e

AAPL = 265598


def trading_client(sim: SimThread, **trading: object) -> Client:
    config = fast_config(
        request_timeout=2.0,
        trading=TradingConfig(enabled=True, lookup_delay=0.05, **trading),  # type: ignore[arg-type]
    )
    c = Client(sim.url, config=config)
    c.start()
    return c


def last(sim: SimThread) -> float:
    return float(sim.call(sim.sim.last_price, AAPL))


def test_sync_place_fill_modify_cancel_and_reads(sim: SimThread) -> None:
    """The threaded API places, follows, modifies and cancels like the asyncio one."""
    c = trading_client(sim)
    try:
        t = c.trading
        assert t.enabled
        with t.place(OrderRequest.market(AAPL, "BUY", 3)) as handle:
            order = handle.filled(timeout=5)
            assert order.status is OrderStatus.FILLED and handle.filled_quantity == 3
            events = list(handle.updates())
            assert any(isinstance(e, OrderUpdate) for e in events)
            assert any(isinstance(e, Trade) for e in events)
        p = round(last(sim) * 0.97, 2)
        resting = t.place(OrderRequest.limit(AAPL, "BUY", 2, p))
        resting.wait_status(OrderStatus.SUBMITTED, timeout=5)
        assert t.modify(resting.order_id, price=round(p * 0.99, 2)).limit_price == round(
            p * 0.99, 2
        )
        resting.cancel()
        assert resting.wait_done(timeout=5).status is OrderStatus.CANCELLED
        with pytest.raises(OrderNotFilled):
            resting.filled(timeout=1)
        assert t.whatif(OrderRequest.limit(AAPL, "BUY", 1, p)).amount == pytest.approx(p)
        assert t.status(resting.order_id).status == "Cancelled"
        assert any(o.order_id == resting.order_id for o in t.live_orders())
        assert any(e.order_id == handle.order_id for e in t.recent_trades())
    finally:
        c.stop()
    assert_nothing_left(sim)


def test_sync_bracket_prompts_and_rails(sim: SimThread) -> None:
    """Brackets, prompt policies and the trading switch behave the same through threads."""
    c = trading_client(sim)
    try:
        p = last(sim)
        with pytest.raises(PromptsDeclined):
            c.trading.place(OrderRequest.limit(AAPL, "BUY", 1, round(p * 0.5, 2)))
        hs = c.trading.place_bracket(
            Bracket(
                entry=OrderRequest.limit(AAPL, "BUY", 1, round(p * 0.5, 2)),
                take_profit=round(p * 1.02, 2),
            ),
            prompts=PromptPolicy(accept=["o163"]),
        )
        assert hs.stop_loss is None and hs.take_profit is not None and len(hs.all()) == 2
        child = hs.take_profit.wait_status(OrderStatus.PRE_SUBMITTED, timeout=5)
        assert child.status is OrderStatus.PRE_SUBMITTED  # waits for the parent's fill
        c.trading.suppress(["o163"])
        c.trading.place(OrderRequest.limit(AAPL, "BUY", 1, round(p * 0.5, 2))).close()
        c.trading.reset_suppression()
    finally:
        c.stop()
    off = Client(sim.url, config=fast_config())
    off.start()
    try:
        with pytest.raises(TradingDisabled):
            off.trading.place(OrderRequest.market(AAPL, "BUY", 1))
    finally:
        off.stop()
    assert_nothing_left(sim)


def test_sync_lost_response_and_slow_consumer(sim: SimThread) -> None:
    """Through threads too: a lost placement answer gives one order; a slow reader of
    updates() gets every order update and execution."""
    import time

    c = trading_client(sim)
    try:
        sim.call(sim.sim.order_fault, "place", "lose_response")
        handle = c.trading.place(OrderRequest.limit(AAPL, "BUY", 20, round(last(sim) * 0.98, 2)))
        assert sim.call(lambda: dict(sim.sim.entry.counters.per_coid)) == {handle.coid: 1}
        handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
        for _ in range(5):
            sim.call(sim.sim.set_price, AAPL, round(last(sim) * 0.99, 2))
        handle.filled(timeout=5)
        seen = []
        for event in handle.updates():
            time.sleep(0.01)  # slow
            seen.append(event)
        executions = {e.execution_id for e in seen if isinstance(e, Trade)}
        expected = sim.call(
            lambda: {
                e.execution_id
                for e in sim.sim.gateway.book.executions
                if e.order_id == handle.order_id
            }
        )
        assert executions == expected and len(expected) >= 2
        handle.close()
    finally:
        c.stop()
    assert_nothing_left(sim)


def test_sync_suppress_refuses_one_string_like_the_asyncio_api(sim: SimThread) -> None:
    """``suppress("o163")`` is refused as in the asyncio API, not split into the ids "o", "1",
    "6", "3" that leave the prompt asked while the call seemed to suppress it."""
    c = trading_client(sim)
    try:
        with pytest.raises(InvalidArgument, match="message_ids"):
            c.trading.suppress("o163")
        assert sim.call(lambda: set(sim.sim.entry.suppressed)) == set()
    finally:
        c.stop()


def test_order_handle_reads_after_the_client_stopped(sim: SimThread) -> None:
    """An order handle's last known state stays readable once the client stopped (as
    ``client.orders`` is): reading it used to raise InvalidState."""
    c = trading_client(sim)
    try:
        handle = c.trading.place(OrderRequest.market(AAPL, "BUY", 2))
        handle.filled(timeout=5)
    finally:
        c.stop()
    assert handle.status is OrderStatus.FILLED and handle.done
    assert handle.filled_quantity == 2 and len(handle.fills) >= 1
    order = handle.order
    assert order is not None and order.order_id == handle.order_id
    assert_nothing_left(sim)
