"""Sink tests share the blocking client's simulator thread helper (tests/sync/simthread.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))

from simthread import SimThread


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread() as s:
        yield s
