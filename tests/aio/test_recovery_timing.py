"""Recovery timing at the library's default settings, over the in-memory transport.

The budget (docs/benchmarks.md, chaos section): authentication comes back at most one
``auth_poll_interval`` (2 s) before a poll sees it; one ``/tickle`` checks the session id; the
streams are re-sent at once. An ignored market-data subscribe is re-sent after
``subscribe_first_timeout`` (2 s). Time is a ``ManualClock``: a request happens only if the driver
really asked for it at that moment.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import ManualClock, MemoryGateway
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.lifecycle import SessionState, SubscriptionState
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim.testing import wait_for

HB = {"topic": "system", "hb": 1_777_552_110_061}
AAPL = 265598
MD = MarketDataSpec(AAPL, fields=("31", "84"))
SMD = {"topic": f"smd+{AAPL}", "conid": AAPL, "server_id": "q1", "31": "1.0", "84": "0.9"}


def defaults() -> ClientConfig:
    """The library's defaults (the reconnect policy's first delay pinned for the clock)."""
    return ClientConfig(
        protocol=ProtocolConfig(),
        reconnect=lambda: ReconnectPolicy(initial=0.5, min_delay=0.5, max_delay=0.5),
    )


async def until(predicate: Callable[[], object], what: str = "") -> None:
    await wait_for(predicate, timeout=5.0, what=what)


@pytest.fixture
def client_config() -> ClientConfig:
    """The ``client`` fixture's configuration (tests/aio/conftest.py)."""
    return defaults()


async def lose_auth(client: StreamClient, gateway: MemoryGateway, clock: ManualClock) -> int:
    """``sts authenticated:false`` on the socket; returns the call count at that point."""
    await clock.advance(1.0)
    gateway.authenticated = False
    gateway.socket.feed(HB, {"topic": "sts", "args": {"authenticated": False}})
    await until(lambda: client.state is SessionState.AUTH_LOST)
    return len(gateway.calls)


async def test_auth_is_polled_every_2_s_by_default(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """The gateway never announces recovery (§8.10): the poll period bounds it."""
    mark = await lose_auth(client, gateway, clock)
    for n in (1, 2, 3):
        await clock.advance(1.95)
        assert gateway.calls[mark:].count("auth_status") == n - 1
        await clock.advance(0.06)  # the timer sleeps 1 ms past a deadline
        await until(lambda n=n: gateway.calls[mark:].count("auth_status") == n)
        gateway.socket.feed(HB)  # the socket stays alive meanwhile


async def test_a_positive_poll_resumes_with_one_tickle(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """The poll's session check is the only /tickle of the recovery: the resume must not ask
    again (a second /tickle costs the 1-per-second pacing slot the next reconnect needs)."""
    client.subscribe(MD, buffer=False)
    ws = gateway.socket
    await until(lambda: any(m.startswith("smd+") for m in ws.sent))
    mark = await lose_auth(client, gateway, clock)
    sent = len(ws.sent)
    gateway.authenticated = True
    await clock.advance(2.01)
    await until(lambda: client.state is SessionState.AUTHENTICATED)
    await until(lambda: any(m.startswith("smd+") for m in ws.sent[sent:]), "resubscribed")
    for _ in range(20):  # let any task the resume spawned run
        await clock.advance(0.0)
    assert gateway.calls[mark:] == ["auth_status", "tickle"]


async def test_a_new_session_found_by_a_poll_opens_the_socket_with_that_tickle(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """Logout and a fresh login: the poll's /tickle shows the new session id; the reconnect
    uses that answer instead of a second /tickle right after it."""
    mark = await lose_auth(client, gateway, clock)
    gateway.session_id = "e" * 32
    gateway.authenticated = True
    await clock.advance(2.01)
    await until(lambda: gateway.sockets[0].closed)
    await clock.advance(0.5)  # the first backoff delay
    new = await gateway.wait_socket(2)
    assert new.session_id == "e" * 32
    await until(lambda: client.state is SessionState.AUTHENTICATED)
    assert gateway.calls[mark:] == ["auth_status", "tickle", "ws_connect"]


async def test_a_stale_tickle_is_not_reused(gateway: MemoryGateway, clock: ManualClock) -> None:
    """The new session's /tickle answer opens the next socket only while it is fresh (5 s):
    after a longer backoff the reconnect asks again."""
    slow = ClientConfig(
        protocol=ProtocolConfig(),
        reconnect=lambda: ReconnectPolicy(initial=6.0, min_delay=6.0, max_delay=6.0),
    )
    client = StreamClient(rest=gateway, config=slow, clock=clock)
    await client.start()
    mark = await lose_auth(client, gateway, clock)
    gateway.session_id = "d" * 32
    gateway.authenticated = True
    await clock.advance(2.01)
    await until(lambda: gateway.sockets[0].closed)
    await clock.advance(6.0)
    new = await gateway.wait_socket(2)
    assert new.session_id == "d" * 32
    assert gateway.calls[mark:] == ["auth_status", "tickle", "tickle", "ws_connect"]
    await client.stop()


async def test_an_ignored_market_data_subscribe_is_resent_after_2_s(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """The gateway sometimes ignores a first ``smd`` (§8.14): re-sent after 2 s, not 5 s."""
    ws = gateway.socket
    client.subscribe(MD, buffer=False)

    def smd_count() -> int:
        return sum(1 for m in ws.sent if m.startswith("smd+"))

    await until(lambda: smd_count() == 1)
    await clock.advance(1.95)
    assert smd_count() == 1
    await clock.advance(0.06)
    await until(lambda: smd_count() == 2, "re-sent at 2 s")
    ws.feed(SMD)
    await until(lambda: client.protocol.subscriptions[MD.key][1] is SubscriptionState.ACTIVE)


async def test_a_silent_market_data_stream_is_resent_after_10_s(
    client: StreamClient, gateway: MemoryGateway, clock: ManualClock
) -> None:
    """On by default: a confirmed stream silent for md_stall_after (10 s) is re-sent."""
    ws = gateway.socket
    client.subscribe(MD, buffer=False)
    await until(lambda: any(m.startswith("smd+") for m in ws.sent))
    ws.feed(SMD)
    await until(lambda: client.protocol.subscriptions[MD.key][1] is SubscriptionState.ACTIVE)
    sent = len(ws.sent)
    await clock.advance(9.95)
    assert not any(m.startswith("smd+") for m in ws.sent[sent:])
    await clock.advance(0.06)
    await until(lambda: any(m.startswith("smd+") for m in ws.sent[sent:]), "stall re-send")
