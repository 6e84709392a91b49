"""The asyncio client against the simulator on port 0, over real sockets: every fault.

Each fault test asserts that data flows again, that the subscription was restored, that a ``Gap``
event was emitted for the interrupted stream, and (in the fixture) that no task or socket leaked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient, connect
from ibstream.exceptions import (
    InvalidArgument,
    InvalidState,
    NotAuthenticated,
    StreamTimeout,
    SubscriptionConflict,
    SubscriptionRejected,
    TLSError,
)
from ibstream.protocol.connection import ProtocolConfig
from ibstream.protocol.events import Bulletin, Malformed, MarketData, OrderUpdate, Trade
from ibstream.protocol.lifecycle import Gap, SessionState, SubscriptionState
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    TradesSpec,
)
from ibstream.sim import SimConfig, Simulator
from ibstream.sim.testing import SimulatorFactory, wait_for
from toolkit import AAPL, ACCOUNT, FAST, MSFT, assert_no_leaks, fast_client_config, next_of

# every test once per client WebSocket library (aiohttp, picows): see conftest.ws_backend
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ws_backend")]


def fast_client(sim: Simulator, protocol: ProtocolConfig = FAST, **kwargs: Any) -> StreamClient:
    return connect(sim.base_url, config=fast_client_config(protocol=protocol, **kwargs))


@pytest.fixture
async def sim(simulator: SimulatorFactory) -> Simulator:
    return await simulator(seed=3, heartbeat_interval=0.3)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[StreamClient]:
    c = fast_client(sim)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()
        await assert_no_leaks(sim)


async def assert_recovers(client: StreamClient, handle: Any, sim: Simulator) -> Gap:
    """After a fault: a Gap for the stream, then fresh market data, subscription ACTIVE."""
    gap = await next_of(handle, Gap, timeout=8.0)
    assert gap.key == handle.key
    assert gap.end >= gap.start
    await next_of(handle, MarketData, timeout=5.0)
    assert handle.state is SubscriptionState.ACTIVE
    assert client.state is SessionState.AUTHENTICATED
    return gap


# -- basics ---------------------------------------------------------------------------------


async def test_market_data_flows_and_ticker_updates(client: StreamClient, sim: Simulator) -> None:
    """A subscription is confirmed, delivers typed events, and the live Ticker follows."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    ev = await next_of(handle, MarketData)
    assert ev.conid == AAPL and isinstance(ev.values.get(31, 0.0), float | None)
    ticker = client.ticker(AAPL)
    await wait_for(lambda: ticker.last is not None and ticker.bid is not None)
    assert ticker.symbol == "AAPL"
    assert ticker.bid <= ticker.ask  # type: ignore[operator]
    assert client.metrics()["frames"] > 0


async def test_two_consumers_share_one_upstream_stream(
    client: StreamClient, sim: Simulator
) -> None:
    """Two consumers of one conid cause one smd upstream; the last to leave unsubscribes."""
    a = client.subscribe(MarketDataSpec(AAPL))
    b = client.subscribe(MarketDataSpec(AAPL))
    await a.ready(5)
    await b.ready(5)
    await next_of(a, MarketData)
    await next_of(b, MarketData)
    assert len(sim.received_matching(f"smd+{AAPL}")) == 1
    await a.unsubscribe()
    # a marker subscription sent after: an umd for AAPL would have reached the gateway before it
    marker = client.subscribe(MarketDataSpec(MSFT))
    await wait_for(lambda: bool(sim.received_matching(f"smd+{MSFT}")))
    assert sim.received_count(f"umd+{AAPL}+{{}}") == 0
    await marker.unsubscribe()
    await next_of(b, MarketData)
    await b.unsubscribe()
    await wait_for(lambda: sim.received_count(f"umd+{AAPL}+{{}}") == 1)


async def test_subscribe_is_idempotent_and_merges_fields(
    client: StreamClient, sim: Simulator
) -> None:
    """The same spec twice is one stream; more fields for a live conid are merged."""
    a = client.subscribe(MarketDataSpec(AAPL, fields=("31", "84")))
    await a.ready(5)
    b = client.subscribe(MarketDataSpec(AAPL, fields=("31", "86")))
    assert b.spec.fields == ("31", "84", "86")  # type: ignore[union-attr]
    await wait_for(lambda: len(sim.received_matching(f"smd+{AAPL}")) == 2)
    assert '"86"' in sim.received_matching(f"smd+{AAPL}")[-1]


