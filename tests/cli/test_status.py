"""``ibstream status`` against ``ibstream sim`` subprocesses: healthy, TLS, unreachable,
not authenticated, competing session."""

from __future__ import annotations

import socket

import pytest

from .conftest import Gateway, assert_one_line_error, cli_env, run_cli

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _report(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        rows[name] = value.strip()
    return rows


def test_status_healthy(gateway: Gateway) -> None:
    result = run_cli("status", "--url", gateway.url)
    assert result.code == 0, result.err
    assert result.err == ""
    report = _report(result.out)
    assert report["gateway"] == gateway.url
    assert report["tls"] == "off (plain http)"
    assert report["reachable"].startswith("yes")
    assert report["authenticated"] == "yes"
    assert report["competing"] == "no"
    assert report["accounts"] == "DU1234567"  # in full: summary:ACCT specs need it
    assert report["session"].startswith("expires in ")
    assert report["status"] == "OK"
    masked = run_cli("status", "--url", gateway.url, "--mask")
    assert _report(masked.out)["accounts"] == "DU*****67"
    assert "DU1234567" not in masked.out


def test_status_url_from_environment(gateway: Gateway) -> None:
    result = run_cli("status", env=cli_env(IBSTREAM_URL=gateway.root))
    assert result.code == 0, result.err
    assert _report(result.out)["gateway"] == gateway.url


def test_status_unreachable() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = run_cli("status", "--url", url)
    assert result.code == 1
    assert_one_line_error(result, "unreachable")
    assert _report(result.out)["reachable"].startswith("NO")


def test_status_tls_with_cacert(tls_gateway: Gateway) -> None:
    assert tls_gateway.url.startswith("https://") and tls_gateway.cert is not None
    result = run_cli("status", "--url", tls_gateway.url, "--cacert", str(tls_gateway.cert))
    assert result.code == 0, result.err
    assert _report(result.out)["tls"].startswith("on, verified against")


def test_status_tls_cacert_from_environment(tls_gateway: Gateway) -> None:
    env = cli_env(IBSTREAM_URL=tls_gateway.url, IBSTREAM_CACERT=str(tls_gateway.cert))
    assert run_cli("status", env=env).code == 0


def test_status_tls_without_cacert_is_a_tls_error(tls_gateway: Gateway) -> None:
    result = run_cli("status", "--url", tls_gateway.url)
    assert result.code == 1
    assert_one_line_error(result, "TLS certificate verification failed", "--cacert", "--insecure")


def test_status_tls_insecure(tls_gateway: Gateway) -> None:
    result = run_cli("status", "--url", tls_gateway.url, "--insecure")
    assert result.code == 0, result.err
    assert "NOT verified" in _report(result.out)["tls"]
    env = cli_env(IBSTREAM_URL=tls_gateway.url, IBSTREAM_INSECURE="1")
    assert run_cli("status", env=env).code == 0


def test_status_missing_cacert_file(tls_gateway: Gateway) -> None:
    result = run_cli("status", "--url", tls_gateway.url, "--cacert", "no-such-file.pem")
    assert result.code == 2
    assert_one_line_error(result, "no-such-file.pem")


def test_status_not_authenticated_and_competing(own_gateway: Gateway) -> None:
    own_gateway.admin("lose_auth")
    result = run_cli("status", "--url", own_gateway.url)
    assert result.code == 3
    assert_one_line_error(result, "not authenticated")
    assert _report(result.out)["authenticated"] == "NO"

    own_gateway.admin("logout")  # /tickle answers 401
    result = run_cli("status", "--url", own_gateway.url)
    assert result.code == 3
    assert_one_line_error(result, "not authenticated")

    own_gateway.admin("login")
    own_gateway.admin("restore_auth")
    assert run_cli("status", "--url", own_gateway.url).code == 0

    own_gateway.admin("competing_session")
    result = run_cli("status", "--url", own_gateway.url)
    assert result.code == 4
    assert_one_line_error(result, "competes")
    assert _report(result.out)["competing"].startswith("YES")


def test_status_of_a_gateway_that_never_answers_is_a_timeout() -> None:
    # a hung gateway (the port accepts, nothing answers) is not "unreachable: is it running?"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli("status", "--url", url, "--timeout", "0.5")
    assert result.code == 1
    assert_one_line_error(result, "did not answer in time")
    assert _report(result.out)["reachable"] == "NO (timed out)"


def test_status_with_a_timeout_of_zero_is_a_usage_error_not_a_hang() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli("status", "--url", url, "--timeout", "0", timeout=20.0)
    assert result.code == 2
    assert_one_line_error(result, "timeout")
