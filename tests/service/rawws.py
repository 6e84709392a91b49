"""Raw WebSocket helpers for the service tests: a client socket that reads only when told (the
slowest consumer), client frames built by hand, and a parser of the server's frames."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson

__all__ = ["raw_ws", "ws_frames", "ws_text"]


async def raw_ws(url: str, query: str = "?batch=0") -> tuple[socket.socket, bytes]:
    """A WebSocket that never reads, with a tiny receive buffer: the slowest consumer. Returns
    the socket and the bytes read after the handshake's head."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    request = (
        f"GET /stream{query} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += await loop.sock_recv(sock, 4096)
    assert data.startswith(b"HTTP/1.1 101"), data
    return sock, data.split(b"\r\n\r\n", 1)[1]


def ws_text(obj: dict[str, Any]) -> bytes:
    """``obj`` as one masked WebSocket text frame (what a client sends)."""
    payload = orjson.dumps(obj)
    n = len(payload)
    assert n < 65536
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2)
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def ws_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete server frames at the start of ``data`` (unmasked, RFC 6455 section 5.2) as
    ``(opcode, payload)`` pairs, and the bytes of an incomplete frame left over."""
    frames: list[tuple[int, bytes]] = []
    while len(data) >= 2:
        first, second = data[0], data[1]
        assert first & 0x80 and not first & 0x70, "a final, uncompressed frame"
        assert not second & 0x80, "server frames are not masked"
        n, head = second & 0x7F, 2
        if n == 126:
            if len(data) < 4:
                break
            n, head = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            if len(data) < 10:
                break
            n, head = int.from_bytes(data[2:10], "big"), 10
        if len(data) < head + n:
            break
        frames.append((first & 0x0F, data[head : head + n]))
        data = data[head + n :]
    return frames, data
