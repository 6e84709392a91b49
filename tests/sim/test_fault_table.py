"""The fault vocabulary is the simulator's own table; faults.py dispatches through it."""

from __future__ import annotations

import inspect

import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.sim import faults
from ibstream.sim.config import SimConfig
from ibstream.sim.simulator import Simulator


def test_every_documented_action_is_in_the_table() -> None:
    """The module docstring's list and the table agree; every entry is a simulator method."""
    sim = Simulator(SimConfig(port=0, tls=False, seed=1))
    table = sim.fault_actions()
    doc = faults.__doc__ or ""
    documented = {name for name in table if f"``{name}" in doc}
    assert documented == set(table) and len(table) == 33
    for name, method in table.items():
        assert inspect.ismethod(method) and method.__self__ is sim and method.__name__ == name


async def test_unknown_action_is_refused_without_getattr() -> None:
    """A name that is a simulator attribute but not an action is refused (no getattr)."""
    sim = Simulator(SimConfig(port=0, tls=False, seed=1))
    with pytest.raises(InvalidArgument, match="unknown action"):
        await faults.apply(sim, "stop", {})
    with pytest.raises(InvalidArgument, match="unknown action"):
        await faults.apply(sim, "__init__", {})
