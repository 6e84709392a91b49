"""The bounded chaos run of CI (issue 11): bench/chaos.py for 2 minutes, every fault kind.

The client and the simulator run in separate processes; the run injects every kind of fault
the simulator offers and compares the client's orders and fills with the simulator's record.
A longer run: ``python bench/chaos.py --minutes 30`` (default timings).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_bounded_chaos_run(tmp_path: Path) -> None:
    minutes = os.environ.get("IBSTREAM_CHAOS_MINUTES", "2")
    out = tmp_path / "chaos.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "chaos.py"),
            "--minutes",
            minutes,
            "--profile",
            "fast",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = orjson.loads(out.read_bytes())
    assert len(result["kinds"]) >= 12
    assert set(result["recovery"]) == set(result["kinds"])  # every kind ran and recovered
    assert result["not_recovered"] == {}
    assert result["lost_orders"] == result["duplicated_orders"] == 0
    assert result["lost_fills"] == result["duplicated_fills"] == 0
    assert result["mismatched_orders"] == 0
    assert result["sim_orders"] > 0 and result["sim_fills"] > 0
    assert result["end"]["fds"] <= result["start"]["fds"] + 3
    assert result["end"]["tasks"] <= result["start"]["tasks"] + 2
