"""The IBind examples rewritten for ibstream run against the embedded simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# example -> lines (prefixes) its output must contain
EXPECTED = {
    "orders_01_bracket.py": ["placed ", "entry Filled", "child ", "done"],
    "ws_01_basic.py": ["subscribed: True ACTIVE", "MarketData 265598 {'symbol': 'AAPL'", "last: "],
    "ws_02_intermediate.py": ["subscribed: 6 failed: []", "MarketData {", "Pnl {", "stopped"],
    "ws_03_market_history.py": ["subscribed: True ACTIVE", "MarketHistory 265598 server_id="],
    "rest_01_contracts.py": [
        "resolved AAPL: AAPL NASDAQ STK conid=265598",
        "resolved ES: ES ",
        "resolved EUR.USD: EUR.USD CASH conid=12087792",
        "ES front month: ",
        "AAPL ",
        "not found: GET /iserver/secdef/search",
        "snapshot 265598: last=",
        "history AAPL: 24 bars",
        "position ",
        "net liquidation: ",
        "pacing: {",
    ],
    "ws_04_v2_sinks.py": [
        "Lifecycle SessionStateChanged",
        "handle md:265598 ACTIVE",
        "failed: []",
        "MarketData 265598",
        "Pnl DU1234567.Core",
        "metrics: {",
    ],
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, tuple[int, str, str]]:
    """Run every example at once (short duration), collect exit code and output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), "--sim", "--duration", "1.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in EXPECTED
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        results[name] = (proc.returncode, out, err)
    return results


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_against_the_simulator(
    name: str, outputs: dict[str, tuple[int, str, str]]
) -> None:
    """The example exits cleanly and prints what it streams."""
    code, out, err = outputs[name]
    assert code == 0, err
    for expected in EXPECTED[name]:
        # anywhere, not at a line start: the sinks' threads print too, and print() writes its
        # text and its newline separately, so another thread's line can run into this one
        assert expected in out, (expected, out[-2000:])


def test_example_over_oauth() -> None:
    """``--sim --oauth``: the same example, signed with OAuth 1.0a against the simulator."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "ws_01_basic.py"), "--sim", "--oauth", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for expected in EXPECTED["ws_01_basic.py"]:
        assert any(line.startswith(expected) for line in lines), (expected, proc.stdout[-2000:])
