"""Release hygiene: one version source, true floors kept in step, clear dependency errors."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ibstream
from ibstream._deps import MINIMUMS, DependencyError, parse_version, require

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _floors() -> dict[str, str]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    reqs = list(project["dependencies"])
    for extra in ("service", "sim", "oauth", "testing"):
        reqs += extras[extra]
    out = {}
    for req in reqs:
        m = re.match(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9.]+)", req)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_floors_in_pyproject_match_the_runtime_checks() -> None:
    floors = _floors()
    for dist, minimum in MINIMUMS.items():
        assert dist in floors, f"{dist} is checked at runtime but not declared"
        declared = parse_version(floors[dist]) + (0,) * 3
        assert declared[:3] == (parse_version(minimum) + (0,) * 3)[:3], dist


def test_version_has_one_source() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ibstream.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", ibstream.__version__)


def test_cli_prints_the_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ibstream", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"ibstream {ibstream.__version__}"


def test_license_and_changelog_ship() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Copyright (c)" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for folder in ("tests", "docs", "examples"):
        assert f"graft {folder}" in manifest


def test_library_logger_has_a_null_handler() -> None:
    import logging

    handlers = logging.getLogger("ibstream").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3.14.0", (3, 14, 0)), ("3.14.0rc1", (3, 14, 0)), ("0.319", (0, 319)), ("junk", ())],
)
def test_parse_version(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


def test_too_old_dependency_names_package_and_version() -> None:
    with pytest.raises(DependencyError, match=r"aiohttp>=3\.14\.0 but aiohttp 3\.13\.5"):
        require("aiohttp", found="3.13.5")
    require("aiohttp", found="3.14.0")  # the floor itself is fine


def test_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def missing(dist: str) -> str:
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(DependencyError, match=r"pip install 'ibstream\[service\]'"):
        require("strawberry-graphql", extra="service")
    assert issubclass(DependencyError, ImportError)
