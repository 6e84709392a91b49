"""``ibstream order exercise`` against a simulator holding a position (subprocesses, real
sockets): --yes declines the gateway's final question unless --final; asked on stdin otherwise."""

from __future__ import annotations

import subprocess

import pytest

from ibstream.orders import OrderRequest, TradingConfig
from ibstream.sim.testing import SimThread
from ibstream.sync import Client
from toolkit import fast_client_config

from .conftest import assert_one_line_error, cli_argv, cli_env, run_cli

pytestmark = pytest.mark.e2e

TSLA = 76792991


@pytest.fixture
def held(sim_thread: SimThread) -> SimThread:
    """The simulator with a position of 3 in TSLA (filled market order)."""
    c = Client(sim_thread.url, config=fast_client_config(trading=TradingConfig(enabled=True)))
    c.start()
    try:
        with c.trading.place(OrderRequest.market(TSLA, "BUY", 3)) as handle:
            handle.filled(timeout=10)
    finally:
        c.stop()
    return sim_thread


def test_exercise_with_yes_and_final(held: SimThread) -> None:
    r = run_cli("order", "exercise", str(TSLA), "2", "--yes", "--final", "--url", held.url)
    assert r.code == 0, r.err
    assert f"(conid {TSLA}): position" in r.out and "warning: Currently the option" in r.out
    assert "gateway asks: Warning: This exercise request will be final" in r.out
    assert "(continue, cancel)" in r.out
    assert r.out.rstrip().splitlines()[-1].startswith("exercise order ")
    assert f": 2 of conid {TSLA}" in r.out


def test_yes_alone_declines_the_final_question(held: SimThread) -> None:
    r = run_cli("order", "exercise", str(TSLA), "1", "--yes", "--url", held.url)
    assert_one_line_error(r, "exercise not confirmed: cancelled", "--final")
    assert "exercise order" not in r.out


def test_asked_on_stdin_and_refused_over_the_position(held: SimThread) -> None:
    proc = subprocess.run(
        cli_argv("order", "exercise", str(TSLA), "1", "--url", held.url),
        input="y\nn\n",
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=30,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"Exercise 1 of conid {TSLA} on DU*****67? [y/N]" in proc.stdout
    assert "Continue? [y/N]" in proc.stdout and "cancelled" in proc.stderr
    r = run_cli("order", "exercise", str(TSLA), "999999", "--yes", "--final", "--url", held.url)
    assert_one_line_error(r, "exceeds the position")
