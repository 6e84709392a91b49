"""Print a pip constraints file pinning every declared floor of ``pyproject.toml`` exactly.

``python3 scripts/min_constraints.py [EXTRA ...]`` reads ``[project] dependencies`` and the named
optional extras and turns each ``name>=X`` into ``name==X``; ``scripts/test-install.sh`` installs
ibstream under those constraints, so a floor that is not true fails CI. Transitive dependencies
are left to the resolver, as a user's ``pip install`` would.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+?)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(?:,.*)?$")


def constraints(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"no extra {extra!r} in {pyproject}")
        requirements.extend(optional[extra])
    pins: dict[str, str] = {}
    for req in requirements:
        match = FLOOR.match(req.split(";")[0])
        if match is None:
            continue
        name = re.sub(r"\[.*\]", "", match.group(1)).lower()
        pins[name] = match.group(2)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    print("\n".join(constraints(root / "pyproject.toml", argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
