"""``ibstream serve`` as a process: the ready line, SIGTERM telling consumers, bad settings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import pytest

from .helpers import AAPL, StreamClosed, sse_events, start_serve

pytestmark = pytest.mark.e2e


async def test_serve_sim_prints_url_and_sigterm_tells_consumers() -> None:
    """``serve --sim --port 0`` prints ``service: <URL>``; on SIGTERM a WebSocket consumer gets
    a Closing message and close code 1001, an SSE consumer a final close event; exit 0."""
    from .helpers import PlainWS

    proc, url = await start_serve("--sim", "--port", "0", "--sim-update-interval", "0.05")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/readyz") as r:
                assert r.status == 200
            ws = PlainWS(await http.ws_connect(f"{url}/stream"))
            await ws.subscribe({"topic": "md", "conid": AAPL})
            await ws.until(lambda m: m["type"] == "MarketData")
            sse = await http.get(f"{url}/events?topic=md&conid={AAPL}")
            await sse_events(sse, 3)
            proc.send_signal(signal.SIGTERM)
            closing = await ws.until(lambda m: m["type"] == "Closing", timeout=10)
            assert "shutting down" in closing["reason"]
            with pytest.raises(StreamClosed) as info:
                while True:
                    await ws.next()
            assert info.value.code == 1001
            names = []
            async with asyncio.timeout(10):
                while "close" not in names:
                    got = await sse_events(sse, 1, exact=False)
                    if not got:
                        break
                    names += [n for n, _ in got]
            assert "close" in names
            sse.close()
        async with asyncio.timeout(15):
            code = await proc.wait()
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_refuses_public_bind_without_token() -> None:
    """Binding a non-loopback address without a token exits 2 with a clear message."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBSTREAM_")}
    out = subprocess.run(
        [sys.executable, "-m", "ibstream.cli.main", "serve", "--sim", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert out.returncode == 2
    assert "refusing to listen on '0.0.0.0' without a bearer token" in out.stderr
    assert "--token-file" in out.stderr
