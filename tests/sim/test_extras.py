"""``cryptography`` is the ``sim`` extra: a plain-HTTP simulator (``ibstream demo``, the test
fixtures) runs without it, and TLS without it names the extra to install."""

from __future__ import annotations

import subprocess
import sys

# a child process in which ``import cryptography`` fails, as on an install without the extra
WITHOUT_CRYPTOGRAPHY = """
import asyncio, sys
sys.modules["cryptography"] = None  # an ImportError on import
from ibstream._deps import DependencyError
from ibstream.sim import SimConfig, Simulator

async def main():
    async with Simulator(SimConfig(port=0, tls=False)) as sim:
        assert sim.base_url.startswith("http://")
    try:
        async with Simulator(SimConfig(port=0, tls=True)):
            pass
    except DependencyError as exc:
        print("TLS:", exc)
    else:
        raise SystemExit("TLS started without cryptography")

asyncio.run(main())
"""


def test_plain_simulator_without_cryptography_and_tls_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_CRYPTOGRAPHY], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TLS: ibstream needs cryptography>=41" in done.stdout
    assert "pip install 'ibstream[sim]'" in done.stdout


def test_sim_command_reports_the_missing_extra() -> None:
    code = (
        "import sys; sys.modules['cryptography'] = None; "
        "from ibstream.cli.main import main; sys.exit(main(['sim', '--port', '0']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ibstream[sim]" in done.stderr and "--plain" in done.stderr


def test_demo_runs_without_cryptography() -> None:
    code = (
        "import sys; sys.modules['cryptography'] = None; "
        "from ibstream.cli.main import main; sys.exit(main(['demo', '--duration', '2']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AAPL" in done.stdout and "last=" in done.stdout
