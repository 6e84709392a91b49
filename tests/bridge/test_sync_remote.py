"""``ibstream.sync.remote``: the threaded consumer of a bridged session, on real NATS and Redis.

The bridge and the simulator run on the test's event loop; each scenario is blocking code run
in a worker thread (``asyncio.to_thread``), as a threaded application would use it. Gateway
actions from that thread go through :func:`_on_loop`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from ibstream import (
    Bulletin,
    Gap,
    MarketData,
    MarketDataSpec,
    OrdersSpec,
    OrderStatus,
    Trade,
    TradesSpec,
)
from ibstream.exceptions import ClientClosed, InvalidArgument, InvalidState, StreamTimeout
from ibstream.sim import Simulator
from ibstream.sim.testing import wait_until
from ibstream.sync.remote import RemoteClient, connect
from toolkit import ibstream_threads, next_of_blocking

from .helpers import AAPL, WAIT, running_bridge, upstream_holds

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def _no_remote_threads() -> bool:
    return not [n for n in ibstream_threads() if n.startswith("ibstream-remote")]


async def _in_thread(scenario: Callable[[], T]) -> T:
    """Run blocking ``scenario`` in a worker thread; the test's loop keeps serving the bridge."""
    return await asyncio.to_thread(scenario)


def _on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """From the worker thread: run ``coro`` on the test's loop (the simulator's) and wait."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(WAIT)


async def test_market_data_ticker_and_callbacks(sim: Simulator, bus_url: str, prefix: str) -> None:
    async with running_bridge(sim, bus_url, prefix):

        def scenario() -> None:
            threads: set[str] = set()
            seen: list[MarketData] = []

            def on_md(ev: MarketData) -> None:
                threads.add(threading.current_thread().name)
                seen.append(ev)

            with connect(bus_url, prefix=prefix) as client:
                remove = client.on(MarketData, on_md)
                with client.subscribe(MarketDataSpec(AAPL)) as aapl:
                    assert aapl.wait(WAIT)
                    ev = next_of_blocking(aapl, MarketData, WAIT)
                    assert ev.conid == AAPL
                    wait_until(lambda: client.ticker(AAPL).last is not None, WAIT, what="last")
                    assert client.ticker_snapshot(AAPL).last is not None
                    assert AAPL in client.tickers
                    while (first := aapl.position) is None:  # the state's event has none
                        next_of_blocking(aapl, MarketData, WAIT)
                    next_of_blocking(aapl, MarketData, WAIT)
                    assert aapl.position is not None and aapl.position > first
                wait_until(lambda: len(seen) > 0, WAIT, what="callback")
                remove()
                assert threads == {"ibstream-sinks"}  # never the loop that reads the bus
                assert client.metrics()["delivered"] > 0
                assert client.metrics()["sinks"]["callback_errors"] == 0
            assert not client.running
            wait_until(_no_remote_threads, WAIT, what=lambda: f"threads {ibstream_threads()}")

        await _in_thread(scenario)


async def test_orders_trades_and_events(sim: Simulator, bus_url: str, prefix: str) -> None:
    loop = asyncio.get_running_loop()
    async with running_bridge(sim, bus_url, prefix):
        await upstream_holds(sim)

        def scenario() -> None:
            with connect(bus_url, prefix=prefix) as client:
                orders = client.subscribe(OrdersSpec())
                trades = client.subscribe(TradesSpec())
                events = client.events()
                assert orders.wait(WAIT) and trades.wait(WAIT)
                order = _on_loop(loop, sim.place_order(AAPL, "BUY", 5, "MKT"))
                oid = int(order.order_id)

                def filled() -> bool:
                    o = client.orders.get(oid)
                    return o is not None and o.status is OrderStatus.FILLED

                wait_until(filled, WAIT, what="order filled")
                wait_until(lambda: client.trades.for_order(oid), WAIT, what="its fill")
                trade = next_of_blocking(trades, Trade, WAIT, where=lambda t: t.order_id == oid)
                assert trade.conid == AAPL
                loop.call_soon_threadsafe(sim.send_bulletin, "halted in the sync test")
                bulletin = next_of_blocking(events, Bulletin, WAIT)
                assert bulletin.message == "halted in the sync test"
                events.close()
                list(events)  # iteration ends: the events already at hand, then the end
                with pytest.raises(ClientClosed):
                    events.get(WAIT)
            with pytest.raises(InvalidState):
                client.subscribe(OrdersSpec())

        await _in_thread(scenario)


async def test_upstream_gap_reaches_a_threaded_consumer(
    sim: Simulator, bus_url: str, prefix: str
) -> None:
    loop = asyncio.get_running_loop()
    async with running_bridge(sim, bus_url, prefix):

        def scenario() -> None:
            with (
                connect(bus_url, prefix=prefix) as client,
                client.subscribe(MarketDataSpec(AAPL)) as aapl,
            ):
                next_of_blocking(aapl, MarketData, WAIT)
                _on_loop(loop, sim.drop_connections(abrupt=True))
                gap = next_of_blocking(aapl, Gap, 15)
                assert gap.key == MarketDataSpec(AAPL).key and gap.end >= gap.start
                next_of_blocking(aapl, MarketData, WAIT)  # and the stream goes on

        await _in_thread(scenario)


async def test_threaded_consumer_resumes_from_its_position(
    sim: Simulator, bus_url: str, prefix: str
) -> None:
    """Stop, come back with ``after=position``: the next trade, nothing delivered twice."""
    loop = asyncio.get_running_loop()
    async with running_bridge(sim, bus_url, prefix):
        await upstream_holds(sim)

        def scenario() -> None:
            def fill() -> int:
                return int(_on_loop(loop, sim.place_order(AAPL, "BUY", 5, "MKT")).order_id)

            def copy(t: Trade) -> tuple[str, bool]:
                return (t.execution_id, t.commission is not None)  # IBKR sends each fill twice

            with connect(bus_url, prefix=prefix) as first:
                sub = first.subscribe(TradesSpec())
                oid = fill()
                seen = {copy(next_of_blocking(sub, Trade, WAIT, where=lambda t: t.order_id == oid))}
                while (ev := sub.get_nowait()) is not None:  # what else it had at hand
                    if isinstance(ev, Trade):
                        seen.add(copy(ev))
                position = sub.position
            assert position is not None
            later = fill()
            with connect(bus_url, prefix=prefix) as again:
                sub = again.subscribe(TradesSpec(), after=position)
                assert sub.wait(WAIT)
                resumed: list[Trade] = []
                while not any(t.order_id == later for t in resumed):
                    resumed.append(next_of_blocking(sub, Trade, WAIT))
                assert sub.position is not None and sub.position > position
                assert not {copy(t) for t in resumed} & seen  # nothing delivered twice
                assert len({copy(t) for t in resumed}) == len(resumed)

        await _in_thread(scenario)


def test_bad_use_is_refused_clearly(redis_url: str) -> None:
    with pytest.raises(InvalidArgument, match="nats:// or redis://"):
        RemoteClient("http://bus:4222")
    client = connect(redis_url)
    with pytest.raises(InvalidState, match="not running"):
        client.subscribe(OrdersSpec())
    client.stop()  # never started: nothing to do
    with pytest.raises(InvalidState, match="starts once"):
        client.start()


def test_lifecycle_shows_in_repr_and_every_stop_returns_once_stopped(redis_url: str) -> None:
    """Two threads stop the client at once: each ``stop()`` returns only once the loop thread is
    joined (the second waits for the first, as ``ibstream.Client``'s does)."""
    client = connect(redis_url, prefix="phases")
    assert repr(client).endswith(" new>") and not client.running
    client.start()
    assert repr(client).endswith(" running>") and client.running
    gate = threading.Barrier(2)
    joined_at_return: list[bool] = []

    def stop() -> None:
        gate.wait(WAIT)
        client.stop()
        joined_at_return.append(_no_remote_threads())

    stoppers = [threading.Thread(target=stop, name=f"stopper-{i}") for i in range(2)]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in stoppers)
    assert joined_at_return == [True, True]
    assert repr(client).endswith(" stopped>") and not client.running
    with pytest.raises(InvalidState, match="not running"):
        client.on(None, print)


def test_get_times_out_and_stop_ends_iteration(redis_url: str) -> None:
    """No bridge publishes: ``get(timeout)`` raises ``StreamTimeout``; ``stop()`` from another
    thread ends a blocked iteration, and no thread is left."""
    with connect(redis_url, prefix="quiet") as client:
        sub = client.subscribe(OrdersSpec())
        assert sub.wait(WAIT)  # an empty state and an empty stream: following
        with pytest.raises(StreamTimeout):
            sub.get(0.05)
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.extend(sub), name="reader")
        reader.start()
        client.stop()
        reader.join(WAIT)
        assert not reader.is_alive() and got == []
    wait_until(_no_remote_threads, WAIT, what=lambda: f"threads {ibstream_threads()}")


def test_a_client_dropped_without_stop_is_stopped(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import gc

    client = connect(redis_url, prefix="dropped")
    client.start()
    client.subscribe(OrdersSpec())
    assert not _no_remote_threads()
    del client
    gc.collect()
    wait_until(_no_remote_threads, WAIT, what=lambda: f"threads {ibstream_threads()}")
    assert "an ibstream.sync.remote client was not stopped" in caplog.text
