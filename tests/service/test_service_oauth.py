"""``ibstream serve`` with an OAuth 1.0a upstream: the simulator acting as api.ibkr.com (its
generated credentials, ``--oauth-config FILE``) and a bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ibstream.service import ServiceConfig
from ibstream.service.app import Service
from ibstream.sim import SimConfig, Simulator

from .helpers import AAPL, PlainWS, start_serve

pytestmark = pytest.mark.e2e


async def test_service_with_oauth_config_file(tmp_path: Path) -> None:
    """The service reads ``oauth_config``, signs upstream, and streams to consumers."""
    config = SimConfig(
        port=0,
        tls=False,
        rate_limit=None,
        update_interval=0.05,
        oauth=True,
        oauth_dir=str(tmp_path),
    )
    async with Simulator(config) as sim:
        assert sim.oauth is not None
        settings = ServiceConfig(
            url=sim.base_url, port=0, oauth_config=str(tmp_path / "oauth.json"), ready_wait=10
        )
        service = Service(settings)
        await service.start()
        try:
            assert service.client is not None
            assert service.client.rest.auth.kind == "oauth1a"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{service.url}/readyz") as r:
                    assert r.status == 200
                ws = PlainWS(await http.ws_connect(f"{service.url}/stream"))
                await ws.subscribe({"topic": "md", "conid": AAPL})
                await ws.until(lambda m: m["type"] == "MarketData")
                await ws.ws.close()
            assert sim.oauth.lst_issued == 1 and sim.oauth.signed_ok >= 2
            assert not sim.oauth.rejected
        finally:
            await service.stop()


async def test_serve_sim_oauth_process() -> None:
    """``serve --sim --oauth``: the embedded simulator requires OAuth; readyz turns 200."""
    proc, url = await start_serve("--sim", "--oauth", "--port", "0", timeout=30)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{url}/readyz") as r,
        ):
            assert r.status == 200
    finally:
        proc.terminate()
        await proc.wait()


def test_serve_bad_oauth_config(tmp_path: Path) -> None:
    """A settings file missing the keys: exit 2 with one line naming the setting."""
    bad = tmp_path / "oauth.json"
    bad.write_text('{"consumer_key": "ABCDEFGHI", "access_token": "abc"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBSTREAM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "ibstream.cli.main", "serve", "--oauth-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 2
    assert "OAuth access token secret: missing" in proc.stderr
    assert proc.stderr.count("\n") == 1
