"""Shared OAuth fixtures: simulator credentials generated once per session (two 2048-bit RSA
keys take a moment), a fresh OAuth simulator per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ibstream.sim import SimConfig, Simulator
from ibstream.sim.oauth import OAuthCredentials

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def creds(tmp_path_factory: pytest.TempPathFactory) -> OAuthCredentials:
    return OAuthCredentials.generate(str(tmp_path_factory.mktemp("oauth")))


def sim_config(**changes: object) -> SimConfig:
    settings: dict[str, object] = {
        "port": 0,
        "tls": False,
        "seed": 5,
        "update_interval": 0.05,
        "heartbeat_interval": 0.3,
        "rate_limit": None,
    }
    settings.update(changes)
    return SimConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def osim(creds: OAuthCredentials) -> AsyncIterator[Simulator]:
    async with Simulator(sim_config(), oauth=creds) as sim:
        yield sim
