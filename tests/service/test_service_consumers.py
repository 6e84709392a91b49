"""Consumers as untrusted input: what one of them can make the service hold or do.

Real sockets: the simulator and the service on port 0, a raw WebSocket that never reads. Each
test failed before its fix (see CHANGELOG.md, "Fixed").
"""

from __future__ import annotations

import asyncio

import pytest

from .conftest import ServiceFactory
from .helpers import wait_for
from .rawws import raw_ws, ws_text

pytestmark = pytest.mark.e2e


async def test_requests_whose_replies_are_never_read_cut_the_consumer_off(
    make_service: ServiceFactory,
) -> None:
    """A consumer that sends requests and never reads the replies: they were queued without
    bound (a ``status`` reply is many times its request), now it is a slow consumer."""
    service = await make_service(buffer_size=50, slow_consumer_timeout=0.5, send_buffer=4096)
    sock, _ = await raw_ws(service.url)
    loop = asyncio.get_running_loop()
    await wait_for(lambda: len(service.hub.consumers) == 1)
    [consumer] = service.hub.consumers.values()
    frame = ws_text({"op": "status", "id": "s" * 200})
    deepest = 0
    try:
        for _ in range(20_000):
            if consumer.closed:
                break
            await loop.sock_sendall(sock, frame)
            deepest = max(deepest, len(consumer.queue))
    except OSError:
        pass  # the service cut the socket
    finally:
        sock.close()
    await wait_for(lambda: consumer.closed, timeout=5)
    assert consumer.queue.overflowed and "never dropped" in consumer.close_reason
    assert deepest <= 2 * 50, deepest
    assert service.hub.disconnected_slow == 1
