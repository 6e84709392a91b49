"""Option exercise end to end: the asyncio client answers the simulator's exercise dialog over
real sockets (ticket, submit, the "final and irreversible" prompt, continue -> EXER order)."""

from __future__ import annotations

import logging

import pytest

from ibstream.aio.client import StreamClient
from ibstream.orders import (
    ActionNotOffered,
    Limits,
    OrderRequest,
    TradingConfig,
    TradingDisabled,
)
from ibstream.orders.errors import LimitExceeded
from ibstream.protocol.events import ExerciseContent, ExercisePrompt, OrderUpdate
from ibstream.sim import Simulator
from ibstream.sim.testing import wait_for

from .conftest import AAPL, ACCOUNT, MSFT, make_client

pytestmark = pytest.mark.e2e


def outgoing(client: StreamClient) -> list[str]:
    """Every text message the client writes from now on."""
    sent: list[str] = []
    client.on_frame(lambda d, data, now, binary: sent.append(str(data)) if d == "out" else None)
    return sent


def answer(request_id: int | None, action: str) -> str:
    """The documented answer message (IBKR Campus, "Exercise Options"), written out here."""
    data = '{"id":"' + str(request_id) + '","user_action":"' + action + '"}'
    return 'inp+exercise+{"action":"user_input","data":' + data + "}"


async def hold(client: StreamClient, conid: int, quantity: int) -> None:
    """A real position to exercise: a market order the simulator fills at once."""
    handle = await client.trading.place(OrderRequest.market(conid, "BUY", quantity))
    await handle.filled(timeout=10)
    handle.close()


async def test_exercise_submitted_confirmed_and_shown_as_an_exer_order(
    sim: Simulator, client: StreamClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ibstream.orders")
    await hold(client, AAPL, 5)
    sent = outgoing(client)
    async with await client.exercise.start(AAPL) as ticket:
        assert client.exercise.ticket is ticket
        content = ticket.content
        assert isinstance(content, ExerciseContent) and content.position == 5
        assert [a.id for a in content.actions] == ["submit", "cancel"]
        prompt = await ticket.submit(3)
        assert isinstance(prompt, ExercisePrompt) and prompt.request_id != content.request_id
        assert [a.id for a in prompt.actions] == ["continue", "cancel"]
        assert "irreversible" in (prompt.text or "")
        order = await ticket.confirm()
    assert isinstance(order, OrderUpdate) and order.conid == AAPL
    assert order.raw["side"] == "EXER" and order.raw["totalSize"] == 3.0
    assert ticket.closed and client.exercise.ticket is None
    # the gateway's follow-up ticket content: 3 submitted for exercise
    done = [
        ev
        for ev in ticket.events
        if isinstance(ev, ExerciseContent) and ev.submitted == 3 and ev.qty_exercise == 3
    ]
    assert done and done[0].request_id == content.request_id
    exercise_frames = [s for s in sent if "exercise" in s]
    assert exercise_frames == [
        f'shs+exercise+{{"CEX":"{AAPL}"}}',
        answer(content.request_id, "submit")[:-2]
        + ',"exercise":{"allowed":"not_shown","make_final":true,"value":3}}}',
        answer(prompt.request_id, "continue"),
    ]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("exercise")]
    assert [m.split()[1] for m in logged] == ["open", "submit", "continue"]
    assert all("acct=DU*****67" in m for m in logged)
    assert ACCOUNT not in caplog.text
    # the order book knows the exercise order
    await wait_for(lambda: order.order_id in client.orders, what="the EXER order in the book")


async def test_an_answer_the_prompt_does_not_offer_is_refused_and_never_sent(
    sim: Simulator, client: StreamClient
) -> None:
    await hold(client, MSFT, 2)
    async with await client.exercise.start(MSFT) as ticket:
        prompt = await ticket.submit(2)
        sent = outgoing(client)
        with pytest.raises(ActionNotOffered) as info:
            await client.exercise.answer(prompt, "submit", quantity=2)
        assert info.value.offered == ("continue", "cancel") and isinstance(info.value, ValueError)
        with pytest.raises(ActionNotOffered):
            await ticket.confirm("exercise_now")
        assert ticket.content is not None
        with pytest.raises(ActionNotOffered, match="'continue' is not an answer this exercise"):
            await client.exercise.answer(ticket.content, "continue")
        assert not [s for s in sent if "exercise" in s]
        await ticket.cancel()
    assert ticket.closed and client.exercise.ticket is None
    assert [s for s in sent if "exercise" in s] == [answer(prompt.request_id, "cancel")]
    # the desk is free again: a new ticket opens
    async with await client.exercise.start(MSFT) as again:
        assert again.content is not None and again.content.position == 2


async def test_quantities_over_the_position_and_limits_are_refused_before_sending(
    sim: Simulator,
) -> None:
    client = make_client(sim, TradingConfig(enabled=True, limits=Limits(max_quantity=2)))
    async with client:
        await hold(client, AAPL, 2)
        async with await client.exercise.start(AAPL) as ticket:
            sent = outgoing(client)
            with pytest.raises(ValueError, match="exceeds the position of 2"):
                await ticket.submit(3)
            with pytest.raises(ValueError):
                await ticket.submit(0)
            assert not [s for s in sent if "exercise" in s]
    limited = make_client(
        sim, TradingConfig(enabled=True, limits=Limits(allowed_conids=[MSFT], max_quantity=1))
    )
    async with limited:
        sent = outgoing(limited)
        with pytest.raises(LimitExceeded, match="allowed_conids"):
            await limited.exercise.start(AAPL)
        assert limited.exercise.ticket is None
        assert not [s for s in sent if "exercise" in s]


@pytest.mark.parametrize(
    "trading", [TradingConfig(), TradingConfig(enabled=True, read_only=True)], ids=["off", "ro"]
)
async def test_exercise_is_a_trading_action_off_unless_enabled(
    sim: Simulator, trading: TradingConfig
) -> None:
    client = make_client(sim, trading)
    async with client:
        sent = outgoing(client)
        with pytest.raises(TradingDisabled, match="exercise refused"):
            await client.exercise.start(AAPL)
        assert client.exercise.ticket is None
        assert not [s for s in sent if "exercise" in s]