async def test_conflicting_subscription_raises_or_replaces(client: StreamClient) -> None:
    """A history spec with other parameters conflicts unless replace=True."""
    h = client.subscribe(MarketHistorySpec(AAPL, period="1d", bar="5min"))
    await h.ready(5)
    with pytest.raises(SubscriptionConflict):
        client.subscribe(MarketHistorySpec(AAPL, period="2d", bar="5min"))
    h2 = client.subscribe(MarketHistorySpec(AAPL, period="2d", bar="5min"), replace=True)
    await h2.ready(5)


async def test_account_streams(client: StreamClient, sim: Simulator) -> None:
    """Orders, trades, P&L, summary and ledger reach handles and the live state."""
    orders = client.subscribe(OrdersSpec())
    trades = client.subscribe(TradesSpec())
    pnl = client.subscribe(PnlSpec())
    summary = client.subscribe(AccountSummarySpec(ACCOUNT))
    ledger = client.subscribe(AccountLedgerSpec(ACCOUNT))
    for h in (orders, trades, pnl, summary, ledger):
        await h.ready(5)
    await next_of(trades, Trade)
    await sim.place_order(conid=AAPL, side="BUY", quantity=10, order_type="MKT")
    upd = await next_of(orders, OrderUpdate)
    assert upd.order_id > 0
    await wait_for(lambda: any(o.status == "Filled" for o in client.orders.orders()))
    await wait_for(lambda: len(client.account.pnl) > 0)
    await wait_for(lambda: bool(client.account.summary(ACCOUNT)))
    await wait_for(lambda: bool(client.account.ledger(ACCOUNT)), timeout=12)
    assert len(client.trades) >= 1


async def test_events_stream_and_callbacks(client: StreamClient, sim: Simulator) -> None:
    """events() sees everything; a failing callback is isolated and counted."""
    stream = client.events()
    seen: list[Any] = []
    client.on(MarketData, seen.append)

    def broken(_: Any) -> None:
        raise RuntimeError("user bug")

    client.on(MarketData, broken)
    client.subscribe(MarketDataSpec(MSFT))
    await next_of(stream, MarketData)
    await wait_for(lambda: len(seen) >= 2)
    assert client.metrics()["callback_errors"] >= 2
    stream.close()


# -- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean-close", "abrupt-reset"])
async def test_connection_drop(client: StreamClient, sim: Simulator, abrupt: bool) -> None:
    """Clean close and abrupt reset: reconnect, resubscribe, Gap, data again."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    await next_of(handle, MarketData)
    await sim.drop_connections(abrupt=abrupt)
    await assert_recovers(client, handle, sim)
    assert client.metrics()["reconnects"] >= 1
    assert len(sim.received_matching(f"smd+{AAPL}")) >= 2


async def test_heartbeats_stop(client: StreamClient, sim: Simulator) -> None:
    """No system heartbeat (and no data) for heartbeat_timeout: stale socket -> reconnect."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    sim.set_update_interval(None, 3600)
    sim.stop_heartbeats()
    state = client.events()
    await next_of(
        state,
        object,
        timeout=6,
        where=lambda e: getattr(e, "current", None) is SessionState.DISCONNECTED,
    )
    sim.resume_heartbeats()
    sim.set_update_interval(None, 0.05)
    await assert_recovers(client, handle, sim)


