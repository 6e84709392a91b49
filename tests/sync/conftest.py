"""Fixtures for the blocking client: the shared simulator thread and a fast client that must
leave nothing (thread, socket) behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ibstream.sim.testing import SimThread
from ibstream.sync import Client
from toolkit import assert_nothing_left, fast_client_config


@pytest.fixture
def sim(sim_thread: SimThread) -> SimThread:
    return sim_thread


@pytest.fixture
def client(sim: SimThread) -> Iterator[Client]:
    c = Client(sim.url, config=fast_client_config())
    c.start()
    try:
        yield c
    finally:
        c.stop()
        assert_nothing_left(sim)
