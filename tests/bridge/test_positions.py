"""Positions over the bus: the leader publishes ``client.positions`` changes and keeps their
live state; ``remote.positions`` (async and threaded) reads them like the local client's."""

from __future__ import annotations

import asyncio

import pytest

import ibstream.remote
from ibstream.bridge.core import StateMirror, merge_event
from ibstream.protocol.portfolio import Position
from ibstream.remote import event_from_dict, event_from_json
from ibstream.remote.positions import RemotePositions
from ibstream.remote.wire import (
    POSITIONS_KEY,
    PositionUpdate,
    StateEntry,
    entity_of,
    message_id,
)
from ibstream.serialize import event_to_json
from ibstream.sim import Simulator
from ibstream.sim.portfolio_routes import set_position
from ibstream.state.positions import PositionBook, PositionChange
from ibstream.sync.remote import connect as sync_connect

from .helpers import AAPL, WAIT, running_bridge, upstream_holds, wait_for

IBM = 8314
ACCOUNT = "DU1234567"


def _pos(conid: int, qty: float, account: str = ACCOUNT, price: float = 10.0) -> Position:
    return Position.from_json(
        {"conid": conid, "position": qty, "mktPrice": price, "ticker": "X"}, account
    )  # type: ignore[return-value]


# -- pure pieces ------------------------------------------------------------------------------


def test_update_round_trips_and_keys_its_entity() -> None:
    up = PositionUpdate(account=ACCOUNT, conid=AAPL, position=_pos(AAPL, 5))
    body = event_to_json(up)
    assert event_from_json(body) == up
    closed = PositionUpdate(account=ACCOUNT, conid=AAPL, position=None)
    assert event_from_json(event_to_json(closed)) == closed
    assert entity_of(up) == f"{ACCOUNT}-{AAPL}" == entity_of(closed)
    assert up.key == POSITIONS_KEY and str(POSITIONS_KEY) == "pl:positions"
    # the id is the token and the publisher's serial (a retry reuses the id made for it): a new
    # leader's snapshot is never dropped as a duplicate of an older message, nor is a position
    # back to a size it had
    assert message_id(up, body, 2, 1) != message_id(up, body, 1, 1)
    assert message_id(up, body, 1, 2) != message_id(up, body, 1, 1)


def test_a_closed_position_replaces_the_state_entity() -> None:
    opened = PositionUpdate(account=ACCOUNT, conid=AAPL, position=_pos(AAPL, 5))
    closed = PositionUpdate(account=ACCOUNT, conid=AAPL, position=None)
    assert merge_event(opened, closed) == closed  # not filled in from the open position
    mirror = StateMirror()
    mirror.applied(opened, 0, (1, 0))
    mirror.applied(closed, 0, (2, 0))
    [(key, entries, watermark)] = mirror.take(0, fence=3)
    assert key == POSITIONS_KEY and watermark == (2, 0)
    entry = StateEntry.from_json(entries[entity_of(closed)])  # type: ignore[index]
    assert entry.position == (2, 0) and event_from_dict(entry.event) == closed


def test_book_apply_reports_changes_once() -> None:
    book = PositionBook()
    change = book.apply(ACCOUNT, AAPL, _pos(AAPL, 5))
    assert change is not None and change.previous is None and change.quantity_delta == 5
    assert book.apply(ACCOUNT, AAPL, _pos(AAPL, 5)) is None  # a repeat changes nothing
    change = book.apply(ACCOUNT, AAPL, None)
    assert change is not None and change.current is None and AAPL not in book
    assert book.apply(ACCOUNT, AAPL, None) is None


