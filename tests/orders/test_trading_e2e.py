"""Order entry end to end: the asyncio client against the simulator on port 0, real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ibstream.aio.client import StreamClient
from ibstream.orders import (
    Bracket,
    LimitExceeded,
    Limits,
    OcaGroup,
    OrderNotFilled,
    OrderRejected,
    OrderRequest,
    Prompt,
    PromptPolicy,
    PromptsDeclined,
    TradingConfig,
    TradingDisabled,
)
from ibstream.protocol.events import OrderUpdate, Trade
from ibstream.protocol.specs import OrdersSpec, TradesSpec
from ibstream.sim import Simulator
from ibstream.state import OrderStatus

from .conftest import AAPL, ACCOUNT, MSFT, make_client, sim_config

pytestmark = pytest.mark.e2e


def px(sim: Simulator, factor: float = 1.0, conid: int = AAPL) -> float:
    return round(sim.last_price(conid) * factor, 2)


async def test_limit_order_fills_partially_then_fully(sim: Simulator, client: StreamClient) -> None:
    """A resting limit order works, then fills in parts when the market crosses it."""
    handle = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 10, px(sim, 0.97)))
    assert handle.coid.startswith("ibs-") and handle.account == ACCOUNT
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    sim.set_price(AAPL, px(sim, 0.96))
    order = await handle.filled(timeout=5)
    assert order.status is OrderStatus.FILLED and order.filled == 10
    assert len(handle.fills) >= 2  # 5 then 5 (half the remaining per crossing)
    assert handle.filled_quantity == 10
    assert sim.gateway.book.positions[AAPL].quantity >= 10
    assert sim.entry.counters.per_coid[handle.coid] == 1


async def test_market_order_and_events_in_order(sim: Simulator, client: StreamClient) -> None:
    """A market order fills at once; updates() yields its order updates and executions."""
    handle = await client.trading.place(OrderRequest.market(MSFT, "SELL", 3))
    await handle.filled(timeout=5)
    kinds = [type(ev) async for ev in handle.updates()]
    assert kinds[0] is OrderUpdate and Trade in kinds
    trades = await client.trading.recent_trades()
    assert any(t.order_id == handle.order_id and t.order_ref == handle.coid for t in trades)


@pytest.mark.parametrize(
    ("make", "move"),
    [
        (lambda p: OrderRequest.stop(AAPL, "BUY", 2, round(p * 1.02, 2)), 1.03),
        (
            lambda p: OrderRequest.stop_limit(
                AAPL, "SELL", 2, round(p * 0.98, 2), round(p * 0.97, 2)
            ),
            0.975,
        ),
        (lambda p: OrderRequest.trailing(AAPL, "SELL", 2, 1.0), 0.99),
        (lambda p: OrderRequest.trailing(AAPL, "BUY", 2, 1.0, "%"), 1.02),
    ],
    ids=["stop", "stop-limit", "trail-amount", "trail-percent"],
)
async def test_stop_types_trigger_and_fill(
    sim: Simulator, client: StreamClient, make, move
) -> None:  # type: ignore[no-untyped-def]
    """Stops, stop-limits and trailing stops wait, then trigger and fill when the market moves."""
    handle = await client.trading.place(make(px(sim)))
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    assert handle.status is OrderStatus.SUBMITTED
    sim.set_price(AAPL, px(sim, move))
    await handle.filled(timeout=5)


async def test_moc_and_loc_fill_in_the_closing_auction(
    sim: Simulator, client: StreamClient
) -> None:
    """MOC fills in the closing auction; an LOC whose limit is not reached is cancelled."""
    moc = await client.trading.place(OrderRequest.market_on_close(AAPL, "BUY", 4))
    loc = await client.trading.place(OrderRequest.limit_on_close(AAPL, "BUY", 4, px(sim, 0.97)))
    await moc.wait_status(OrderStatus.SUBMITTED, timeout=5)
    await loc.wait_status(OrderStatus.SUBMITTED, timeout=5)
    assert sim.close_auction() == 1
    await moc.filled(timeout=5)
    with pytest.raises(OrderNotFilled):
        await loc.filled(timeout=5)


async def test_cash_quantity_outside_rth_and_gtc(sim: Simulator, client: StreamClient) -> None:
    """Cash quantity, GTC and outside-RTH reach the gateway (o10331 accepted up front)."""
    policy = PromptPolicy(accept=["o10331"])
    order = OrderRequest.limit(
        AAPL, "BUY", None, px(sim, 0.98), cash_qty=2000.0, tif="GTC", outside_rth=True
    )
    handle = await client.trading.place(order, prompts=policy)
    info = await client.trading.status(handle.order_id)
    assert info.tif == "GTC" and info.total_size == int(2000 / px(sim, 0.98))
    assert sim.gateway.book.orders[handle.order_id].outside_rth is True


async def test_bracket_children_work_after_the_parent_and_cancel_each_other(
    sim: Simulator, client: StreamClient
) -> None:
    """Take-profit and stop-loss wait for the parent's fill; one filling cancels the other."""
    p = px(sim)
    hs = await client.trading.place_bracket(
        Bracket(
            entry=OrderRequest.limit(AAPL, "BUY", 5, round(p * 0.98, 2)),
            take_profit=round(p * 1.02, 2),
            stop_loss=round(p * 0.95, 2),
        )
    )
    assert hs.take_profit is not None and hs.stop_loss is not None
    assert hs.take_profit.coid == hs.parent.coid + "-1"
    await hs.stop_loss.wait_status(OrderStatus.PRE_SUBMITTED, timeout=5)
    sim.set_price(AAPL, round(p * 0.97, 2))
    await hs.parent.filled(timeout=5)
    await hs.take_profit.wait_status(OrderStatus.SUBMITTED, timeout=5)
    sim.set_price(AAPL, round(p * 1.03, 2))
    await hs.take_profit.filled(timeout=5)
    with pytest.raises(OrderNotFilled):
        await hs.stop_loss.filled(timeout=5)
    assert sim.gateway.book.orders[hs.stop_loss.order_id].status == "Cancelled"


