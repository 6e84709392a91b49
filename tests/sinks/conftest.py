"""Sink tests run against the shared simulator thread (``sim_thread`` of tests/conftest.py)."""

from __future__ import annotations

import pytest

from ibstream.sim.testing import SimThread


@pytest.fixture
def sim(sim_thread: SimThread) -> SimThread:
    return sim_thread
