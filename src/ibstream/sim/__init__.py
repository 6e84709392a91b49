"""``ibstream.sim``: a local, independent model of IBKR's Client Portal Gateway.

Written from protocol.md (§1-§3 session and connection, §4-§5 topics, §8 quirks, §9 checklist);
it never imports ``ibstream.protocol``, ``ibstream.state`` or ``ibstream.aio`` so that a codec bug
cannot hide on both sides of the end-to-end tests.

::

    from ibstream.sim import Simulator, SimConfig

    async with Simulator(SimConfig(port=0, tls=False, seed=1)) as sim:
        print(sim.base_url, sim.ws_url, sim.session_id)
"""

from __future__ import annotations

from ibstream.sim.config import DEFAULT_INSTRUMENTS, Instrument, SimConfig
from ibstream.sim.replay import Replay
from ibstream.sim.simulator import Simulator

__all__ = ["DEFAULT_INSTRUMENTS", "Instrument", "Replay", "SimConfig", "Simulator"]