async def test_remote_positions_never_go_back_to_an_older_update() -> None:
    state: list[tuple[tuple[int, int], object]] = []

    async def read_state() -> list[tuple[tuple[int, int], object]]:
        return state

    positions = RemotePositions(lambda: None, read_state)  # type: ignore[arg-type, return-value]
    changes: list[PositionChange] = []
    positions.on_change(changes.append)
    positions.apply(PositionUpdate(account=ACCOUNT, conid=AAPL, position=_pos(AAPL, 5)), (7, 0))
    # the state was written before the stream message at 7: it must not take the position back
    state.append(((5, 0), PositionUpdate(account=ACCOUNT, conid=AAPL, position=_pos(AAPL, 2))))
    state.append(((3, 0), PositionUpdate(account=ACCOUNT, conid=IBM, position=_pos(IBM, 4))))
    assert [c.conid for c in await positions.refresh()] == [IBM]
    assert positions.quantity(AAPL) == 5 and positions.quantity(IBM) == 4
    assert len(positions) == 2 and AAPL in positions and positions.accounts == (ACCOUNT,)
    assert [c.conid for c in changes] == [AAPL, IBM]


# -- end to end, on both buses -----------------------------------------------------------------


def _held(sim: Simulator, conid: int) -> float:
    """What the simulated account holds in ``conid`` (the ground truth)."""
    pos = sim.gateway.book.positions.get(conid)
    return pos.quantity if pos is not None else 0.0


def _truth(sim: Simulator) -> dict[int, float]:
    return {c: p.quantity for c, p in sim.gateway.book.positions.items() if p.quantity}


async def _state_shows(bus_url: str, prefix: str, conid: int, qty: float | None) -> None:
    """Wait until the bus's positions state shows ``conid`` at ``qty`` (``None``: closed)."""
    bus = ibstream.remote.open_bus(bus_url, prefix=prefix)
    await bus.start()
    try:
        async with asyncio.timeout(WAIT):
            while True:
                _, entries = await bus.state(POSITIONS_KEY)
                held = [event_from_dict(StateEntry.from_json(d).event) for d in entries.values()]
                now = [u.position for u in held if u.conid == conid]
                if now and (now[0].quantity if now[0] is not None else None) == qty:
                    return
                await asyncio.sleep(0.02)
    finally:
        await bus.close()


async def test_a_fill_moves_the_remote_position(sim: Simulator, bus_url: str, prefix: str) -> None:
    """Fills move the remote position as they move the bridge's own ``client.positions``;
    a position sold flat is reported closed."""
    async with (
        running_bridge(sim, bus_url, prefix) as bridge,
        ibstream.remote.connect(bus_url, prefix=prefix) as remote,
    ):
        await upstream_holds(sim)
        changes: list[PositionChange] = []
        remote.positions.on_change(changes.append)
        await remote.positions.start(timeout=WAIT)
        assert remote.positions.tracking
        assert bridge.client is not None
        local = bridge.client.positions
        truth = _truth(sim)  # the account's positions before any order of this test
        assert truth  # the simulator starts with some
        await remote.positions.wait_for(lambda p: {x.conid: x.quantity for x in p} == truth, WAIT)
        before = _held(sim, AAPL)
        await sim.place_order(AAPL, "BUY", 5, "MKT")
        await remote.positions.wait_for(lambda p: p.quantity(AAPL) == before + 5, WAIT)
        assert any(c.conid == AAPL and c.quantity_delta == 5 for c in changes)
        got = remote.positions.get(AAPL, ACCOUNT)
        assert got is not None and got.account == ACCOUNT and got in list(remote.positions)
        await sim.place_order(AAPL, "SELL", before + 5, "MKT")
        await remote.positions.wait_for(lambda p: AAPL not in p, WAIT)
        assert [c for c in changes if c.conid == AAPL][-1].current is None
        await wait_for(lambda: local.get(AAPL) is None, WAIT, what="the bridge's own book")
        for conid in truth:  # the same positions as the bridge's own client.positions
            assert remote.positions.quantity(conid) == local.quantity(conid) == truth[conid]
        assert bridge.counts["published"] > 0 and bridge.counts["not_leader"] == 0