async def test_oca_group_first_fill_cancels_the_rest(sim: Simulator, client: StreamClient) -> None:
    """In an OCA group the first fill cancels the other orders."""
    p = px(sim)
    a, b = await client.trading.place_oca(
        OcaGroup(
            (
                OrderRequest.limit(AAPL, "BUY", 3, round(p * 0.98, 2)),
                OrderRequest.limit(AAPL, "SELL", 3, round(p * 1.02, 2)),
            )
        )
    )
    await b.wait_status(OrderStatus.SUBMITTED, timeout=5)
    sim.set_price(AAPL, round(p * 0.97, 2))
    await a.filled(timeout=5)
    assert (await b.wait_done(timeout=5)).status is OrderStatus.CANCELLED


async def test_modify_and_cancel_a_working_order(sim: Simulator, client: StreamClient) -> None:
    """A working order is modified (price, quantity) and then cancelled."""
    handle = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 5, px(sim, 0.97)))
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    new_price = px(sim, 0.965)
    info = await client.trading.modify(handle.order_id, price=new_price, quantity=7)
    assert info.limit_price == new_price and info.total_size == 7
    await handle.cancel()
    final = await handle.wait_done(timeout=5)
    assert final.status is OrderStatus.CANCELLED


@pytest.mark.parametrize("source", ["live book", "order list"])
async def test_a_modify_restates_outside_rth(source: str) -> None:
    """A gateway may take a modify for a full replace, resetting a flag the body omits: the
    modify restates the order's outside-RTH flag, from the live order book or, when the book
    does not have the order, from the gateway's order list."""
    async with Simulator(sim_config(modify_replaces=True)) as sim:
        client = make_client(sim)
        await client.start()
        try:
            policy = PromptPolicy(accept=["o10331"])
            order = OrderRequest.limit(AAPL, "BUY", 3, px(sim, 0.97), outside_rth=True)
            handle = await client.trading.place(order, prompts=policy)
            await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
            if source == "order list":
                assert client.orders.remove(handle.order_id) is not None
            price = px(sim, 0.96)
            await client.trading.modify(handle.order_id, price=price, prompts=policy)
            assert sim.gateway.book.orders[handle.order_id].price == price
            assert sim.gateway.book.orders[handle.order_id].outside_rth is True
        finally:
            await client.stop()


