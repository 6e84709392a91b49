"""Option exercise through the blocking client against the simulator (its own thread)."""

from __future__ import annotations

import pytest

from ibstream.orders import ActionNotOffered, OrderRequest, TradingConfig, TradingDisabled
from ibstream.protocol.events import ExercisePrompt, OrderUpdate
from ibstream.sim.testing import SimThread
from ibstream.sync import Client
from toolkit import assert_nothing_left
from toolkit import fast_client_config as fast_config

pytestmark = pytest.mark.e2e

MSFT = 272093


def test_sync_exercise_dialog_and_rails(sim: SimThread) -> None:
    c = Client(sim.url, config=fast_config(trading=TradingConfig(enabled=True)))
    c.start()
    try:
        with c.trading.place(OrderRequest.market(MSFT, "BUY", 2)) as handle:
            handle.filled(timeout=10)
        with c.exercise.start(MSFT) as ticket:
            content = ticket.content
            assert content is not None and content.position is not None
            assert content.position >= 2
            prompt = ticket.submit(1)
            assert isinstance(prompt, ExercisePrompt) and ticket.prompt == prompt
            with pytest.raises(ActionNotOffered):
                c.exercise.answer(prompt, "submit", quantity=1)
            order = ticket.confirm()
            assert isinstance(order, OrderUpdate) and order.raw["side"] == "EXER"
            assert ticket.closed and ticket.order == order
    finally:
        c.stop()
    off = Client(sim.url, config=fast_config())
    off.start()
    try:
        with pytest.raises(TradingDisabled):
            off.exercise.start(MSFT)
    finally:
        off.stop()
    assert_nothing_left(sim)


def test_leaving_handles_after_the_client_stopped(sim: SimThread) -> None:
    """Leaving ``with`` an order handle or an exercise ticket once the client stopped (another
    thread, a callback) is a no-op, as for subscriptions: it used to raise InvalidState, which
    replaced the exception that was leaving the block."""
    c = Client(sim.url, config=fast_config(trading=TradingConfig(enabled=True)))
    c.start()
    try:
        order = OrderRequest.market(MSFT, "BUY", 2)
        with pytest.raises(ValueError, match="mine"), c.trading.place(order) as handle:
            handle.filled(timeout=10)
            ticket = c.exercise.start(MSFT)
            c.stop()
            raise ValueError("mine")
        ticket.close()
        handle.close()
    finally:
        c.stop()
    assert_nothing_left(sim)
