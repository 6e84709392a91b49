"""The benchmarks that issue 19's figures come from still run: tiny sizes, summary lines checked.

Figures are never asserted here (machines are noisy); only that each script runs to the end on
the current code and prints its ratio lines with positive numbers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    (["bench/decode.py", "--frames", "2000", "--rounds", "1"], ["decode_vs_json_loads"]),
    (
        ["bench/floor.py", "--frames", "3000", "--rounds", "1", "--no-cython"],
        ["floor_vs_json_loads", "interpreted_vs_json_loads", "decode_vs_json_loads_deltas"],
    ),
    (["bench/pipeline.py", "--rounds", "1", "--batches", "20"], ["pipeline_us_per_frame"]),
]


@pytest.mark.parametrize(("argv", "lines"), CASES, ids=[c[0][0] for c in CASES])
def test_benchmark_runs_and_prints_its_ratios(argv: list[str], lines: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in lines:
        match = re.search(rf"^{name}: ([0-9.]+)$", done.stdout, re.M)
        assert match is not None, f"{name} missing from:\n{done.stdout}"
        assert float(match.group(1)) > 0
