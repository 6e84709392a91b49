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


def test_terminal_orders_table_shows_every_open_order_first() -> None:
    """Open orders never drop out of view behind newer finished ones; columns are not stretched."""
    from rich.console import Console

    from ibstream.aio.client import StreamClient
    from ibstream.cli.view import MarketView
    from ibstream.protocol.events import OrderUpdate
    from ibstream.protocol.specs import StreamKey, Topic

    client = StreamClient("http://127.0.0.1:9/v1/api")
    for oid in range(1, 16):
        status = "Submitted" if oid in (2, 3) else "Filled"
        entry = {"acct": "DU1234567", "orderId": oid, "status": status, "ticker": "AAPL"}
        client.orders.apply(
            OrderUpdate(
                key=StreamKey(Topic.ORDERS, ""),
                account="DU1234567",
                order_id=oid,
                conid=265598,
                status=status,
                changes=entry,
                raw=entry,
            )
        )
    view = MarketView(client, [], order_rows=6)
    open_count, rows = view._orders()
    assert open_count == 2
    assert [o.order_id for o in rows] == [3, 2, 15, 14, 13, 12]  # open first, then newest done
    console = Console(width=200, record=True, force_terminal=False)
    console.print(view.render())
    widest = max(len(line.rstrip()) for line in console.export_text().splitlines())
    assert widest < 120  # tables sized to their content, not the full 200 columns
