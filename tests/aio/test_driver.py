"""The driver's timer, reconnect loop, lifecycle and isolation, over the in-memory transport.

Time is a ``ManualClock``: the tests move it by hand, so nothing waits for a real timeout, and a
deadline only fires if the driver's one timer really is armed for it.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, ClientState, StreamClient
from ibstream.aio.memory import ManualClock, MemoryGateway, opening_burst
from ibstream.backoff import ReconnectPolicy, classify
from ibstream.exceptions import GatewayUnreachable, InvalidState
from ibstream.protocol import connection
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.events import OrderUpdate
from ibstream.protocol.lifecycle import ApplyFailed, SessionState
from ibstream.protocol.specs import OrdersSpec

HB = {"topic": "system", "hb": 1_777_552_110_061}


def config(policy: ReconnectPolicy | None = None, **protocol: Any) -> ClientConfig:
    base: dict[str, Any] = {
        "heartbeat_timeout": 600.0,
        "tickle_interval": 600.0,
        "auth_poll_interval": 5.0,
        "auth_timeout": 5.0,
    }
    base.update(protocol)
    pol = policy or ReconnectPolicy(initial=1.0, max_delay=30.0, min_delay=0.5)
    return ClientConfig(protocol=ProtocolConfig(**base), reconnect=lambda: pol, start_timeout=20.0)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (in real time, bounded) until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


@pytest.fixture
def client_config() -> ClientConfig:
    """The ``client`` fixture's configuration (tests/aio/conftest.py)."""
    return config()


# -- issue 11 defect 1: a deadline that moves earlier wakes the timer -------------------------