async def test_whatif_places_nothing(sim: Simulator, client: StreamClient) -> None:
    """What-if returns cost, commission and margin; no order is created."""
    before = len(sim.gateway.book.orders)
    w = await client.trading.whatif(OrderRequest.limit(AAPL, "BUY", 100, px(sim)))
    assert w.amount == pytest.approx(100 * px(sim), rel=1e-6)
    assert w.commission is not None and w.commission > 0
    assert w.position.after == 100 + (w.position.current or 0)
    assert len(sim.gateway.book.orders) == before


async def test_prompt_declined_by_default_raises_with_prompts(
    sim: Simulator, client: StreamClient
) -> None:
    """Without a policy a prompt is declined and raised with its message ids; nothing is placed."""
    before = len(sim.gateway.book.orders)
    with pytest.raises(PromptsDeclined) as info:
        await client.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.5)))
    assert info.value.prompts[0].message_ids == ("o163",)
    assert len(sim.gateway.book.orders) == before


async def test_prompt_chain_accepted_up_front_and_by_callback(
    sim: Simulator, client: StreamClient
) -> None:
    """A chain of prompts: accepted ids are confirmed, the callback decides the rest."""
    sim.set_order_prompts([["p1", "First question"], ["p2", "Second question"]])
    asked: list[Prompt] = []

    async def callback(prompt: Prompt, what: str) -> bool:
        asked.append(prompt)
        assert "AAPL" in what or "265598" in what
        return True

    policy = PromptPolicy(accept=["o163", "p1"], callback=callback)
    handle = await client.trading.place(
        OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.5)), prompts=policy
    )
    assert [p.message_ids for p in asked] == [("p2",)]
    assert sim.entry.counters.prompts == 3
    assert handle.order_id in sim.gateway.book.orders


async def test_prompt_rejected_by_callback(sim: Simulator, client: StreamClient) -> None:
    """A callback saying no declines explicitly; the chain up to it is in the exception."""
    sim.set_order_prompts([["p1", "First"], ["p2", "Second"]])
    policy = PromptPolicy(accept=["p1"], callback=lambda prompt, what: False)
    with pytest.raises(PromptsDeclined) as info:
        await client.trading.place(
            OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.99)), prompts=policy
        )
    assert [p.message_ids for p in info.value.prompts] == [("p1",), ("p2",)]
    assert sim.entry.counters.placed == 0


async def test_suppression_is_explicit_and_resettable(sim: Simulator, client: StreamClient) -> None:
    """Suppressed message ids are not asked for the session; reset asks them again."""
    await client.trading.suppress(["o163"])
    await client.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.5)))
    await client.trading.reset_suppression()
    with pytest.raises(PromptsDeclined):
        await client.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.5)))


async def test_validation_error_is_a_rejection(sim: Simulator, client: StreamClient) -> None:
    """The gateway's validation error (unknown conid) raises OrderRejected with its text."""
    with pytest.raises(OrderRejected, match="not found"):
        await client.trading.place(OrderRequest.limit(999_999_999, "BUY", 1, 10.0))


async def test_duplicate_coid_is_refused(sim: Simulator, client: StreamClient) -> None:
    """Placing a cOID twice: the second is refused by the gateway, never a second order."""
    order = OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.98), coid="my-order-1")
    await client.trading.place(order)
    with pytest.raises(OrderRejected, match="already registered"):
        await client.trading.place(order)
    assert sim.entry.counters.per_coid["my-order-1"] == 1


