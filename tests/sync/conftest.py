"""Fixtures for the blocking client: a simulator on its own thread, a fast client config, and a
check that nothing (thread, socket) is left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simthread import SimThread, assert_nothing_left, fast_config

from ibstream.sync import Client


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