async def test_auth_lost_polls_at_the_poll_interval_not_the_old_deadline(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """Entering AUTH_LOST schedules a poll 5 s ahead while the timer sleeps until a deadline
    minutes away: the timer must wake, so the poll happens 5 s later, not minutes later."""
    await clock.advance(1.0)  # the timer is now asleep until the 600 s keepalive
    gateway.authenticated = False
    gateway.socket.feed({"topic": "sts", "args": {"authenticated": False}})
    await until(lambda: client.state is SessionState.AUTH_LOST)
    assert "auth_status" not in gateway.calls
    gateway.authenticated = True
    await clock.advance(5.1)
    await until(lambda: "auth_status" in gateway.calls)
    await until(lambda: client.state is SessionState.AUTHENTICATED)
    assert len(gateway.sockets) == 1


# -- issue 11 defect 2: backoff resets once a connection proved healthy ------------------------


async def test_backoff_resets_after_an_authenticated_connection_with_data(
    gateway: MemoryGateway, clock: ManualClock
) -> None:
    """Five clean closes a few seconds apart, each after the socket authenticated and delivered
    data: every reconnect starts from the first delay (attempt 1), it never grows."""
    policy = ReconnectPolicy(initial=1.0, max_delay=30.0, min_delay=0.5, reset_after=60.0)
    client = StreamClient(rest=gateway, config=config(policy), clock=clock)
    await client.start()
    for n in range(1, 6):
        ws = gateway.socket
        ws.feed(HB)  # data after authentication
        await until(lambda n=n: client.metrics()["frames"] >= 4 * n)
        await clock.advance(8.0)
        ws.close_from_server(1000)
        await until(lambda n=n: client.metrics()["reconnects"] == n)
        assert policy.attempt == 1, f"close {n}: backoff grew to attempt {policy.attempt}"
        await clock.advance(1.0)  # the first delay is at most `initial`
        await gateway.wait_socket(n + 1)
        await until(lambda: client.state is SessionState.AUTHENTICATED)
    await client.stop()


async def test_backoff_still_grows_when_connections_never_authenticate(
    gateway: MemoryGateway, clock: ManualClock
) -> None:
    """A gateway that accepts sockets but never authenticates them is not healthy: the delay
    keeps growing (the reset needs authentication and data)."""
    policy = ReconnectPolicy(initial=1.0, max_delay=30.0, min_delay=0.5, reset_after=60.0)
    client = StreamClient(rest=gateway, config=config(policy), clock=clock)
    await client.start()
    gateway.auto_burst = False
    gateway.socket.close_from_server(1000)
    for n in range(1, 4):
        await until(lambda n=n: client.metrics()["reconnects"] == n)
        assert policy.attempt == n
        await clock.advance(30.0)
        ws = await gateway.wait_socket(n + 1)
        ws.close_from_server(1000)
    await client.stop()


# -- issue 11 defect 10 ------------------------------------------------------------------------


async def test_fresh_login_with_new_session_id_reconnects_at_once(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """Logout then login with a new session id: when authentication comes back the driver
    checks the session id at once and moves to a socket of the new session (it does not wait
    for the next keepalive, 600 s away here; only for the first, shortest backoff delay)."""
    old = gateway.socket
    old.feed(HB)
    old.feed({"topic": "sts", "args": {"authenticated": False}})
    await until(lambda: client.state is SessionState.AUTH_LOST)
    gateway.session_id = "f" * 32  # logged out and in again
    old.feed({"topic": "sts", "args": {"authenticated": True}})
    await until(lambda: old.closed)
    await clock.advance(1.0)
    new = await gateway.wait_socket(2)
    assert new.session_id == "f" * 32 and old.closed
    await until(lambda: client.session_id == "f" * 32)


async def test_data_without_heartbeats_keeps_the_socket(
    gateway: MemoryGateway, clock: ManualClock
) -> None:
    """Decision (docs/architecture.md): any frame proves the socket alive, heartbeats or not;
    the stale-socket detector fires only when nothing at all arrives for heartbeat_timeout."""
    client = StreamClient(rest=gateway, config=config(heartbeat_timeout=10.0), clock=clock)
    await client.start()
    ws = gateway.socket
    for i in range(6):  # 30 s of data, no heartbeat
        ws.feed({"topic": "sor", "args": [{"acct": "DU1", "orderId": i, "status": "Submitted"}]})
        await until(lambda i=i: client.metrics()["frames"] >= 4 + i)
        await clock.advance(5.0)
    assert len(gateway.sockets) == 1 and not ws.closed
    await clock.advance(10.5)  # now silence: stale
    await until(lambda: ws.closed)
    await client.stop()


# -- issue 11 defect 3 (driver side): one event's failure stays with that event ---------------


async def test_failing_apply_is_isolated_and_reported(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """Applying one order raises: the neighbours of the same frame are applied and delivered,
    an ApplyFailed names the event, the connection stays."""
    events = client.events()
    real_apply = client.orders.apply

    def apply(event: OrderUpdate) -> Any:
        if event.order_id == 2:
            raise OverflowError("cannot convert float infinity to integer")
        return real_apply(event)

    client.orders.apply = apply  # type: ignore[method-assign]
    args = [{"acct": "DU1", "orderId": i, "status": "Submitted"} for i in (1, 2, 3)]
    gateway.socket.feed({"topic": "sor", "args": args})
    await until(lambda: 3 in client.orders)
    assert 1 in client.orders and 2 not in client.orders
    seen = []
    while (ev := events.get_nowait()) is not None:
        seen.append(ev)
    failed = [e for e in seen if isinstance(e, ApplyFailed)]
    assert len(failed) == 1 and failed[0].event_type == "OrderUpdate"
    assert "OverflowError" in failed[0].error
    assert [e.order_id for e in seen if isinstance(e, OrderUpdate)] == [1, 2, 3]
    assert client.metrics()["apply_errors"] == 1
    assert len(gateway.sockets) == 1 and client.state is SessionState.AUTHENTICATED


async def test_odd_order_value_does_not_drop_the_session(
    client: StreamClient, gateway: MemoryGateway
) -> None:
    """The audit's input (``"conid":"inf"`` in an ``sor`` entry) costs neither the connection
    nor the next entry of the frame."""
    handle = client.subscribe(OrdersSpec())
    await handle.ready(1)
    gateway.socket.feed(
        {
            "topic": "sor",
            "args": [
                {"acct": "DU1", "orderId": 7, "conid": "inf", "status": "Submitted"},
                {"acct": "DU1", "orderId": 8, "status": "Submitted"},
            ],
        }
    )
    await until(lambda: 8 in client.orders)
    got = [e.order_id async for e in _drain(handle) if isinstance(e, OrderUpdate)]
    assert got == [7, 8]
    assert len(gateway.sockets) == 1 and client.metrics()["reconnects"] == 0


async def test_core_failures_never_stop_the_reader_or_the_timer(
    gateway: MemoryGateway, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside the core (a bug) while reading a frame or at a tick is isolated:
    reported as ApplyFailed, counted, and the socket and the timer go on."""
    client = StreamClient(rest=gateway, config=config(), clock=clock)
    proto = client.protocol
    real_decode, real_tick = connection.decode, proto.tick
    failures = {"frame": 1, "tick": 1}

    def decode(data: Any) -> Any:
        if failures["frame"]:
            failures["frame"] -= 1
            raise RuntimeError("core bug in receive_frames")
        return real_decode(data)

    def tick(now: float) -> None:
        if failures["tick"]:
            failures["tick"] -= 1
            raise RuntimeError("core bug in tick")
        real_tick(now)

    monkeypatch.setattr(connection, "decode", decode)
    proto.tick = tick  # type: ignore[method-assign]
    reported: list[ApplyFailed] = []
    client.on(ApplyFailed, reported.append)
    gateway.auto_burst = False
    starting = asyncio.create_task(client.start())
    ws = await gateway.wait_socket(1)
    ws.feed(HB)  # this frame fails in the core
    ws.feed(*opening_burst())
    await starting
    events = client.events()
    assert client.metrics()["frame_errors"] == 1
    await until(lambda: client.metrics()["timer_errors"] == 1)
    await clock.advance(1.5)  # the timer retries after 1 s
    gateway.socket.feed(
        {"topic": "sor", "args": [{"acct": "DU1", "orderId": 4, "status": "Submitted"}]}
    )
    await until(lambda: 4 in client.orders)
    seen = list(iter(events.get_nowait, None))
    assert any(isinstance(e, OrderUpdate) and e.order_id == 4 for e in seen)
    assert sorted(e.event_type for e in reported) == ["frame", "tick"]
    assert "core bug in tick" in reported[-1].error or "core bug in tick" in reported[0].error
    assert len(gateway.sockets) == 1 and client.state is SessionState.AUTHENTICATED
    await clock.advance(700.0)  # the 600 s keepalive still fires: the timer is alive
    await until(lambda: gateway.calls.count("tickle") >= 2)
    await client.stop()


async def _drain(handle: Any) -> AsyncIterator[Any]:
    while (ev := handle.get_nowait()) is not None:
        yield ev


# -- issue 10 deliverable 5: lifecycle and fatal programming errors ----------------------------


async def test_lifecycle_and_restart_after_stop_raises_at_once(
    gateway: MemoryGateway, clock: ManualClock
) -> None:
    """NEW -> RUNNING -> STOPPED; starting a stopped client fails at once, not after the start
    timeout, and says what to do."""
    client = StreamClient(rest=gateway, config=config(), clock=clock)
    assert client.lifecycle is ClientState.NEW
    await client.start()
    assert client.lifecycle is ClientState.RUNNING
    with pytest.raises(InvalidState, match="already started"):
        await client.start()
    await client.stop()
    assert client.lifecycle is ClientState.STOPPED
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(InvalidState, match="runs once"):
        await client.start()
    assert loop.time() - began < 2.0  # not after the 20 s start timeout
    with pytest.raises(InvalidState, match="STOPPED"):
        client.subscribe(OrdersSpec())


async def test_programming_error_is_fatal_at_once_with_its_traceback(
    gateway: MemoryGateway,
) -> None:
    """A TypeError from the transport (an older dependency missing a keyword) is not retried:
    start() raises that very exception, original frames included, well before start_timeout."""
    gateway.raise_next = TypeError("ws_connect() got an unexpected keyword argument 'x'")
    client = StreamClient(rest=gateway, config=config())
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(TypeError, match="unexpected keyword") as info:
        await client.start()
    assert loop.time() - began < 5.0  # start_timeout is 20 s: nothing was retried
    assert gateway.calls.count("tickle") == 1
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "_check" in frames and "_connect_once" in frames
    assert client.lifecycle is ClientState.FAILED and client.error is info.value


@pytest.mark.parametrize(
    ("exc", "fatal"),
    [
        (TypeError("x"), True),
        (AttributeError("x"), True),
        (InvalidState("x"), True),
        (NameError("x"), True),
        (GatewayUnreachable("x"), False),
        (ConnectionResetError("x"), False),
        (TimeoutError(), False),
        (ValueError("odd input"), False),
    ],
)
def test_classify_programming_errors(exc: BaseException, fatal: bool) -> None:
    assert classify(exc) is fatal


async def test_unreachable_gateway_is_retried_with_the_manual_clock(
    gateway: MemoryGateway, clock: ManualClock
) -> None:
    """Retryable errors go round the reconnect loop on the injected clock."""
    gateway.reachable = False
    client = StreamClient(rest=gateway, config=config(), clock=clock)
    starting = asyncio.create_task(client.start())
    await until(lambda: gateway.calls.count("tickle") == 1)
    await clock.advance(1.0)  # the first delay is at most `initial`
    await until(lambda: gateway.calls.count("tickle") >= 2)
    gateway.reachable = True
    await clock.advance(30.0)  # at most max_delay
    await starting
    assert client.lifecycle is ClientState.RUNNING and client.metrics()["reconnects"] >= 2
    await client.stop()
