"""A replayed real gateway session (tests/corpus/session-2026-04.jsonl, what
``ibstream sim --replay`` serves) and a session the simulator generates look the same to the
client's metrics: same metric keys and kinds, same event kinds, same subscription states, same
frame kind, no decode errors, gaps or reconnects. Only the content (counts, prices) differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.aio.test_client_e2e import fast_client

from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim import SimConfig, Simulator
from ibstream.sim.testing import wait_for
from toolkit import assert_no_leaks as assert_nothing_leaked

# once per client WebSocket library (aiohttp, picows): see conftest.ws_backend
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ws_backend")]

SESSION = Path(__file__).parents[1] / "corpus" / "session-2026-04.jsonl"
SPEC = MarketDataSpec(265598, fields=("31", "84", "86", "6509", "83"))
# what the recording holds: 7 smd frames (the first twice: delivered once), 7 heartbeats, 4 tic
# replies
ENOUGH = {"MarketData": 6, "Heartbeat": 6, "TicReply": 4}


def kinds(value: Any) -> Any:
    """The metric's structure: dict keys with the kinds of their values (not the values)."""
    if isinstance(value, dict):
        return {k: kinds(v) for k, v in value.items()}
    return type(value).__name__


async def run_session(config: SimConfig) -> tuple[dict[str, Any], set[bool]]:
    async with Simulator(config) as sim:
        client = fast_client(sim)
        binary: set[bool] = set()
        client.on_frame(lambda d, data, now, b: binary.add(b) if d == "in" else None)
        await client.start()
        try:
            client.subscribe(SPEC, buffer=False)

            def enough() -> bool:
                events = client.metrics()["events"]
                return all(events.get(name, 0) >= n for name, n in ENOUGH.items())

            await wait_for(enough, timeout=15.0)
            metrics = client.metrics()
        finally:
            await client.stop()
            await assert_nothing_leaked(sim)
    return metrics, binary


@pytest.mark.parametrize("mode", ["gateway", "direct"])
async def test_replayed_and_generated_sessions_look_alike_to_the_metrics(mode: str) -> None:
    common: dict[str, Any] = {"port": 0, "tls": False, "rate_limit": None, "mode": mode}
    replayed, replayed_binary = await run_session(
        SimConfig(replay=str(SESSION), replay_speed=20.0, **common)
    )
    generated, generated_binary = await run_session(
        SimConfig(seed=4, heartbeat_interval=0.5, update_interval=0.3, **common)
    )
    assert replayed_binary == generated_binary == {mode == "gateway"}
    assert set(replayed["events"]) == set(generated["events"])
    assert replayed["subscriptions"] == generated["subscriptions"] == {"md:265598": "ACTIVE"}
    same = ("state", "decode_errors", "reconnects", "connections", "auth_losses", "gaps")
    assert {k: replayed[k] for k in same} == {k: generated[k] for k in same}
    assert replayed["decode_errors"] == replayed["gaps"] == replayed["reconnects"] == 0
    for metrics in (replayed, generated):
        metrics["events"] = {}
    assert kinds(replayed) == kinds(generated)