async def test_trading_off_read_only_and_limits_send_nothing(sim: Simulator) -> None:
    """Trading off (default), read-only and limits refuse before any request is sent."""
    configs = [
        TradingConfig(),
        TradingConfig(enabled=True, read_only=True),
    ]
    for config in configs:
        c = make_client(sim, config)
        await c.start()
        try:
            with pytest.raises(TradingDisabled):
                await c.trading.place(OrderRequest.market(AAPL, "BUY", 1))
            with pytest.raises(TradingDisabled):
                await c.trading.cancel(1)
            assert (await c.trading.whatif(OrderRequest.market(AAPL, "BUY", 1))).amount
        finally:
            await c.stop()
    limited = TradingConfig(
        enabled=True, limits=Limits(max_quantity=10, max_notional=5_000, allowed_symbols=["AAPL"])
    )
    c = make_client(sim, limited)
    await c.start()
    try:
        for order in (
            OrderRequest.limit(AAPL, "BUY", 11, 100.0, symbol="AAPL"),
            OrderRequest.limit(AAPL, "BUY", 10, 600.0, symbol="AAPL"),
            OrderRequest.limit(MSFT, "BUY", 1, 100.0, symbol="MSFT"),
            OrderRequest.limit(MSFT, "BUY", 1, 100.0, symbol="AAPL"),  # a label is no fact
            OrderRequest.limit(MSFT, "BUY", 1, 100.0),  # the gateway names it: MSFT
            OrderRequest.limit(999_999_999, "BUY", 1, 100.0, symbol="AAPL"),  # nobody names it
        ):
            with pytest.raises(LimitExceeded, match=r"max_|allowed_symbols"):
                await c.trading.place(order)
        assert sim.entry.counters.placed == 0 and sim.entry.counters.refused == 0
        # an order without a label takes the gateway's symbol, which is allowed
        handle = await c.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.97)))
        assert handle.order_id in sim.gateway.book.orders
    finally:
        await c.stop()


async def test_disconnect_between_placement_and_confirmation(
    sim: Simulator, client: StreamClient
) -> None:
    """The stream drops right after the placement is accepted: the handle still sees the fill."""
    sim.order_fault("place", "disconnect")
    handle = await client.trading.place(OrderRequest.market(AAPL, "BUY", 2))
    await handle.filled(timeout=10)
    assert sim.entry.counters.per_coid[handle.coid] == 1


@pytest.mark.parametrize("kind", ["lose_response", "drop_request", "error_500", "error_500_after"])
@pytest.mark.parametrize("step", ["place", "reply"])
async def test_lost_responses_never_duplicate(
    sim: Simulator, client: StreamClient, step: str, kind: str
) -> None:
    """A fault at the placement or the confirmation: reconciled by cOID, exactly one order."""
    sim.set_order_prompts([["p1", "Confirm?"]])
    sim.order_fault(step, kind)
    handle = await client.trading.place(
        OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.98)), prompts=PromptPolicy(accept=["p1"])
    )
    assert sim.entry.counters.per_coid == {handle.coid: 1}
    assert handle.order_id == sim.entry.coids[(ACCOUNT, handle.coid)]
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)


async def test_lost_cancel_and_modify_are_checked(sim: Simulator, client: StreamClient) -> None:
    """Lost answers to modify/cancel are checked against the order's status."""
    handle = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 5, px(sim, 0.97)))
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    sim.order_fault("modify", "lose_response")
    info = await client.trading.modify(handle.order_id, price=px(sim, 0.96))
    assert info.limit_price == px(sim, 0.96)
    sim.order_fault("cancel", "drop_request")
    await client.trading.cancel(handle.order_id)
    assert (await handle.wait_done(timeout=5)).status is OrderStatus.CANCELLED


async def test_slow_consumer_loses_no_event(sim: Simulator, client: StreamClient) -> None:
    """A consumer that reads updates() slowly still gets every order update and execution."""
    handle = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 40, px(sim, 0.97)))
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    for _ in range(6):
        sim.set_price(AAPL, px(sim, 0.96))
        await asyncio.sleep(0)
    await handle.filled(timeout=5)
    seen = []
    async for ev in handle.updates():
        await asyncio.sleep(0.01)  # slow
        seen.append(ev)
    executions = {ev.execution_id for ev in seen if isinstance(ev, Trade)}
    assert {t.execution_id for t in handle.fills} == executions
    assert len(executions) == len(
        [e for e in sim.gateway.book.executions if e.order_id == handle.order_id]
    )
    assert len(seen) == handle.updates_seen
    handle.close()


