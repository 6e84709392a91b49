"""Live positions over the in-memory transport: refreshed on fills (coalesced) and on
reconnects, change events, invalidation after a fill, errors never crash the tracker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import MemoryGateway
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import NotFound
from ibstream.protocol.connection import ProtocolConfig
from ibstream.state.positions import PositionChange

ACCT = "DU0000001"
AAPL = 265598


class Book:
    """The scripted portfolio: positions served page by page, counts of reads."""

    def __init__(self) -> None:
        self.rows: dict[int, float] = {AAPL: 10.0}
        self.reads = 0
        self.invalidations = 0

    def install(self, gw: MemoryGateway) -> None:
        gw.routes[("GET", "/portfolio/accounts")] = (200, [{"id": ACCT, "accountId": ACCT}])
        gw.routes[("GET", f"/portfolio/{ACCT}/positions/0")] = self.page
        gw.routes[("POST", f"/portfolio/{ACCT}/positions/invalidate")] = self.invalidate

    def page(self, params: Any, body: Any) -> tuple[int, Any]:
        self.reads += 1
        return 200, [
            {"acctId": ACCT, "conid": c, "position": q, "avgPrice": 100.0, "contractDesc": str(c)}
            for c, q in self.rows.items()
        ]

    def invalidate(self, params: Any, body: Any) -> tuple[int, Any]:
        self.invalidations += 1
        return 200, {"message": "success"}


def trade(execution_id: str, conid: int = AAPL) -> dict[str, Any]:
    return {
        "topic": "str",
        "args": [{"execution_id": execution_id, "conid": conid, "account": ACCT, "size": 1.0,
                  "price": "100.00", "side": "B", "symbol": "AAPL"}],
    }  # fmt: skip


@pytest.fixture
def book() -> Book:
    return Book()


@pytest.fixture
async def client(book: Book) -> AsyncIterator[tuple[StreamClient, MemoryGateway]]:
    gw = MemoryGateway()
    book.install(gw)
    cfg = ClientConfig(
        protocol=ProtocolConfig(heartbeat_timeout=5.0, subscribe_timeout=0.2, tickle_interval=60),
        reconnect=lambda: ReconnectPolicy(initial=0.01, max_delay=0.05, min_delay=0.001),
        start_timeout=2.0,
    )
    c = StreamClient(rest=gw, config=cfg)  # type: ignore[arg-type]
    await c.start()
    yield c, gw
    await c.stop()


async def test_fills_refresh_coalesced_with_changes(
    client: tuple[StreamClient, MemoryGateway], book: Book
) -> None:
    c, gw = client
    changes: list[PositionChange] = []
    c.positions.on_change(changes.append)
    first = await c.positions.start()
    assert [(ch.conid, ch.previous, ch.quantity_delta) for ch in first] == [(AAPL, None, 10.0)]
    assert c.positions.quantity(AAPL) == 10.0 and book.reads == 1
    await gw.socket.wait_sent(lambda t: t.startswith("str"))  # executions subscribed
    book.rows = {AAPL: 15.0, 8314: -2.0}
    for n in range(20):  # a burst of fills: refreshes are coalesced
        gw.socket.feed(trade(f"e{n}"))
    await c.positions.wait_for(lambda p: p.quantity(8314) == -2.0, timeout=2)
    async with asyncio.timeout(2):
        while c.positions._task is not None and not c.positions._task.done():
            await asyncio.sleep(0.01)
    assert 2 <= book.reads <= 3  # the start, then one or two for twenty fills
    assert book.invalidations >= 1  # the gateway's cache is invalidated after a fill
    assert {(ch.conid, ch.quantity_delta) for ch in changes[1:]} == {(AAPL, 5.0), (8314, -2.0)}
    book.rows = {8314: -2.0}
    gw.socket.feed(trade("e-close"))
    await c.positions.wait_for(lambda p: AAPL not in p, timeout=2)
    assert changes[-1].conid == AAPL and changes[-1].current is None


async def test_reconnect_refreshes(client: tuple[StreamClient, MemoryGateway], book: Book) -> None:
    c, gw = client
    await c.positions.start()
    reads = book.reads
    book.rows = {AAPL: 11.0}
    gw.socket.drop()
    await gw.wait_socket(2)
    await c.positions.wait_for(lambda p: p.quantity(AAPL) == 11.0, timeout=3)
    assert book.reads > reads and c.positions.refreshes >= 2


async def test_refresh_errors_are_counted_not_raised(
    client: tuple[StreamClient, MemoryGateway], book: Book
) -> None:
    c, gw = client
    await c.positions.start()
    del gw.routes[("GET", f"/portfolio/{ACCT}/positions/0")]
    gw.socket.feed(trade("e1"))
    async with asyncio.timeout(2):
        while c.positions.errors == 0:
            await asyncio.sleep(0.01)
    assert isinstance(c.positions.last_error, NotFound)
    assert c.positions.quantity(AAPL) == 10.0  # the last good read stays
    assert c.positions.tracking
