"""``ibstream bridge`` argument handling (the running bridge is covered by test_failover.py)."""

from __future__ import annotations

import pytest

from ibstream.cli.main import build_parser, main


def test_bridge_is_registered() -> None:
    assert "bridge" in build_parser().format_help()


def test_bridge_without_a_bus_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IBSTREAM_NATS", raising=False)
    monkeypatch.delenv("IBSTREAM_REDIS", raising=False)
    assert main(["bridge", "--url", "http://127.0.0.1:1/v1/api"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ibstream bridge: ") and "--nats" in err


def test_bridge_rejects_a_lease_it_cannot_renew(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bridge", "--nats", "nats://127.0.0.1:1", "--lease-ttl", "1", "--renew-every", "2"]
    )
    assert code == 2
    assert "renew_every" in capsys.readouterr().err


def test_bridge_rejects_a_bad_bus_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "--nats", "http://bus:4222"]) == 2
    assert "nats:// or redis://" in capsys.readouterr().err


def test_bridge_reads_buses_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """IBSTREAM_NATS is used when no --nats/--redis flag is given (here: a bad URL, refused)."""
    monkeypatch.setenv("IBSTREAM_NATS", "http://not-a-bus:1")
    monkeypatch.delenv("IBSTREAM_REDIS", raising=False)
    assert main(["bridge"]) == 2
    assert "not-a-bus" in capsys.readouterr().err
