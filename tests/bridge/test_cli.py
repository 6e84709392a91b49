"""``ibstream bridge`` argument handling, and a bridge process run from a ``--config`` file
(the failover of running bridges is test_failover.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from ibstream.cli.main import build_parser, main
from ibstream.remote import open_bus

from .helpers import WAIT


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
    err = capsys.readouterr().err
    assert err.startswith("ibstream bridge: nats: ") and "'http://bus:4222' is not a nats://" in err


def test_bridge_reads_buses_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """IBSTREAM_NATS is used when no --nats/--redis flag is given (here: a bad URL, refused)."""
    monkeypatch.setenv("IBSTREAM_NATS", "http://not-a-bus:1")
    monkeypatch.delenv("IBSTREAM_REDIS", raising=False)
    assert main(["bridge"]) == 2
    assert "not-a-bus" in capsys.readouterr().err


def test_bridge_config_file_errors_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IBSTREAM_NATS", raising=False)
    monkeypatch.delenv("IBSTREAM_REDIS", raising=False)
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps({"nats": "nats://bus:4222", "lease_ttl": "3s"}), encoding="utf-8")
    assert main(["bridge", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ibstream bridge: config: ") and "lease_ttl" in err and str(path) in err
    assert main(["bridge", "--config", str(tmp_path / "none.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bridge_refuses_oauth_it_cannot_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "--oauth", "--nats", "nats://bus:4222"]) == 2
    assert "OAuth" in capsys.readouterr().err


def test_bridge_cacert_and_insecure_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bridge.json"
    path.write_text(
        json.dumps({"nats": "nats://bus:4222", "cacert": "gw.pem", "insecure": True}),
        encoding="utf-8",
    )
    assert main(["bridge", "--config", str(path)]) == 2
    assert "exclude each other" in capsys.readouterr().err


@pytest.mark.e2e
async def test_bridge_runs_from_a_config_file(tmp_path: Path, redis_url: str, prefix: str) -> None:
    """``ibstream bridge --config FILE`` alone: the embedded simulator, the Redis bus, the prefix,
    the node name and the lease TTL all come from the file (seen on the bus: the leader key)."""
    path = tmp_path / "bridge.json"
    settings = {
        "sim": True,
        "redis": [redis_url],
        "prefix": prefix,
        "node": "from-file",
        "lease_ttl": 20,
        "renew_every": 0.5,
        "retention": {"market_data_per_key": 100},
    }
    path.write_text(json.dumps(settings), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IBSTREAM_NATS", "IBSTREAM_RE"))
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ibstream",
        "bridge",
        "--config",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    bus = open_bus(redis_url, prefix=prefix)
    await bus.start()
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = ""
            while not line.startswith("bridge: leader"):
                line = (await proc.stdout.readline()).decode()
                assert line, "the bridge exited"
        assert "node=from-file" in line
        r = bus._r  # type: ignore[attr-defined]
        holder = await r.get(bus.layout.redis_leader)
        assert holder is not None and holder.decode().endswith(":from-file")
        ttl_ms = await r.pttl(bus.layout.redis_leader)
        assert 3_000 < ttl_ms <= 20_000  # the file's 20 s, not the default 3 s
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            code = await proc.wait()
        await bus.close()
    assert code == 0
