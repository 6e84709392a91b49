"""The ``ibstream`` pytest plugin: gateway-simulator fixtures for your own tests.

Installed with ``pip install 'ibstream[testing]'`` and registered through the ``pytest11`` entry
point, so the fixtures are there in any test without an import:

``ibstream_sim``
    A started :class:`~ibstream.sim.Simulator` (the fast test config: port 0, plain HTTP/WS,
    seed 1, short intervals), stopped at teardown. Point a client at ``ibstream_sim.base_url``.
``ibstream_simulator``
    A factory: ``sim = await ibstream_simulator(update_interval=0.2, seed=7)`` starts one more
    simulator with those :class:`~ibstream.sim.SimConfig` overrides; all are stopped at teardown.
``ibstream_sim_thread``
    A simulator on a thread of its own (:class:`~ibstream.sim.testing.SimThread`), for blocking
    code such as :class:`ibstream.sync.Client`: ``Client(ibstream_sim_thread.url)``.

The async fixtures need ``pytest-asyncio`` (part of the ``testing`` extra); without it only
``ibstream_sim_thread`` is defined, and loading the plugin never fails. Fixtures of the same name
in a ``conftest.py`` take precedence. The helpers behind them — :func:`~ibstream.sim.testing.
wait_for`, :func:`~ibstream.sim.testing.wait_until`, :func:`~ibstream.sim.testing.fast_config` —
live in :mod:`ibstream.sim.testing`, which imports no test framework.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from importlib.util import find_spec
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ibstream.sim.simulator import Simulator
    from ibstream.sim.testing import SimThread, SimulatorFactory

__all__ = ["ibstream_sim_thread"]

# Every pytest run of a project that installed the extra loads this module: it imports nothing of
# ibstream (no simulator, no aiohttp) until a test asks for a fixture.


@pytest.fixture
def ibstream_sim_thread() -> Iterator[SimThread]:
    """A fast-config simulator on its own thread (for blocking clients); stopped at teardown."""
    from ibstream.sim.testing import SimThread

    with SimThread() as gateway:
        yield gateway


# the async fixtures exist only beside pytest-asyncio
if find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    __all__ += ["ibstream_sim", "ibstream_simulator"]

    @pytest_asyncio.fixture
    async def ibstream_simulator() -> AsyncIterator[SimulatorFactory]:
        """``await ibstream_simulator(**overrides)``: a started simulator; all stopped at
        teardown."""
        from ibstream.sim.testing import Simulators

        async with Simulators() as make:
            yield make

    @pytest_asyncio.fixture
    async def ibstream_sim(ibstream_simulator: SimulatorFactory) -> Simulator:
        """A started fast-config simulator (port 0, plain HTTP/WS, seed 1)."""
        return await ibstream_simulator()