async def test_auth_lost_and_restored(client: StreamClient, sim: Simulator) -> None:
    """sts authenticated:false with the socket open: suspend, poll, resubscribe on return."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    await sim.lose_auth()
    await wait_for(lambda: client.state is SessionState.AUTH_LOST)
    connections_before = client.metrics()["connections"]
    for _ in range(2):  # the client keeps polling the auth status while it is lost
        polled = sim.gateway.last_request
        await wait_for(lambda: sim.gateway.last_request > polled)  # noqa: B023
    sim.restore_auth()  # IBKR never announces this: only polling finds it
    await assert_recovers(client, handle, sim)
    assert client.metrics()["auth_losses"] == 1
    assert client.metrics()["connections"] == connections_before  # same socket


async def test_competing_session_reported_and_reclaimed(sim: Simulator) -> None:
    """Competing session: reported; with reclaim_competing the client re-authenticates."""
    from dataclasses import replace

    client = fast_client(sim, protocol=replace(FAST, reclaim_competing=True))
    await client.start()
    try:
        events = client.events()
        handle = client.subscribe(MarketDataSpec(AAPL))
        await handle.ready(5)
        await sim.competing_session()
        await next_of(
            events, object, where=lambda e: getattr(e, "current", None) is SessionState.COMPETING
        )
        await assert_recovers(client, handle, sim)
        assert sim.authenticated
    finally:
        await client.stop()
        await assert_no_leaks(sim)


async def test_market_data_silently_expired(sim: Simulator) -> None:
    """The gateway ends smd silently after its expiry; the client renews before that."""
    from dataclasses import replace

    sim.set_market_data_expiry(1.0)
    client = fast_client(sim, protocol=replace(FAST, md_renew_after=0.6))
    await client.start()
    try:
        handle = client.subscribe(MarketDataSpec(AAPL))
        await handle.ready(5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            await next_of(handle, MarketData, timeout=1.0)
        assert len(sim.received_matching(f"smd+{AAPL}")) >= 3
    finally:
        await client.stop()
        await assert_no_leaks(sim)


async def test_subscription_ignored_then_retried(client: StreamClient, sim: Simulator) -> None:
    """An ignored subscribe is re-sent after subscribe_timeout and then confirmed."""
    sim.ignore_subscriptions("smd", count=2)
    handle = client.subscribe(MarketDataSpec(MSFT))
    await handle.ready(5)
    assert len(sim.received_matching(f"smd+{MSFT}")) == 3


async def test_subscription_rejected(client: StreamClient, sim: Simulator) -> None:
    """An error answer for the topic fails ready() with SubscriptionRejected."""
    sim.reject_subscriptions("smh", count=1)
    handle = client.subscribe(MarketHistorySpec(AAPL))
    with pytest.raises(SubscriptionRejected):
        await handle.ready(5)


@pytest.mark.parametrize("kind", ["not_json", "invalid_utf8", "binary", "truncated", "wrong_types"])
async def test_malformed_frames_do_not_break_the_stream(
    client: StreamClient, sim: Simulator, kind: str
) -> None:
    """Malformed frames and invalid UTF-8 become Malformed events; the stream goes on."""
    events = client.events()
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    await sim.send_malformed(kind)
    if kind == "invalid_utf8":
        # IBKR's stray 0x99 bytes (protocol.md §1.5): decoded leniently, nothing lost
        bulletin = await next_of(events, Bulletin)
        assert "\ufffd" in (bulletin.message or "")
    elif kind != "binary":  # a well-formed binary frame decodes normally
        bad = await next_of(events, Malformed)
        assert bad.reason
    await next_of(handle, MarketData)
    assert client.metrics()["reconnects"] == 0
    assert client.state is SessionState.AUTHENTICATED


async def test_gateway_restart_with_new_session_id(client: StreamClient, sim: Simulator) -> None:
    """Restart: new session id; the client reconnects with the new cookie and resubscribes."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    old = client.session_id
    new = await sim.restart()
    await assert_recovers(client, handle, sim)
    assert client.session_id == new != old


async def test_logout_and_fresh_login_moves_to_the_new_session_at_once(sim: Simulator) -> None:
    """Logout + login with a new session id (issue 11 #10): once the poll finds authentication
    back, the client checks the session id and reconnects with the new cookie, long before the
    next keepalive (60 s here), and the stream flows again."""
    from dataclasses import replace

    client = fast_client(sim, replace(FAST, tickle_interval=60.0, heartbeat_timeout=30.0))
    await client.start()
    try:
        handle = client.subscribe(MarketDataSpec(AAPL))
        await handle.ready(5)
        old = client.session_id
        sim.logout()
        await wait_for(lambda: client.state is SessionState.AUTH_LOST)
        new = sim.login(new_session=True)
        began = time.monotonic()
        await wait_for(lambda: client.session_id == new, timeout=5.0)
        assert new != old and time.monotonic() - began < 5.0
        await assert_recovers(client, handle, sim)
    finally:
        await client.stop()
    await assert_no_leaks(sim)


# -- errors a user can cause ----------------------------------------------------------------


