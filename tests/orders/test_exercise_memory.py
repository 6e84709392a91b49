"""Option exercise over the in-memory transport: the answer check (pure), gateway errors,
silence and a missing socket, scripted frame by frame."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import StreamClient
from ibstream.aio.memory import MemoryGateway
from ibstream.exceptions import ConnectionClosed, InvalidArgument, StreamTimeout
from ibstream.orders import (
    ActionNotOffered,
    ExerciseInterrupted,
    ExerciseRejected,
    ExerciseTicket,
    TradingConfig,
)
from ibstream.orders.exercise import offered_action
from ibstream.protocol.events import ExerciseContent, ExercisePrompt, UserAction
from toolkit import fast_client_config

CONID = 708764406
ACCOUNT = "DU7654321"


def prompt(request_id: int | None = 7, *ids: str) -> ExercisePrompt:
    return ExercisePrompt(
        request_id=request_id,
        message_id="16",
        title="Warning",
        text="final",
        actions=tuple(UserAction(id=i, text=i.title()) for i in (ids or ("continue", "cancel"))),
        raw={},
    )


def content_frame(request_id: int = 5, position: int = 4) -> dict[str, Any]:
    return {
        "topic": "shs+exercise",
        "action": "content",
        "MID": "14",
        "data": {
            "id": request_id,
            "position": position,
            "user_action": [{"id": "submit", "text": "Submit"}, {"id": "cancel", "text": "Cancel"}],
        },
    }


def test_offered_action_checks_the_question() -> None:
    assert offered_action(prompt(), "continue") == "continue"
    assert offered_action(prompt(7, "Continue"), " continue ") == "Continue"
    with pytest.raises(ActionNotOffered) as info:
        offered_action(prompt(), "submit")
    assert info.value.offered == ("continue", "cancel") and info.value.action == "submit"
    with pytest.raises(ActionNotOffered, match="no answer at all"):
        offered_action(_no_actions(), "continue")
    with pytest.raises(InvalidArgument, match="no request id"):
        offered_action(prompt(None), "continue")
    for bad in ("", "  ", None, 3):
        with pytest.raises(InvalidArgument):
            offered_action(prompt(), bad)  # type: ignore[arg-type]


def _no_actions() -> ExerciseContent:
    return ExerciseContent(
        request_id=5,
        message_id=None,
        actions=(),
        contract=None,
        underlying_symbol=None,
        underlying_conid=None,
        underlying_price=None,
        sec_type=None,
        position=None,
        deadline=None,
        warning=None,
        qty_exercise=None,
        qty_lapse=None,
        qty_hold=None,
        submitted=None,
        revocable=None,
        loading=None,
        raw={},
    )


@pytest.fixture
def gateway() -> MemoryGateway:
    gw = MemoryGateway()
    gw.routes[("GET", "/iserver/accounts")] = (200, {"accounts": [ACCOUNT]})
    return gw


@pytest.fixture
async def client(gateway: MemoryGateway) -> AsyncIterator[StreamClient]:
    config = fast_client_config(trading=TradingConfig(enabled=True))
    c = StreamClient(rest=gateway, config=config)
    await c.start()
    yield c
    await c.stop()


async def test_a_refused_ticket_raises_the_gateways_reason_masked(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    task = asyncio.ensure_future(client.exercise.start(CONID, timeout=5))
    await gateway.socket.wait_sent(lambda t: t.startswith("shs+exercise"))
    gateway.socket.feed({"topic": "shs+exercise", "error": f"No position in {ACCOUNT}"})
    with pytest.raises(ExerciseRejected) as info:
        await task
    assert ACCOUNT not in str(info.value) and "No position in DU" in str(info.value)
    assert client.exercise.ticket is None


async def test_a_submission_error_and_silence(client: StreamClient, gateway: MemoryGateway) -> None:
    task = asyncio.ensure_future(client.exercise.start(CONID, timeout=5))
    await gateway.socket.wait_sent(lambda t: t.startswith("shs+exercise"))
    gateway.socket.feed({"topic": "shs+exercise"}, content_frame())
    ticket = await task
    assert ticket.content is not None and ticket.content.position == 4
    submit = asyncio.ensure_future(ticket.submit(2, timeout=5))
    sent = await gateway.socket.wait_sent(lambda t: '"user_action":"submit"' in t)
    assert '"value":2' in sent and '"id":"5"' in sent
    gateway.socket.feed({"topic": "inp+exercise", "error": "exercise value must be > 0"})
    with pytest.raises(ExerciseRejected, match="value must be"):
        await submit
    # the gateway stays silent: a clear timeout, the ticket stays open for another try
    with pytest.raises(StreamTimeout, match="exercise submission"):
        await ticket.submit(1, timeout=0.05)
    ticket.close()
    assert ticket.closed and client.exercise.ticket is None


async def test_nothing_is_queued_without_a_live_socket(gateway: MemoryGateway) -> None:
    c = StreamClient(rest=gateway, config=fast_client_config())
    with pytest.raises(ConnectionClosed, match="nothing was sent"):
        await c.send_message('inp+exercise+{"action":"user_input","data":{}}')


async def _ticket(client: StreamClient, gateway: MemoryGateway) -> ExerciseTicket:
    task = asyncio.ensure_future(client.exercise.start(CONID, timeout=5))
    await gateway.socket.wait_sent(lambda t: t.startswith("shs+exercise"))
    gateway.socket.feed({"topic": "shs+exercise"}, content_frame())
    return await task


async def test_a_lost_socket_interrupts_the_dialog(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    ticket = await _ticket(client, gateway)
    submit = asyncio.ensure_future(ticket.submit(2, timeout=30))
    await gateway.socket.wait_sent(lambda t: '"user_action":"submit"' in t)
    gateway.socket.drop()
    with pytest.raises(ExerciseInterrupted, match="nothing was exercised") as info:
        await submit
    assert not info.value.answered
    assert ticket.closed and client.exercise.ticket is None  # the desk is free again
    with pytest.raises(ExerciseInterrupted):
        await ticket.confirm()


async def test_a_loss_after_the_confirmation_says_to_look_before_retrying(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    ticket = await _ticket(client, gateway)
    submit = asyncio.ensure_future(ticket.submit(1, timeout=30))
    await gateway.socket.wait_sent(lambda t: '"user_action":"submit"' in t)
    gateway.socket.feed(
        {
            "topic": "inp+exercise",
            "action": "prompt",
            "MID": "16",
            "data": {"id": 7, "text": "final", "user_actions": [{"id": "continue"}]},
        }
    )
    await submit
    confirm = asyncio.ensure_future(ticket.confirm(timeout=30))
    await gateway.socket.wait_sent(lambda t: '"user_action":"continue"' in t)
    gateway.socket.drop()
    with pytest.raises(ExerciseInterrupted, match="side EXER") as info:
        await confirm
    assert info.value.answered
