"""The ``ibstream`` pytest plugin (entry point ``pytest11``), run as a user's test suite would:
a separate pytest process on a temporary project that only names the plugin."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

USER_TESTS = """
import aiohttp
import pytest

from ibstream.sim.testing import wait_until


@pytest.mark.asyncio
async def test_started_simulator(ibstream_sim):
    async with aiohttp.ClientSession() as http:
        async with http.post(ibstream_sim.base_url + "/tickle") as r:
            assert r.status == 200 and (await r.json())["session"]


@pytest.mark.asyncio
async def test_factory_overrides(ibstream_simulator):
    a = await ibstream_simulator(seed=7)
    b = await ibstream_simulator()
    assert a.base_url != b.base_url and a.config.seed == 7


def test_thread(ibstream_sim_thread):
    import urllib.request

    with urllib.request.urlopen(ibstream_sim_thread.url + "/tickle", data=b"") as r:
        assert r.status == 200
    wait_until(lambda: ibstream_sim_thread.connections == 0)
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(USER_TESTS, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fixtures_work_in_a_user_suite(tmp_path: Path) -> None:
    done = _run(tmp_path, "-p", "ibstream.sim.pytest_plugin", "-o", "asyncio_mode=strict")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_without_the_plugin_the_fixtures_are_missing(tmp_path: Path) -> None:
    """The check above can fail: without the plugin the same suite errors."""
    done = _run(tmp_path, "-p", "no:ibstream", "-o", "asyncio_mode=strict")
    assert done.returncode != 0 and "fixture 'ibstream_sim' not found" in done.stdout


def test_entry_point_and_extra_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"ibstream": "ibstream.sim.pytest_plugin"}
    testing = " ".join(project["optional-dependencies"]["testing"])
    assert "pytest>=" in testing and "pytest-asyncio>=" in testing


def test_testing_helpers_import_no_test_framework() -> None:
    code = (
        "import sys, ibstream.sim.testing, ibstream.sim; "
        "bad = [m for m in ('pytest', 'pytest_asyncio', '_pytest', 'cryptography') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
