"""A gateway that accepts the connection but never answers: each REST call ends in
``StreamTimeout`` naming the endpoint (not ``GatewayUnreachable``, which says nothing
listens), over a real socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ibstream.aio.rest import GatewayRest
from ibstream.exceptions import GatewayUnreachable, InvalidArgument, StreamTimeout


@pytest.fixture
def silent_url() -> Iterator[str]:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; no one reads or answers
        yield f"http://127.0.0.1:{silent.getsockname()[1]}"


async def test_a_hung_gateway_is_a_timeout_not_unreachable(silent_url: str) -> None:
    rest = GatewayRest(silent_url, timeout=0.3)
    try:
        with pytest.raises(StreamTimeout, match="GET /iserver/accounts") as info:
            await rest.accounts()
        assert not isinstance(info.value, GatewayUnreachable)
        with pytest.raises(StreamTimeout, match="POST /tickle"):
            await rest.tickle()
    finally:
        await rest.close()


ACCOUNT_PATH = "/portfolio/DU7654321/positions/0"


async def test_account_ids_are_masked_when_a_call_times_out(silent_url: str) -> None:
    rest = GatewayRest(silent_url, timeout=0.3)
    try:
        with pytest.raises(StreamTimeout) as info:
            await rest.request("GET", ACCOUNT_PATH)
    finally:
        await rest.close()
    assert "DU7654321" not in str(info.value)
    assert "/portfolio/DU*****21/positions/0" in str(info.value)


async def test_account_ids_are_masked_when_the_gateway_is_unreachable() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        rest = GatewayRest(f"http://127.0.0.1:{port}", timeout=2.0)
        try:
            with pytest.raises(GatewayUnreachable) as info:
                await rest.request("GET", ACCOUNT_PATH)
        finally:
            await rest.close()
    assert "DU7654321" not in str(info.value)
    assert "/portfolio/DU*****21/positions/0" in str(info.value)


@pytest.mark.parametrize("timeout", [0, 0.0, -1.0, float("nan"), float("inf"), True, "5"])
def test_a_timeout_that_would_wait_forever_is_refused(timeout: object) -> None:
    # aiohttp reads a total of 0 (or less, or NaN) as "no timeout": a hung gateway would hang
    # every call for ever
    with pytest.raises(InvalidArgument, match="timeout"):
        GatewayRest("http://127.0.0.1:5000", timeout=timeout)  # type: ignore[arg-type]