async def test_every_action_is_logged_with_its_coid_and_a_masked_account(
    sim: Simulator, client: StreamClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Placement, prompts, reconciliation, modify and cancel are logged; the account never in
    clear."""
    caplog.set_level(logging.INFO, logger="ibstream.orders")
    sim.set_order_prompts([["p1", f"Account {ACCOUNT} must confirm"]])
    sim.order_fault("place", "lose_response")
    handle = await client.trading.place(
        OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.98)), prompts=PromptPolicy(accept=["p1"])
    )
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    await client.trading.modify(
        handle.order_id, price=px(sim, 0.97), prompts=PromptPolicy(accept=["p1"])
    )
    await client.trading.cancel(handle.order_id)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert ACCOUNT not in text
    assert "DU*****67" in text
    for fragment in (
        "place cOID=" + handle.coid,
        "confirm prompt cOID=" + handle.coid,
        "looking it up",
        f"post cOID={handle.coid} attempt 2",  # the lost answer was a prompt: not placed yet
        f"modify order {handle.order_id} cOID={handle.coid}",
        f"confirm prompt order {handle.order_id}",
        f"cancel order {handle.order_id} cOID={handle.coid}",
    ):
        assert fragment in text, fragment


async def test_streams_are_held_while_handles_exist(sim: Simulator, client: StreamClient) -> None:
    """Orders and trades streams are subscribed from the placement until the last handle closes."""
    keys = {OrdersSpec().key, TradesSpec().key}
    assert not keys & set(client.protocol.subscriptions)
    a = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.98)))
    b = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.98)))
    assert keys <= set(client.protocol.subscriptions)
    a.close()
    assert keys <= set(client.protocol.subscriptions)
    async with b:
        await b.wait_status(OrderStatus.SUBMITTED, timeout=5)
    assert not keys & set(client.protocol.subscriptions)
    assert b.updates_seen > 0  # it saw its own events while open


async def test_timeout_is_reconciled(sim: Simulator, client: StreamClient) -> None:
    """An answer slower than the request timeout: looked up, found, one order."""
    sim.order_fault("place", "delay", seconds=2.5)
    handle = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 1, px(sim, 0.98)))
    assert sim.entry.counters.per_coid == {handle.coid: 1}


async def test_modify_a_stop_limit_order(sim: Simulator, client: StreamClient) -> None:
    """A stop-limit's stop and limit prices change; the type comes back from the status."""
    p = px(sim)
    handle = await client.trading.place(
        OrderRequest.stop_limit(AAPL, "BUY", 2, round(p * 1.03, 2), round(p * 1.04, 2))
    )
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    info = await client.trading.modify(
        handle.order_id, aux_price=round(p * 1.02, 2), price=round(p * 1.025, 2)
    )
    assert info.stop_price == round(p * 1.02, 2) and info.limit_price == round(p * 1.025, 2)
    order = sim.gateway.book.orders[handle.order_id]
    assert order.order_type == "STOP_LIMIT" and order.aux_price == round(p * 1.02, 2)


async def test_lost_modify_of_tif_is_not_taken_for_done(
    sim: Simulator, client: StreamClient
) -> None:
    """A modification of the time in force whose request was dropped unprocessed is not taken
    for done because the prices and quantity in the status did not change: it is sent again."""
    handle = await client.trading.place(OrderRequest.limit(AAPL, "BUY", 3, px(sim, 0.97)))
    await handle.wait_status(OrderStatus.SUBMITTED, timeout=5)
    sim.order_fault("modify", "drop_request")
    info = await client.trading.modify(handle.order_id, tif="GTC")
    assert info.tif == "GTC"
    assert sim.gateway.book.orders[handle.order_id].tif == "GTC"
