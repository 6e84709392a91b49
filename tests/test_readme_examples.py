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


def example(number: int, port: int) -> str:
    code = blocks()[number]
    assert URL in code, f"README example {number + 1} no longer uses {URL}"
    return code.replace(URL, f"https://localhost:{port}/v1/api")


def test_readme_has_the_examples_this_test_runs() -> None:
    assert len(blocks()) == 3


def test_asyncio_example(gateway: tuple[SimThread, Path]) -> None:
    sim, workdir = gateway
    printed = run_until(example(0, sim.sim.port), workdir, lines=3)
    for line in printed:
        last, bid, ask, values = line.split(" ", 3)
        assert float(last) > 0 and float(bid) <= float(ask)
        assert values.startswith("{") and values.endswith("}")


def test_threaded_example(gateway: tuple[SimThread, Path]) -> None:
    sim, workdir = gateway
    printed = run_until(example(1, sim.sim.port), workdir, lines=3)
    prices = [float(x) for x in printed if x != "None"]
    assert prices and all(p > 0 for p in prices)


async def test_simulator_example() -> None:
    code = blocks()[2]
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    namespace: dict[str, Any] = {"__name__": "readme"}
    coro = eval(compile(code, "README.md simulator example", "exec", flags=flags), namespace)
    assert coro is not None
    await coro
    assert namespace["client"].lifecycle.name == "STOPPED"
