"""Typed consumption: ``mypy --strict`` sees the Event union (or the spec's own events) when a
user iterates ``events()`` or a subscription, not ``Any``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

SRC = Path(__file__).resolve().parents[1] / "src"

SNIPPET = """
from typing import assert_type

from ibstream import MarketDataSpec, OrdersSpec, StreamClient
from ibstream.aio.memory import ManualClock, MemoryGateway
from ibstream.aio.rest import GatewayRest
from ibstream.aio.subscription import ClientEvent, StreamLifecycle
from ibstream.aio.transport import Clock, SystemClock, Transport
from ibstream.protocol.events import MarketData, OrderUpdate

# both transports and both clocks implement the driver's interfaces (no cast, no ignore)
transports: list[Transport] = [GatewayRest("http://127.0.0.1:5000"), MemoryGateway()]
clocks: list[Clock] = [SystemClock(), ManualClock()]


async def consume(client: StreamClient) -> None:
    async for ev in client.events():
        assert_type(ev, ClientEvent)
    async with client.subscribe(MarketDataSpec(265598)) as sub:
        async for md in sub:
            assert_type(md, MarketData | StreamLifecycle)
            if isinstance(md, MarketData):
                reveal_type(md.values)
    orders = client.subscribe(OrdersSpec(), replace=True, maxsize=5, buffer=True)
    assert_type(await orders.get(1.0), OrderUpdate | StreamLifecycle)
    ev2 = client.events().get_nowait()
    assert_type(ev2, ClientEvent | None)
"""


def test_consumption_is_typed_under_mypy_strict(tmp_path: Path) -> None:
    """assert_type fails mypy if iteration degrades to Any; reveal_type shows the field map; the
    in-memory gateway and clock type-check as the driver's Transport and Clock."""
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    env_path = os.environ.get("MYPYPATH")
    os.environ["MYPYPATH"] = str(SRC)
    try:
        out, err, status = api.run(
            [
                "--strict",
                "--follow-imports=silent",
                "--cache-dir",
                str(tmp_path / "cache"),
                str(snippet),
            ]
        )
    finally:
        if env_path is None:
            os.environ.pop("MYPYPATH", None)
        else:
            os.environ["MYPYPATH"] = env_path
    # reveal_type is reported as a note; any assert_type mismatch is an error
    assert "error:" not in out, out + err
    assert 'Revealed type is "typing.Mapping[int,' in out, out
    assert status == 0, out + err
