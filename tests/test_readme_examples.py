"""The README's Python examples run as written, against the simulator (issue 20): only the
gateway URL is substituted (the port of a TLS simulator whose certificate is ``gateway.pem`` in
the working directory, as the examples expect). The two streaming examples run until they print
prices, then are stopped (they stream forever by design); the simulator example runs with
top-level await, as in a notebook."""

from __future__ import annotations

import ast
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ibstream.sim.testing import SimThread

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[1] / "README.md"
URL = "https://localhost:5000/v1/api"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimThread, Path]]:
    workdir = tmp_path_factory.mktemp("readme")
    with SimThread(tls=True, update_interval=0.05) as sim:
        pem = sim.sim.cert_pem
        assert pem is not None
        (workdir / "gateway.pem").write_bytes(pem)
        yield sim, workdir


def run_until(code: str, cwd: Path, lines: int, timeout: float = 30.0) -> list[str]:
    """Run ``code`` in a fresh interpreter until it printed ``lines`` lines, then stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"},
    )
    out: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.rstrip("\n"))
        out.put(None)

    threading.Thread(target=read, daemon=True).start()
    got: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < lines:
            line = out.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                break
            got.append(line)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert len(got) >= lines, f"printed {got!r}; stderr:\n{err}"
    assert "Traceback" not in err, err
    return got


#: the README's complete programs, found by a line each holds (run by the tests below)
ASYNCIO = f'ibstream.connect("{URL}"'
THREADED = f'ibstream.Client("{URL}"'
SIMULATOR = "Simulator(SimConfig("
#: fragments that show an API inside a program like the ones above; each needs what the tests
#: cannot give (IBKR credentials, a bus, real orders) or is covered elsewhere: REST features by
#: tests/aio/test_rest_features_e2e.py, OAuth by tests/auth, orders by tests/orders, the bridge by
#: tests/bridge
FRAGMENTS = (
    "client.contracts.resolve",
    "OAuth1a.from_file",
    "client.trading.place",
    "ibstream.remote.connect",
)


def find(marker: str) -> str:
    found = [b for b in blocks() if marker in b]
    assert len(found) == 1, f"expected one README example with {marker!r}, found {len(found)}"
    return found[0]


def example(marker: str, port: int) -> str:
    return find(marker).replace(URL, f"https://localhost:{port}/v1/api")


def test_readme_has_the_examples_this_test_runs() -> None:
    """Every Python block is run here or is one of the listed fragments: a new example fails
    this test until it is run or listed."""
    for block in blocks():
        kinds = [m for m in (ASYNCIO, THREADED, SIMULATOR, *FRAGMENTS) if m in block]
        assert len(kinds) == 1, f"README block not run nor listed as a fragment:\n{block}"


def test_asyncio_example(gateway: tuple[SimThread, Path]) -> None:
    sim, workdir = gateway
    printed = run_until(example(ASYNCIO, sim.sim.port), workdir, lines=3)
    for line in printed:
        last, bid, ask, values = line.split(" ", 3)
        assert float(last) > 0 and float(bid) <= float(ask)
        assert values.startswith("{") and values.endswith("}")


def test_threaded_example(gateway: tuple[SimThread, Path]) -> None:
    sim, workdir = gateway
    printed = run_until(example(THREADED, sim.sim.port), workdir, lines=3)
    prices = [float(x) for x in printed if x != "None"]
    assert prices and all(p > 0 for p in prices)


async def test_simulator_example() -> None:
    code = find(SIMULATOR)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    namespace: dict[str, Any] = {"__name__": "readme"}
    coro = eval(compile(code, "README.md simulator example", "exec", flags=flags), namespace)
    assert coro is not None
    await coro
    assert namespace["client"].lifecycle.name == "STOPPED"