async def test_late_joiner_sees_current_positions(
    sim: Simulator, bus_url: str, prefix: str
) -> None:
    """A consumer that starts after the positions were published reads them at ``start()``
    (the live state), then follows changes from the state's watermark."""
    set_position(sim.gateway, IBM, 42, 240.0)
    async with running_bridge(sim, bus_url, prefix):
        await upstream_holds(sim)
        await _state_shows(bus_url, prefix, IBM, 42.0)
        async with ibstream.remote.connect(bus_url, prefix=prefix) as late:
            first = await late.positions.start(timeout=WAIT)
            assert late.positions.quantity(IBM) == 42  # at once: no waiting for a message
            assert any(c.conid == IBM and c.previous is None for c in first)
            assert IBM in late.positions and late.positions.accounts == (ACCOUNT,)
            before = _held(sim, AAPL)
            await late.positions.wait_for(lambda p: p.quantity(AAPL) == before, WAIT)
            await sim.place_order(AAPL, "BUY", 3, "MKT")
            await late.positions.wait_for(lambda p: p.quantity(AAPL) == before + 3, WAIT)
            await late.positions.refresh()  # the state read again never takes a position back
            assert late.positions.quantity(AAPL) == before + 3
            late.positions.stop()
            assert not late.positions.tracking and late.positions.quantity(IBM) == 42


async def test_new_leader_publishes_what_closed_while_nobody_led(
    sim: Simulator, bus_url: str, prefix: str
) -> None:
    """A position closed between two leaders' terms is published closed by the next leader:
    a consumer never keeps a position the account no longer holds."""
    set_position(sim.gateway, IBM, 10, 240.0)
    async with ibstream.remote.connect(bus_url, prefix=prefix) as remote:
        async with running_bridge(sim, bus_url, prefix):
            await remote.positions.start(timeout=WAIT)
            await remote.positions.wait_for(lambda p: p.quantity(IBM) == 10, WAIT)
            await _state_shows(bus_url, prefix, IBM, 10.0)
        set_position(sim.gateway, IBM, 0, 0.0)  # closed while no bridge leads
        async with running_bridge(sim, bus_url, prefix) as second:
            await remote.positions.wait_for(lambda p: IBM not in p, WAIT)
            await _state_shows(bus_url, prefix, IBM, None)
            assert second.terms == 1
        async with ibstream.remote.connect(bus_url, prefix=prefix) as late:
            await late.positions.start(timeout=WAIT)
            assert IBM not in late.positions


async def test_threaded_remote_positions(sim: Simulator, bus_url: str, prefix: str) -> None:
    """``ibstream.sync.remote``'s ``positions``: the blocking API of ``Client.positions``."""
    loop = asyncio.get_running_loop()
    async with running_bridge(sim, bus_url, prefix):
        await upstream_holds(sim)
        before = _held(sim, AAPL)

        def scenario() -> None:
            changes: list[PositionChange] = []
            with sync_connect(bus_url, prefix=prefix) as client:
                positions = client.positions
                positions.on_change(changes.append)
                positions.start()
                assert positions.tracking
                positions.wait_for(lambda p: p.quantity(AAPL) == before, WAIT)
                asyncio.run_coroutine_threadsafe(
                    sim.place_order(AAPL, "BUY", 4, "MKT"), loop
                ).result(WAIT)
                positions.wait_for(lambda p: p.quantity(AAPL) == before + 4, WAIT)
                assert AAPL in positions and len(positions) >= 1
                assert any(p.conid == AAPL for p in positions)
                assert positions.get(AAPL) is not None
                assert any(c.conid == AAPL and c.quantity_delta == 4 for c in changes)
                positions.stop()
                assert not positions.tracking

        await asyncio.to_thread(scenario)


@pytest.mark.parametrize("bad", [b"{}", b'{"pos": "1", "fence": 1, "event": {"type": "X"}}'])
def test_bad_state_entries_are_not_positions(bad: bytes) -> None:
    try:
        ev = event_from_dict(StateEntry.from_json(bad).event)
    except ibstream.exceptions.InvalidArgument:
        return
    assert not isinstance(ev, PositionUpdate)


def test_a_bad_position_payload_is_malformed_not_a_crash() -> None:
    from ibstream import Malformed

    bad = {"type": "PositionUpdate", "key": "pl:positions", "account": ACCOUNT, "conid": 1}
    assert isinstance(event_from_dict({**bad, "position": {"bogus": 1}}), Malformed)
    assert isinstance(event_from_dict({**bad, "position": 5}), Malformed)
