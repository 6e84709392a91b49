"""The ``ibstream`` pytest plugin (entry point ``pytest11``), run as a user's test suite would:
a separate pytest process on a temporary project that only names the plugin; the suite is the
test file shown in docs/testing.md."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from docsnippets import snippets

ROOT = Path(__file__).resolve().parents[2]

#: the test file of docs/testing.md, run as the user's own suite
USER_TESTS = next(s.code for s in snippets(ROOT / "docs" / "testing.md") if s.marker == "pytest")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(USER_TESTS, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _installed() -> bool:
    """Whether ibstream is installed with its entry point (pytest then loads the plugin)."""
    return bool(metadata.entry_points(group="pytest11", name="ibstream"))


def test_fixtures_work_in_a_user_suite(tmp_path: Path) -> None:
    # installed: the entry point loads the plugin (naming it again would register it twice);
    # from a source tree: name the module, as a project vendoring ibstream would
    load = [] if _installed() else ["-p", "ibstream.pytest_plugin"]
    done = _run(tmp_path, *load, "-o", "asyncio_mode=strict")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_without_the_plugin_the_fixtures_are_missing(tmp_path: Path) -> None:
    """The check above can fail: without the plugin the same suite errors."""
    done = _run(tmp_path, "-p", "no:ibstream", "-o", "asyncio_mode=strict")
    assert done.returncode != 0 and "fixture 'ibstream_sim' not found" in done.stdout


def test_entry_point_and_extra_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"ibstream": "ibstream.pytest_plugin"}
    testing = " ".join(project["optional-dependencies"]["testing"])
    assert "pytest>=" in testing and "pytest-asyncio>=" in testing


def test_loading_the_plugin_imports_no_simulator() -> None:
    """Every pytest run of a project with the extra loads the plugin: it must cost nothing."""
    code = (
        "import sys, ibstream.pytest_plugin; "
        "bad = [m for m in ('ibstream.sim', 'aiohttp', 'cryptography') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_testing_helpers_import_no_test_framework() -> None:
    code = (
        "import sys, ibstream.sim.testing, ibstream.sim; "
        "bad = [m for m in ('pytest', 'pytest_asyncio', '_pytest', 'cryptography') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
