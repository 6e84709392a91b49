"""The blocking client against the simulator over real sockets: lifecycle, handles, state."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ibstream.exceptions import (
    GatewayError,
    InvalidArgument,
    InvalidState,
    StreamTimeout,
    SubscriptionConflict,
)
from ibstream.protocol.events import MarketData, OrderUpdate, Pnl, Trade, TradeUpdated
from ibstream.protocol.lifecycle import (
    Gap,
    SessionState,
    SubscriptionState,
    SubscriptionStateChanged,
)
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, PnlSpec, TradesSpec
from ibstream.sim.testing import SimThread, wait_until
from ibstream.state import AccountState, OrderBook, TradeBook
from ibstream.sync import Client, wait_all
from toolkit import assert_nothing_left, fast_client_config, ibstream_threads, waiting

pytestmark = pytest.mark.e2e

AAPL = 265598
MSFT = 272093


def next_of(handle: object, kind: type, timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        ev = handle.get(max(0.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
        if isinstance(ev, kind):
            return ev


# -- lifecycle ----------------------------------------------------------------------------------


def test_start_stop_leaves_nothing(sim: SimThread) -> None:
    """start() authenticates; stop() closes the socket and joins the loop thread."""
    client = Client(sim.url, config=fast_client_config())
    assert client.state is SessionState.DISCONNECTED
    client.start()
    assert client.running and client.state is SessionState.AUTHENTICATED
    assert ibstream_threads() == ["ibstream-loop"]
    assert sim.connections == 1
    client.stop()
    client.stop()  # idempotent
    assert not client.running
    assert_nothing_left(sim)


def test_context_manager_and_single_start(sim: SimThread) -> None:
    """``with`` starts and stops; a client starts once."""
    with Client(sim.url, config=fast_client_config()) as client, pytest.raises(InvalidState):
        client.start()
    with pytest.raises(InvalidState):
        client.start()
    with pytest.raises(InvalidState):
        client.subscribe(MarketDataSpec(AAPL))
    assert_nothing_left(sim)


def test_bad_arguments_fail_at_construction() -> None:
    """A bad URL is an InvalidArgument from the constructor, before any thread exists."""
    with pytest.raises(InvalidArgument):
        Client("ftp://nowhere")
    assert not ibstream_threads()


def test_start_failure_stops_everything(sim: SimThread) -> None:
    """A gateway that never answers: start() raises and leaves no thread behind."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}/v1/api", config=fast_client_config())
    with pytest.raises((StreamTimeout, GatewayError)):
        client.start(timeout=0.5)
    assert not client.running
    assert_nothing_left(sim)


def test_stop_without_start() -> None:
    """stop() on a client never started is a no-op."""
    client = Client("http://127.0.0.1:1/v1/api")
    client.stop()
    assert not ibstream_threads()


# -- handles ------------------------------------------------------------------------------------


def test_subscription_wait_status_iteration(client: Client) -> None:
    """wait() confirms, status is ACTIVE, iteration yields the stream's events."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    assert isinstance(handle.status, SubscriptionState)
    assert handle.wait(5) is True
    assert handle.status is SubscriptionState.ACTIVE and handle.active
    got = []
    for ev in handle:
        if isinstance(ev, MarketData):
            got.append(ev)
        if len(got) == 3:
            break
    assert all(ev.conid == AAPL for ev in got)
    assert handle.key == MarketDataSpec(AAPL).key
    handle.unsubscribe()
    handle.unsubscribe()  # idempotent
    list(handle)  # drains what was at hand, then ends
    wait_until(lambda: client.metrics()["subscriptions"] == {})


def test_unsubscribe_from_another_thread_ends_iteration(client: Client) -> None:
    """A thread blocked iterating a handle returns when another thread unsubscribes."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    assert handle.wait(5)
    ended = threading.Event()

    def consume() -> None:
        for _ in handle:
            pass
        ended.set()

    t = threading.Thread(target=consume)
    t.start()
    wait_until(lambda: waiting(t))
    handle.unsubscribe()
    t.join(5)
    assert ended.is_set()


def test_stop_ends_blocked_iteration(sim: SimThread) -> None:
    """stop() ends a blocked iteration in another thread, events stream included."""
    client = Client(sim.url, config=fast_client_config())
    client.start()
    handle = client.subscribe(OrdersSpec())
    events = client.events()
    results: list[str] = []

    def consume(it: object, name: str) -> None:
        for _ in it:  # type: ignore[attr-defined]
            pass
        results.append(name)

    threads = [
        threading.Thread(target=consume, args=(handle, "handle")),
        threading.Thread(target=consume, args=(events, "events")),
    ]
    for t in threads:
        t.start()
    wait_until(lambda: all(waiting(t) for t in threads))
    client.stop()
    for t in threads:
        t.join(5)
    assert sorted(results) == ["events", "handle"]
    with pytest.raises(StopIteration):
        next(handle)
    assert_nothing_left(sim)


def test_get_timeout_and_get_nowait(client: Client) -> None:
    """get(timeout) raises StreamTimeout on a quiet stream; get_nowait never blocks."""
    handle = client.subscribe(TradesSpec())
    assert handle.wait(5)
    while handle.get_nowait() is not None:
        pass
    t0 = time.monotonic()
    with pytest.raises(StreamTimeout):
        while True:
            handle.get(0.2)  # drain the opening events, then time out
    assert time.monotonic() - t0 < 5


