"""The leader's positions on the bus: ``client.positions`` changes become ``PositionUpdate`` s.

The gateway has no position stream. The leader's client keeps its positions current from REST
(:class:`~ibstream.aio.portfolio.LivePositions`: a refresh after each fill and reconnect), and
each change it reports is queued for publishing like any other reliable event: encoded once, a
dedupe id made for it, acknowledged and retried until stored, merged into the live state
(one entity per account and conid) that late joiners read first.

A new leader starts from an empty book, so its first read reports every open position, and the
positions the bus state still shows open that the read no longer holds (closed while no bridge
led) are published as closed. The dedupe id of a position update is the fencing token and the
publisher's serial number (:func:`~ibstream.remote.wire.message_id`): retries of one update
are dropped, while a new leader's snapshot is always stored, even when an older message had the
same body (the last leader may have died before publishing a later change), and so is a
position back to a size it had; consumers apply a repeat as a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ibstream.aio.portfolio import LivePositions
from ibstream.bridge.core import StateMirror
from ibstream.exceptions import IBStreamError
from ibstream.protocol.specs import StreamKey
from ibstream.remote.wire import POSITIONS_KEY, PositionUpdate
from ibstream.state.positions import PositionChange

__all__ = ["publish_positions", "stale_positions"]

log = logging.getLogger("ibstream.bridge")


def stale_positions(held: dict[str, Any], positions: LivePositions) -> list[PositionUpdate]:
    """Closures for the state entities ``held`` (entity -> event) that show a position open in a
    tracked account which ``positions`` no longer holds."""
    out = []
    for ev in held.values():
        if not isinstance(ev, PositionUpdate) or ev.position is None:
            continue
        if ev.account in positions.accounts and positions.get(ev.conid, ev.account) is None:
            out.append(PositionUpdate(account=ev.account, conid=ev.conid, position=None))
    return out


async def publish_positions(
    positions: LivePositions,
    mirror: StateMirror,
    seed: Callable[[StreamKey], Awaitable[None]],
    enqueue: Callable[[Any], None],
    *,
    retry: float = 1.0,
) -> None:
    """Track ``positions`` and ``enqueue`` a :class:`PositionUpdate` for each change, for the
    leader's term (until cancelled). The first read is retried every ``retry`` s until REST
    answers; later refresh failures are retried by ``LivePositions`` on the next fill."""

    def changed(change: PositionChange) -> None:
        enqueue(PositionUpdate(account=change.account, conid=change.conid, position=change.current))

    remove = positions.on_change(changed)
    try:
        while True:
            try:
                await positions.start()
                break
            except IBStreamError as exc:
                log.warning("positions not read (%s): retrying in %.1f s", exc, retry)
                await asyncio.sleep(retry)
        await seed(POSITIONS_KEY)
        for update in stale_positions(mirror.entities(0, POSITIONS_KEY), positions):
            enqueue(update)
        await asyncio.get_running_loop().create_future()  # the term's end cancels it
    finally:
        remove()
        positions.stop()