async def test_unreachable_gateway_times_out_start() -> None:
    """Nothing listening: start() fails with StreamTimeout naming the last error."""
    client = connect(
        "http://127.0.0.1:9/v1/api",
        config=ClientConfig(start_timeout=0.5),
    )
    with pytest.raises(StreamTimeout) as info:
        await client.start()
    assert "GatewayUnreachable" in str(info.value)
    with pytest.raises(InvalidState):
        client.subscribe(MarketDataSpec(AAPL))


async def test_tls_without_verification_option_is_fatal() -> None:
    """A self-signed gateway with verification on: fatal TLSError, no endless loop."""
    async with Simulator(SimConfig(port=0, tls=True, rate_limit=None)) as tls_sim:
        client = connect(tls_sim.base_url)
        with pytest.raises(TLSError):
            await client.start(timeout=5)


async def test_tls_with_cacert(tmp_path: Any) -> None:
    """The gateway certificate passed as cacert verifies the self-signed gateway."""
    async with Simulator(SimConfig(port=0, tls=True, rate_limit=None)) as tls_sim:
        pem = tmp_path / "gw.pem"
        assert tls_sim.cert_pem is not None
        pem.write_bytes(tls_sim.cert_pem)
        async with connect(tls_sim.base_url, cacert=str(pem)) as client:
            h = client.subscribe(MarketDataSpec(AAPL))
            await h.ready(5)
        async with connect(tls_sim.base_url, verify=False) as client:
            assert client.state is SessionState.AUTHENTICATED


async def test_not_logged_in_is_fatal_after_limit(sim: Simulator) -> None:
    """A gateway that keeps answering 401 ends in a clear fatal error, not a silent loop."""
    sim.logout()
    from dataclasses import replace

    client = fast_client(sim, protocol=replace(FAST, max_unauthenticated=0.5))
    with pytest.raises(NotAuthenticated) as info:
        await client.start(timeout=5)
    assert "authenticated" in str(info.value).lower()


def test_bad_url_is_rejected() -> None:
    """A URL that is not http(s) raises InvalidArgument at construction."""
    with pytest.raises(InvalidArgument):
        connect("ftp://example")


async def test_use_before_start_is_an_error(sim: Simulator) -> None:
    """subscribe() before start() says how to start the client."""
    client = fast_client(sim)
    with pytest.raises(Exception, match="not running"):
        client.subscribe(MarketDataSpec(AAPL))


async def test_stop_ends_in_closed_state_and_ends_streams(sim: Simulator) -> None:
    """stop(): the session reaches CLOSED, consumers see it, then their iteration ends."""
    client = fast_client(sim)
    await client.start()
    stream = client.events()
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    await client.stop()
    assert client.state is SessionState.CLOSED
    seen = [ev async for ev in stream]
    assert getattr(seen[-1], "current", None) is SessionState.CLOSED
    async with asyncio.timeout(2):  # the handle drains what it holds, then ends (no hang)
        rest = [ev async for ev in handle]
    assert all(getattr(ev, "key", handle.key) == handle.key for ev in rest)
    await assert_no_leaks(sim)


async def test_logs_never_show_secrets(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    """Session ids, cookies and account ids are masked in every ibstream log record."""
    import logging

    caplog.set_level(logging.DEBUG, logger="ibstream")
    client = fast_client(sim)
    await client.start()
    try:
        summary = client.subscribe(AccountSummarySpec(ACCOUNT))
        await summary.ready(5)
        await sim.drop_connections(abrupt=True)
        await next_of(summary, Gap, timeout=8)
        old = sim.session_id
        await sim.restart()
        await wait_for(lambda: client.session_id not in (None, old), timeout=8)
    finally:
        await client.stop()
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ibstream"))
    assert "connected to" in text  # the log is there...
    for secret in (old, sim.session_id, ACCOUNT):
        assert secret not in text  # ...but never a secret in clear


async def test_gateway_outage_then_recovery(client: StreamClient, sim: Simulator) -> None:
    """The gateway refuses connections for a while: retries with backoff, then recovers."""
    handle = client.subscribe(MarketDataSpec(AAPL))
    await handle.ready(5)
    outage = asyncio.create_task(sim.refuse_connections(1.0, drop=True))
    await wait_for(lambda: client.state is not SessionState.AUTHENTICATED, timeout=3)
    gap = await assert_recovers(client, handle, sim)
    await outage
    assert gap.end - gap.start >= 0.9
    assert client.metrics()["reconnects"] >= 1  # /tickle is paced at 1/s (IBKR), so few tries fit
