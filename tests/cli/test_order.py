"""``ibstream order`` against the embedded simulator (subprocesses, real sockets)."""

from __future__ import annotations

import subprocess
import time

import pytest

from ibstream.cli.main import build_parser

from .conftest import assert_one_line_error, cli_argv, cli_env, run_cli

pytestmark = pytest.mark.e2e


def test_order_is_registered_with_its_actions() -> None:
    text = build_parser().format_help()
    assert "order" in text
    args = build_parser().parse_args(["order", "buy", "AAPL", "3", "--limit", "1.5", "--yes"])
    assert (args.action, args.side, args.quantity, args.limit, args.yes) == (
        "buy",
        "BUY",
        3.0,
        1.5,
        True,
    )


def test_buy_market_with_yes_places_and_waits_for_the_fill() -> None:
    """--yes places at once; --wait prints the executions and the final status."""
    r = run_cli("order", "buy", "AAPL", "2", "--yes", "--sim", "--wait", "5")
    assert r.code == 0, r.err
    assert "placed order" in r.out and "cOID ibs-" in r.out and "BUY 2 AAPL MKT" in r.out
    assert "filled" in r.out and r.out.rstrip().endswith("Filled")


def test_confirmation_is_asked_and_no_means_nothing_placed() -> None:
    """Without --yes the order is described and confirmed on stdin; 'n' places nothing."""
    proc = subprocess.run(
        cli_argv("order", "sell", "265598", "1", "--limit", "270", "--sim"),
        input="n\n",
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=30,
    )
    assert proc.returncode == 1
    assert "Place SELL 1 conid=265598 LMT limit 270 DAY on DU*****67?" in proc.stdout
    assert "placed order" not in proc.stdout and "not placed" in proc.stderr


def test_gateway_prompt_declined_with_yes_unless_accepted() -> None:
    """--yes never confirms a gateway prompt by itself; --accept-prompt ID does."""
    r = run_cli("order", "buy", "AAPL", "1", "--limit", "100", "--yes", "--sim")
    assert_one_line_error(r, "reply prompt not accepted", "o163")
    r = run_cli(
        "order", "buy", "AAPL", "1", "--limit", "100", "--yes", "--sim", "--accept-prompt", "o163"
    )
    assert r.code == 0 and "placed order" in r.out


def test_interactive_prompt_confirmation() -> None:
    """Interactively, the gateway's question is shown and answered on stdin."""
    proc = subprocess.Popen(
        cli_argv("order", "buy", "AAPL", "1", "--limit", "100", "--sim"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    out, err = proc.communicate("y\ny\n", timeout=30)
    assert proc.returncode == 0, err
    assert "gateway asks (o163)" in out and "Percentage constraint" in out and "placed order" in out


def test_bracket_whatif_cancel_and_list() -> None:
    """A bracket places three orders; what-if places nothing; cancel and list work."""
    r = run_cli(
        "order",
        "buy",
        "AAPL",
        "2",
        "--limit",
        "266",
        "--take-profit",
        "276",
        "--stop-loss",
        "262",
        "--yes",
        "--sim",
    )
    assert r.code == 0, r.err
    assert r.out.count("placed order") == 3 and "SELL 2 AAPL STP stop 262" in r.out
    r = run_cli("order", "buy", "AAPL", "2", "--limit", "265", "--whatif", "--sim")
    assert r.code == 0 and "what-if BUY 2 AAPL LMT" in r.out and "commission" in r.out
    r = run_cli("order", "cancel", "12345", "--yes", "--sim")
    assert_one_line_error(r, "doesn't exist")
    t0 = time.monotonic()
    r = run_cli("order", "list", "--sim")
    assert r.code == 0 and "ORDER ID" in r.out and time.monotonic() - t0 < 30


def test_bad_order_is_a_usage_error() -> None:
    r = run_cli("order", "buy", "AAPL", "1", "--loc", "--yes", "--sim")
    assert_one_line_error(r, "price")
    assert r.code == 2


def test_serve_trading_needs_a_trading_token() -> None:
    """`ibstream serve --trading` without a trading token is refused before listening."""
    r = run_cli("serve", "--sim", "--trading", "--port", "0")
    assert r.code == 2 and "trading needs its own token" in r.err
