"""The client against both simulator modes: the local gateway's (binary frames, socket
authenticated by the gateway) and direct access (cookie handshake, text frames); combos end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.aio.test_client_e2e import fast_client, next_of

from ibstream.protocol.combo import Combo
from ibstream.protocol.events import MarketData, PriceLadder
from ibstream.protocol.lifecycle import SessionState
from ibstream.protocol.specs import MarketDataSpec, PriceLadderSpec
from ibstream.sim import SimConfig, Simulator
from ibstream.sim.testing import wait_for
from toolkit import assert_no_leaks as assert_nothing_leaked

pytestmark = pytest.mark.e2e

COMBO = Combo.of(28812380, (265598, 1), (272093, -1))
OTHER = Combo.of(28812380, (76792991, 1), (4815747, -2))


@pytest.fixture(params=["gateway", "direct"])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    config = SimConfig(
        port=0,
        tls=False,
        seed=5,
        update_interval=0.05,
        heartbeat_interval=0.3,
        rate_limit=None,
        mode=request.param,
    )
    async with Simulator(config) as simulator:
        yield simulator


async def test_client_streams_in_both_modes_with_the_modes_frame_kind(sim: Simulator) -> None:
    client = fast_client(sim)
    kinds: list[bool] = []
    client.on_frame(
        lambda direction, data, now, binary: kinds.append(binary) if direction == "in" else None
    )
    await client.start()
    try:
        assert client.state is SessionState.AUTHENTICATED
        handle = client.subscribe(MarketDataSpec(265598, fields=("31", "84", "86")))
        event = await next_of(handle, MarketData)
        assert event.conid == 265598
        assert kinds and set(kinds) == {sim.config.mode == "gateway"}
    finally:
        await client.stop()
        await assert_nothing_leaked(sim)


async def test_combo_streams_with_legs_and_its_own_ticker(sim: Simulator) -> None:
    client = fast_client(sim)
    await client.start()
    try:
        one = client.subscribe(MarketDataSpec(COMBO, fields=("31", "84", "86")))
        two = client.subscribe(MarketDataSpec(OTHER.wire, fields=("31",)))
        event = await next_of(one, MarketData)
        assert event.combo == COMBO and event.key == MarketDataSpec(COMBO).key
        other = await next_of(two, MarketData)
        assert other.combo == OTHER
        await wait_for(
            lambda: (
                client.tickers.get_or_create(COMBO).last is not None
                and client.tickers.get_or_create(OTHER).last is not None
            )
        )
        spread = sim.last_price(265598) - sim.last_price(272093)
        assert client.tickers.get_or_create(COMBO).last == pytest.approx(spread, abs=1.0)
        assert 28812380 not in client.tickers  # never merged into the bare spread conid
    finally:
        await client.stop()
        await assert_nothing_leaked(sim)


async def test_ladder_rows_in_the_size_at_price_form_keep_their_prices() -> None:
    config = SimConfig(
        port=0, tls=False, rate_limit=None, ladder_form="size_at_price", ladder_interval=0.05
    )
    async with Simulator(config) as sim:
        client = fast_client(sim)
        await client.start()
        try:
            handle = client.subscribe(PriceLadderSpec(sim.config.account, 265598))
            ladder = await next_of(handle, PriceLadder)
            assert ladder.rows and all(r.price is not None for r in ladder.rows)
            assert all((r.bid_size or r.ask_size) for r in ladder.rows)
        finally:
            await client.stop()
            await assert_nothing_leaked(sim)
