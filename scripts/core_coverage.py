"""Fail unless the sans-I/O core (``ibstream/protocol``, ``ibstream/state`` and the pure modules
of ``ibstream/orders``) reaches a
branch-coverage floor. Reads the JSON report written by ``pytest --cov-report=json``."""

from __future__ import annotations

import json
import sys

CORE_PREFIXES = (
    "src/ibstream/protocol/",
    "src/ibstream/state/",
    "src/ibstream/exceptions.py",
    # the pure core of order entry
    *(
        f"src/ibstream/orders/{name}.py"
        for name in ("model", "prompts", "reconcile", "rails", "results", "errors")
    ),
)


def main(report_path: str, floor: float) -> int:
    with open(report_path, encoding="utf-8") as fh:
        files = json.load(fh)["files"]
    covered = total = 0
    for name, data in files.items():
        norm = name.replace("\\", "/")
        if not any(p in norm for p in CORE_PREFIXES):
            continue
        s = data["summary"]
        covered += s["covered_lines"] + s.get("covered_branches", 0)
        total += s["num_statements"] + s.get("num_branches", 0)
    if total == 0:
        print("core coverage: no core files measured")
        return 1
    pct = 100.0 * covered / total
    print(f"core coverage (lines+branches): {pct:.2f} % (floor {floor:.0f} %)")
    return 0 if pct >= floor else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
