"""``ibstream sim --mode gateway|direct`` (subprocess, real sockets)."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from tests.cli.conftest import start_gateway, stop_gateway


async def _first_message(url: str) -> aiohttp.WSMessage:
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:  # no cookie
        return await ws.receive(timeout=5)


@pytest.mark.parametrize(
    ("extra", "kind", "first"),
    [
        ((), aiohttp.WSMsgType.BINARY, {"topic": "system"}),
        (("--mode", "direct"), aiohttp.WSMsgType.TEXT, {"message": "waiting for session"}),
        (("--mode", "direct", "--binary"), aiohttp.WSMsgType.BINARY, None),
        (("--text",), aiohttp.WSMsgType.TEXT, {"topic": "system"}),
    ],
)
def test_sim_modes(
    extra: tuple[str, ...], kind: aiohttp.WSMsgType, first: dict[str, str] | None
) -> None:
    gw = start_gateway("--plain", *extra)
    try:
        msg = asyncio.run(_first_message(gw.url.replace("http://", "ws://") + "/ws"))
    finally:
        stop_gateway(gw)
    assert msg.type == kind
    frame = orjson.loads(msg.data)
    if first is not None:
        assert frame.items() >= first.items()
