"""``ibstream watch`` against an ``ibstream sim`` subprocess and against ``--sim``."""

from __future__ import annotations

import re

import pytest

from .conftest import Gateway, assert_one_line_error, cli_env, run_cli, run_in_pty

pytestmark = pytest.mark.e2e


def test_watch_symbols_and_conids_plain(gateway: Gateway) -> None:
    result = run_cli("watch", "AAPL", "272093", "--url", gateway.url, "--duration", "2")
    assert result.code == 0, result.err
    assert result.err == ""
    assert re.search(r"^  AAPL +last=[\d,.]+ ", result.out, re.M)
    assert re.search(r"^  MSFT +last=[\d,.]+ ", result.out, re.M)  # conid 272093 is MSFT
    # 2 md + orders + pnl + trades (live positions refresh on fills)
    assert "conn=authenticated auth=yes subs=5/5" in result.out
    assert re.search(r"^  position \S+: [+-]\d+ avg=[\d,.]+ value=", result.out, re.M)


def test_watch_tls_from_environment(tls_gateway: Gateway) -> None:
    env = cli_env(IBSTREAM_URL=tls_gateway.url, IBSTREAM_CACERT=str(tls_gateway.cert))
    result = run_cli("watch", "SPY", "--duration", "1.2", "--no-account", env=env)
    assert result.code == 0, result.err
    assert re.search(r"^  SPY +last=", result.out, re.M)


def test_watch_tls_mismatch(tls_gateway: Gateway) -> None:
    result = run_cli("watch", "AAPL", "--url", tls_gateway.url, "--duration", "1")
    assert result.code == 1
    assert_one_line_error(result, "TLS certificate verification failed", "--cacert")


def test_watch_unknown_symbol(gateway: Gateway) -> None:
    result = run_cli("watch", "AAPL", "NOSUCH", "--url", gateway.url, "--duration", "1")
    assert result.code == 2
    assert_one_line_error(result, "unknown symbol 'NOSUCH'")


def test_watch_gateway_down() -> None:
    result = run_cli("watch", "AAPL", "--url", "http://127.0.0.1:9", "--duration", "1")
    assert result.code == 1
    assert_one_line_error(result, "unreachable")


def test_watch_not_authenticated(own_gateway: Gateway) -> None:
    own_gateway.admin("logout")
    result = run_cli("watch", "AAPL", "--url", own_gateway.url, "--duration", "1")
    assert result.code == 1
    assert_one_line_error(result, "not authenticated")


def test_watch_embedded_simulator_in_a_terminal() -> None:
    result = run_in_pty(
        "watch", "NVDA", "TSLA", "--sim", ctrl_c_when=("NVDA", "TSLA", "conn=authenticated")
    )
    assert result.code in (0, 130), result.text[-2000:]
    assert "Traceback" not in result.text
    assert "NVDA" in result.text and "TSLA" in result.text
    assert "conn=authenticated" in result.text


def test_ctrl_c_while_connecting_does_not_wait_for_a_timeout() -> None:
    """A gateway that accepts the connection but never answers: Ctrl-C ends at once."""
    import signal
    import socket
    import subprocess
    import time

    from .conftest import cli_argv

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        proc = subprocess.Popen(
            cli_argv("watch", "AAPL", "--url", url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        server.settimeout(20)
        conn, _ = server.accept()  # the CLI is now waiting for an answer that never comes
        with conn:
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 3
    assert proc.returncode == 130, err
    assert "Traceback" not in err
