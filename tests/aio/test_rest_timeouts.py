"""A gateway that accepts the connection but never answers: each REST call ends in
``StreamTimeout`` naming the endpoint (not ``GatewayUnreachable``, which says nothing
listens), over a real socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ibstream.aio.rest import GatewayRest
from ibstream.exceptions import GatewayUnreachable, StreamTimeout


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