def test_get_zero_timeout_returns_an_event_already_received(client: Client) -> None:
    """get(0) returns an event the client already holds for the handle, as the asyncio
    handle's ``get(0)`` does; it used to time out at once on a handle not read before (the
    events stayed in the loop's buffer until a later call)."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    assert handle.wait(5)
    wait_until(lambda: client.ticker_snapshot(AAPL).last is not None)  # data reached the client
    assert handle.get(0) is not None
    assert handle.get(-1) is not None  # a negative timeout is 0, as asyncio's


def test_get_nan_timeout_times_out_instead_of_spinning(client: Client) -> None:
    """get(nan) on a quiet stream raises StreamTimeout at once, as the asyncio handle's
    ``get(nan)`` does (it used to busy-loop on a core until an event came)."""
    handle = client.subscribe(TradesSpec())
    assert handle.wait(5)
    with pytest.raises(StreamTimeout):
        while True:
            handle.get(0.2)  # drain the opening events
    outcome: list[object] = []

    def get_nan() -> None:
        try:
            outcome.append(handle.get(float("nan")))
        except Exception as exc:
            outcome.append(exc)

    reader = threading.Thread(target=get_nan, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "get(nan) did not return"
    assert len(outcome) == 1 and isinstance(outcome[0], StreamTimeout)


def test_rejected_subscription_and_wait_all(client: Client, sim: SimThread) -> None:
    """wait() is False for a rejected stream; wait_all returns exactly the failed handles."""
    sim.call(sim.sim.reject_subscriptions, f"smd+{MSFT}", 10)
    good = client.subscribe(MarketDataSpec(AAPL))
    bad = client.subscribe(MarketDataSpec(MSFT))
    assert wait_all([good, bad], timeout=5) == [bad]
    assert client.wait_all([good], timeout=5) == []
    assert bad.wait(1) is False
    assert bad.status is SubscriptionState.REJECTED
    assert bad.reason


def test_conflict_raises_in_caller(client: Client) -> None:
    """Errors of the asyncio client reach the calling thread unchanged."""
    client.subscribe(TradesSpec(days=1))
    with pytest.raises(SubscriptionConflict):
        client.subscribe(TradesSpec(days=3))
    assert client.subscribe(TradesSpec(days=3), replace=True).wait(5)


def test_events_stream_sees_lifecycle_and_recovers_after_drop(
    client: Client, sim: SimThread
) -> None:
    """events() carries lifecycle events; after a dropped socket a Gap and fresh data arrive."""
    events = client.events()
    handle = client.subscribe(MarketDataSpec(AAPL))
    assert handle.wait(5)
    assert isinstance(next_of(events, SubscriptionStateChanged), SubscriptionStateChanged)
    sim.run(sim.sim.drop_connections())
    gap = next_of(handle, Gap, timeout=8)
    assert isinstance(gap, Gap) and gap.key == handle.key
    next_of(handle, MarketData)
    assert client.state is SessionState.AUTHENTICATED
    assert client.metrics()["reconnects"] >= 1
    events.close()
    ended = threading.Event()
    rest: list[Any] = []

    def drain() -> None:
        rest.extend(events)
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    assert ended.wait(5), "iteration did not end after close()"


# -- live state ---------------------------------------------------------------------------------


def test_ticker_live_from_other_thread_and_snapshot(client: Client) -> None:
    """ticker() is the live object; another thread sees it move; snapshots are consistent."""
    ticker = client.ticker(AAPL)
    assert client.ticker(AAPL) is ticker
    assert client.subscribe(MarketDataSpec(AAPL)).wait(5)
    seen: list[int] = []

    def watch() -> None:
        wait_until(lambda: ticker.update_count >= 3)
        seen.append(ticker.update_count)

    t = threading.Thread(target=watch)
    t.start()
    t.join(5)
    assert seen and seen[0] >= 3
    snap = client.ticker_snapshot(AAPL)
    assert snap.conid == AAPL and snap.symbol == "AAPL"
    assert snap.bid is not None and snap.ask is not None and snap.bid <= snap.ask


def test_orders_trades_account_snapshots(client: Client, sim: SimThread) -> None:
    """orders/trades/account are copies taken on the loop thread, of the asyncio client's types
    (OrderBook, TradeBook, AccountState): one model, the same names, in both APIs."""
    orders = client.subscribe(OrdersSpec())
    trades = client.subscribe(TradesSpec())
    pnl = client.subscribe(PnlSpec())
    assert wait_all([orders, trades, pnl], timeout=5) == []
    price = sim.call(sim.sim.last_price, AAPL)
    order = sim.run(sim.sim.place_order(AAPL, "BUY", 1, "LMT", price * 1.05))
    next_of(orders, OrderUpdate)
    wait_until(lambda: order.order_id in client.orders)
    next_of(trades, Trade, timeout=5)
    update = next_of(trades, TradeUpdated, timeout=5)  # the commission, not a second Trade
    assert isinstance(update, TradeUpdated) and "commission" in update.changed
    next_of(pnl, Pnl)
    aclient = client._aclient
    books = {
        "tickers": client.tickers,
        "orders": client.orders,
        "trades": client.trades,
        "account": client.account,
    }
    for name, book in books.items():
        assert type(book) is type(getattr(aclient, name))
        assert book is not getattr(aclient, name)
    trades_book = books["trades"]
    assert trades_book[update.execution_id].commission == update.trade.commission
    assert isinstance(trades_book, TradeBook)
    assert trades_book.trades() and isinstance(trades_book.trades()[0], Trade)
    assert all(isinstance(t, Trade) for t in trades_book.values())
    account = books["account"]
    assert isinstance(account, AccountState) and account.pnl and account.accounts
    snapshot = client.orders
    assert isinstance(snapshot, OrderBook) and snapshot[order.order_id].order_id == order.order_id
    snapshot.clear()  # a copy: the client's book is untouched
    assert client.orders
