"""First-hour stumbles, each pinned by a test that failed before its fix (issue: "The first hour
of a new user"): TLS advice that names the real cause, a busy port that names the port."""

from __future__ import annotations

import socket

import pytest

from ibstream.tlsdiag import diagnose

from .conftest import Gateway, assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e


def test_https_against_plain_http_names_the_cause(gateway: Gateway) -> None:
    assert gateway.url.startswith("http://")
    https = "https://" + gateway.url.removeprefix("http://")
    for extra in ((), ("--insecure",)):
        result = run_cli("status", "--url", https, *extra)
        assert result.code == 1
        assert_one_line_error(result, "does not speak TLS", f"use {gateway.url}")
        assert "SSLContext" not in result.err and "ssl:" not in result.err
        # the advice to pass --insecure is wrong here (and was given although it was passed)
        assert "--insecure" not in result.err


def test_untrusted_certificate_advice_only_when_verifying(tls_gateway: Gateway) -> None:
    result = run_cli("status", "--url", tls_gateway.url)
    assert_one_line_error(result, "certificate verification failed", "self-signed")
    assert "SSLContext" not in result.err


def test_sim_on_a_busy_port_names_the_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("sim", "--plain", "--port", str(port))
    assert result.code == 1
    assert_one_line_error(result, f"127.0.0.1:{port}", "in use", "--port")


def test_diagnose_without_ssl_details_falls_back_to_the_type() -> None:
    assert diagnose(RuntimeError("boom")).kind == "handshake"
    verify = diagnose(RuntimeError("certificate verify failed: unable to get issuer (_ssl.c:1)"))
    assert verify.kind == "verify" and verify.reason == "unable to get issuer"
