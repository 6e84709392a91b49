"""Real NATS (JetStream) and Redis servers for the bridge tests: private processes on free ports.

``nats-server -js`` with a temporary store directory and ``redis-server`` without persistence
are started once per test module and stopped after it; each test uses its own subject / key
prefix, so tests never see each other's streams. Tests skip when the server binary is missing
(``scripts/test.sh`` installs both on a fresh machine).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from ibstream.sim import Simulator
from ibstream.sim.testing import fast_config

_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("nats-server")
    if exe is None:
        pytest.skip("nats-server is not installed (scripts/test.sh installs it)")
    port = free_port()
    store: Path = tmp_path_factory.mktemp("jetstream")
    proc = subprocess.Popen(
        [exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "nats-server")
        yield f"nats://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs it)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


@pytest.fixture(params=["nats", "redis"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs once per engine."""
    fixture = "nats_url" if request.param == "nats" else "redis_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def prefix() -> str:
    """A fresh subject / key prefix per test (streams of other tests stay invisible)."""
    return f"t{next(_names)}x{int(time.time() * 1000) % 100_000}"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(fast_config(update_interval=0.05, heartbeat_interval=0.3)) as s:
        yield s
    await asyncio.sleep(0)
