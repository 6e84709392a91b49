"""Fixtures for the blocking client: a simulator on its own thread, a fast client config, and a
check that nothing (thread, socket) is left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from simthread import SimThread

from ibstream.aio.client import ClientConfig
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.connection import ProtocolConfig
from ibstream.sync import Client

FAST = ProtocolConfig(
    heartbeat_timeout=1.5,
    tic_interval=1.0,
    tickle_interval=2.0,
    auth_poll_interval=0.1,
    auth_timeout=3.0,
    auth_lost_reconnect_after=30.0,
    subscribe_timeout=0.5,
    subscribe_attempts=3,
    md_renew_after=60.0,
)


def fast_config(**overrides: Any) -> ClientConfig:
    return ClientConfig(
        protocol=FAST,
        reconnect=lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        start_timeout=10.0,
        **overrides,
    )


def ibstream_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ibstream-")]


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def assert_nothing_left(sim: SimThread) -> None:
    """No ibstream thread is alive and the gateway sees no open socket."""
    wait_for(lambda: not ibstream_threads() and sim.connections == 0)


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread() as s:
        yield s


@pytest.fixture
def client(sim: SimThread) -> Iterator[Client]:
    c = Client(sim.url, config=fast_config())
    c.start()
    try:
        yield c
    finally:
        c.stop()
        assert_nothing_left(sim)
