"""The picows client WebSocket (issue 19) against a scripted peer over a real socket.

The peer is a picows server on port 0 that the test drives frame by frame: fragments, invalid
UTF-8 in text frames, CLOSE codes, unanswered pings, floods. The client end is what the driver
gets from ``GatewayRest.ws_connect`` with ``ws_backend="picows"``. The end-to-end and fault tests
of the client run under both backends through the ``ws_backend`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from yarl import URL

from ibstream.aio.client import ClientConfig
from ibstream.aio.rest import GatewayRest
from ibstream.aio.ws_picows import (
    DEFAULT_HIGH_WATER,
    DEFAULT_RECEIVE_BUFFER,
    PicowsWebSocket,
    open_picows,
)
from ibstream.aio.wsbackend import BatchSocket, resolve_ws_backend
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    InvalidArgument,
    NotAuthenticated,
    StreamTimeout,
    TLSError,
)
from ibstream.sim.testing import wait_for


@dataclass
class Peer:
    """The server end of every connection the test opens (one at a time)."""

    status: int = 101
    transports: list[WSTransport] = field(default_factory=list)
    received: list[tuple[WSMsgType, bytes]] = field(default_factory=list)
    close_codes: list[int] = field(default_factory=list)
    requests: list[WSUpgradeRequest] = field(default_factory=list)
    write_paused: bool = False
    answer_pings: bool = True
    pings: int = 0
    port: int = 0

    @property
    def transport(self) -> WSTransport:
        return self.transports[-1]

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


class _PeerListener(WSListener):
    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.peer.transports.append(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.PING:
            self.peer.pings += 1
            if self.peer.answer_pings:
                transport.send_pong(frame.get_payload_as_bytes())
            return
        if frame.msg_type is WSMsgType.CLOSE:
            self.peer.close_codes.append(frame.get_close_code().value)
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        self.peer.received.append((frame.msg_type, frame.get_payload_as_bytes()))

    def pause_writing(self) -> None:
        self.peer.write_paused = True

    def resume_writing(self) -> None:
        self.peer.write_paused = False


async def _serve(peer: Peer) -> asyncio.Server:
    def factory(request: WSUpgradeRequest) -> Any:
        peer.requests.append(request)
        if peer.status != 101:
            response = WSUpgradeResponse.create_error_response(peer.status, b"refused")
            return WSUpgradeResponseWithListener(response, None)
        return _PeerListener(peer)

    server = await ws_create_server(factory, "127.0.0.1", 0, enable_auto_pong=False)
    peer.port = server.sockets[0].getsockname()[1]
    return server


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    server = await _serve(p)
    async with server:
        yield p
        for transport in p.transports:
            transport.disconnect(graceful=False)


def _no_tls(exc: BaseException) -> Exception:
    raise AssertionError(f"no TLS here: {exc!r}")


async def _open(url: str, **kwargs: Any) -> PicowsWebSocket:
    settings: dict[str, Any] = {
        "headers": {},
        "ssl_setting": True,
        "heartbeat": None,
        "max_message_size": 1 << 20,
        "timeout": 10.0,
        "tls_error": _no_tls,
        "display_url": url,
    }
    settings.update(kwargs)
    return await open_picows(url, **settings)


async def _take(ws: PicowsWebSocket, n: int, timeout: float = 10.0) -> list[bytes]:
    """The next ``n`` frames (fails if the socket ends first)."""
    got: list[bytes] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            batch = await ws.receive_batch(10_000)
            assert batch, f"socket ended after {len(got)} frames: {ws.close_reason}"
            got += batch
    return got


async def _ended(ws: PicowsWebSocket, timeout: float = 10.0) -> list[bytes]:
    """Every frame until the socket ends."""
    got: list[bytes] = []
    async with asyncio.timeout(timeout):
        while batch := await ws.receive_batch(10_000):
            got += batch
    return got


# -- selection ------------------------------------------------------------------------------


def test_auto_prefers_picows_and_the_environment_decides() -> None:
    assert ClientConfig().ws_backend == "auto"
    assert resolve_ws_backend("auto", {}) == "picows"
    assert resolve_ws_backend("auto", {"IBSTREAM_WS_BACKEND": "aiohttp"}) == "aiohttp"
    assert resolve_ws_backend("auto", {"IBSTREAM_WS_BACKEND": "auto"}) == "picows"
    assert resolve_ws_backend("aiohttp", {"IBSTREAM_WS_BACKEND": "picows"}) == "aiohttp"
    with pytest.raises(InvalidArgument, match="ws_backend"):
        resolve_ws_backend("websockets", {})
    with pytest.raises(InvalidArgument, match="IBSTREAM_WS_BACKEND"):
        resolve_ws_backend("auto", {"IBSTREAM_WS_BACKEND": "tornado"})


def test_without_picows_auto_is_aiohttp_and_picows_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    from ibstream._deps import DependencyError
    from ibstream.aio import wsbackend

    real_version = metadata.version

    def version(dist: str) -> str:
        if dist == "picows":
            raise metadata.PackageNotFoundError(dist)
        return real_version(dist)

    monkeypatch.setattr(metadata, "version", version)
    wsbackend.picows_available.cache_clear()
    try:
        assert resolve_ws_backend("auto", {}) == "aiohttp"
        with pytest.raises(DependencyError, match="picows"):
            resolve_ws_backend("picows", {})
        with pytest.raises(DependencyError, match="picows"):
            resolve_ws_backend("auto", {"IBSTREAM_WS_BACKEND": "picows"})
    finally:
        wsbackend.picows_available.cache_clear()


async def test_gateway_rest_opens_the_chosen_library(peer: Peer) -> None:
    base = f"http://127.0.0.1:{peer.port}/v1/api"
    aio = GatewayRest(base, ws_backend="aiohttp")
    assert aio.ws_backend == "aiohttp"
    await aio.close()
    # cookies for an IP address: only an "unsafe" jar keeps them (aiohttp's rule, both backends)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    rest = GatewayRest(base, ws_backend="picows", session=http)
    try:
        http.cookie_jar.update_cookies({"x-route": "7"}, URL(base))
        ws = await rest.ws_connect("sess-1", heartbeat=None)
        assert isinstance(ws, PicowsWebSocket) and isinstance(ws, BatchSocket)
        await wait_for(lambda: peer.transports)
        request = peer.requests[-1]
        assert request.path == b"/v1/api/ws"
        cookie = request.headers["Cookie"]
        assert 'api={"session":"sess-1"}' in cookie and "x-route=7" in cookie
        await ws.close()
    finally:
        await http.close()


async def test_oauth_query_is_sent_and_never_shown(peer: Peer) -> None:
    class TokenAuth:  # the two calls of the auth strategy the handshake makes
        def ws_params(self) -> dict[str, str]:
            return {"oauth_token": "tok-secret"}

    base = f"http://127.0.0.1:{peer.port}/v1/api"
    rest = GatewayRest(base, ws_backend="picows")
    rest.auth.ws_params = TokenAuth().ws_params  # type: ignore[method-assign]
    try:
        ws = await rest.ws_connect("sess-2", heartbeat=None)
        assert peer.requests[-1].path == b"/v1/api/ws?oauth_token=tok-secret"
        await ws.close()
        peer.status = 401
        with pytest.raises(NotAuthenticated) as info:
            await rest.ws_connect("sess-2", heartbeat=None)
        assert info.value.__cause__ is None and "tok-secret" not in repr(info.value)
    finally:
        await rest.close()


# -- frames ---------------------------------------------------------------------------------


async def test_text_and_binary_frames_arrive_as_bytes_in_order(peer: Peer) -> None:
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    peer.transport.send(WSMsgType.TEXT, b'{"topic":"system"}')
    peer.transport.send(WSMsgType.TEXT, b'{"x":"\xff\xfe"}')  # not UTF-8: kept as it came
    peer.transport.send(WSMsgType.BINARY, b'{"topic":"sts"}')
    got = await _take(ws, 3)
    assert got == [b'{"topic":"system"}', b'{"x":"\xff\xfe"}', b'{"topic":"sts"}']
    await ws.close()


async def test_each_frame_keeps_its_kind(peer: Peer) -> None:
    """TEXT or BINARY per frame, for frame listeners (recordings keep it): uniform runs, mixed
    queues, fragments, batches cut at the limit, and ``receive()``."""
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    t = peer.transport
    for payload in (b"t1", b"t2"):
        t.send(WSMsgType.TEXT, payload)
    assert await _take(ws, 2) == [b"t1", b"t2"]
    assert ws.taken_kinds == [False, False]
    t.send(WSMsgType.TEXT, b"t3")
    t.send(WSMsgType.BINARY, b"b1")
    t.send(WSMsgType.BINARY, b"b2", fin=False)
    t.send(WSMsgType.CONTINUATION, b"b2", fin=True)
    t.send(WSMsgType.TEXT, b"t4")
    await wait_for(lambda: len(ws._frames) == 4)
    assert await ws.receive_batch(3) == [b"t3", b"b1", b"b2b2"]
    assert ws.taken_kinds == [False, True, True]
    msg = await ws.receive()
    assert (msg.type.name, msg.data) == ("TEXT", b"t4")
    t.send(WSMsgType.BINARY, b"b3")
    msg = await ws.receive()
    assert (msg.type.name, msg.data) == ("BINARY", b"b3")
    await ws.close()


async def test_fragmented_messages_are_assembled(peer: Peer) -> None:
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    t = peer.transport
    t.send(WSMsgType.TEXT, b'{"topic":', fin=False)
    t.send_ping(b"between")  # a control frame may come between the fragments
    t.send(WSMsgType.CONTINUATION, b'"smd+1",', fin=False)
    t.send(WSMsgType.CONTINUATION, b'"31":"1.5"}', fin=True)
    t.send(WSMsgType.BINARY, b"next")
    assert await _take(ws, 2) == [b'{"topic":"smd+1","31":"1.5"}', b"next"]
    await ws.close()


async def test_a_stray_continuation_is_a_protocol_error(peer: Peer) -> None:
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    peer.transport.send(WSMsgType.BINARY, b"kept")
    peer.transport.send(WSMsgType.CONTINUATION, b"orphan")
    assert await _ended(ws) == [b"kept"]
    assert ws.close_code == 1002
    assert isinstance(ws.exception(), ConnectionError)
    await wait_for(lambda: peer.close_codes == [1002])


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragments"])
async def test_a_message_over_the_cap_closes_with_1009(peer: Peer, fragmented: bool) -> None:
    ws = await _open(peer.url(), max_message_size=4096)
    await wait_for(lambda: peer.transports)
    t = peer.transport
    t.send(WSMsgType.BINARY, b"small")
    if fragmented:
        t.send(WSMsgType.BINARY, b"x" * 3000, fin=False)
        t.send(WSMsgType.CONTINUATION, b"x" * 3000, fin=True)
    else:
        t.send(WSMsgType.BINARY, b"x" * 5000)
    t.send(WSMsgType.BINARY, b"after")  # never delivered: the socket is closing
    assert await _ended(ws) == [b"small"]
    assert ws.close_code == 1009
    await wait_for(lambda: peer.close_codes == [1009])


# -- closing ----------------------------------------------------------------------------------


async def test_peer_close_gives_its_code_and_reason(peer: Peer) -> None:
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    peer.transport.send(WSMsgType.BINARY, b"last")
    peer.transport.send_close(WSCloseCode.GOING_AWAY, b"restarting")
    assert await _ended(ws) == [b"last"]
    assert (ws.close_code, ws.close_reason, ws.exception()) == (1001, "restarting", None)
    assert ws.closed
    msg = await ws.receive()
    assert (msg.type.name, msg.data, msg.extra) == ("CLOSE", 1001, "restarting")
    with pytest.raises(ConnectionResetError):
        await ws.send_str("smd+1+{}")


async def test_lost_connection_is_1006_with_the_error(peer: Peer) -> None:
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    peer.transport.disconnect(graceful=False)
    assert await _ended(ws) == []
    assert ws.close_code == 1006
    assert isinstance(ws.exception(), ConnectionError)
    msg = await ws.receive()
    assert msg.type.name == "ERROR"


async def test_close_sends_the_code_and_waits_for_the_peer(peer: Peer) -> None:
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    await ws.send_str("smd+265598+{}")
    await wait_for(lambda: peer.received)
    assert peer.received == [(WSMsgType.TEXT, b"smd+265598+{}")]
    reader = asyncio.create_task(_ended(ws))
    assert await ws.close(code=4000, message=b"reconnect") is True
    assert await reader == []  # a waiting reader ends too
    assert peer.close_codes == [4000]
    assert ws.close_code == 4000 and ws.closed
    assert await ws.close() is False


# -- heartbeat and flow control -----------------------------------------------------------------


async def test_a_dead_peer_is_detected_by_the_heartbeat() -> None:
    """The peer stops answering pings: the socket ends (1006, TimeoutError) within
    heartbeat + heartbeat / 2 of silence, as aiohttp's ``heartbeat=``."""
    silent = Peer(answer_pings=False)
    server = await _serve(silent)
    async with server:
        ws = await _open(silent.url(), heartbeat=0.2)
        await wait_for(lambda: silent.transports)
        assert await _ended(ws, timeout=20) == []
        assert silent.pings >= 1
        assert ws.close_code == 1006
        assert isinstance(ws.exception(), TimeoutError)


async def test_a_live_peer_keeps_the_socket_open(peer: Peer) -> None:
    # the peer answers on this same loop: half a second for each pong even on a loaded machine
    ws = await _open(peer.url(), heartbeat=1.0)
    await wait_for(lambda: peer.pings >= 2, timeout=30)  # pinged and answered, twice
    assert not ws.closed and ws.close_code is None and ws.exception() is None
    await ws.close()


async def test_a_slow_reader_pushes_back_and_loses_nothing(peer: Peer) -> None:
    """Nothing is taken: the socket stops reading past its mark, the peer's writes back up,
    memory stays bounded; then every frame arrives, in order."""
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    payload = b"y" * 1000
    sent = 0

    def flood() -> bool:  # write while the peer's socket takes it
        nonlocal sent
        while not peer.write_paused and sent < 100_000:
            peer.transport.send(WSMsgType.BINARY, payload + str(sent).encode())
            sent += 1
        return peer.write_paused and ws._paused

    await wait_for(flood, timeout=60, interval=0.005)
    # bounded: the mark plus at most one read (the kernel receive buffer, doubled by Linux)
    assert ws._queued <= DEFAULT_HIGH_WATER + 3 * DEFAULT_RECEIVE_BUFFER
    got = await _take(ws, sent, timeout=60)
    assert [int(frame[1000:]) for frame in got] == list(range(sent))
    assert not ws._paused
    await ws.close()


async def test_sends_wait_while_the_peer_does_not_read(peer: Peer) -> None:
    """A peer that stops reading: the socket's write buffer fills and ``send_bytes`` waits
    (aiohttp's drain) instead of buffering without bound; all arrives once the peer reads."""
    ws = await _open(peer.url())
    await wait_for(lambda: peer.transports)
    peer.transport.underlying_transport.pause_reading()
    chunk = b"z" * 65536
    sent = 0
    stop = False

    async def writer() -> None:
        nonlocal sent
        while not stop:
            await ws.send_bytes(chunk)
            sent += 1

    task = asyncio.create_task(writer())
    # (without the wait the writer would never yield and this test would hang right here)
    await wait_for(lambda: ws._write_waiter is not None, timeout=30)
    for _ in range(20):
        await asyncio.sleep(0)
    assert ws._transport is not None and not task.done()
    buffered = ws._transport.underlying_transport.get_write_buffer_size()
    assert buffered <= 1024 * 1024  # asyncio's high-water mark (64 KiB) plus a few frames
    stop = True
    peer.transport.underlying_transport.resume_reading()
    await asyncio.wait_for(task, timeout=30)
    await wait_for(lambda: len(peer.received) == sent, timeout=30)
    assert all(payload == chunk for _, payload in peer.received)
    await ws.close()


# -- handshake errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(401, NotAuthenticated), (403, HTTPStatusError), (500, HTTPStatusError)]
)
async def test_refused_handshake(peer: Peer, status: int, error: type[Exception]) -> None:
    peer.status = status
    with pytest.raises(error):
        await _open(peer.url())


async def test_unreachable_and_silent_servers() -> None:
    held: list[asyncio.StreamWriter] = []
    probe = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    async with probe:  # accepts, never answers the upgrade
        with pytest.raises(StreamTimeout):
            await _open(f"ws://127.0.0.1:{port}/ws", timeout=0.3)
        for writer in held:
            writer.close()
    with pytest.raises(GatewayUnreachable):
        await _open(f"ws://127.0.0.1:{port}/ws")


async def test_tls_errors_go_through_the_diagnosis() -> None:
    """wss:// to a plain HTTP server: the TLS error reaches the handler that names the cause."""

    def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    seen: list[BaseException] = []

    def tls_error(exc: BaseException) -> Exception:
        seen.append(exc)
        return TLSError("diagnosed", verified=True)

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(TLSError, match="diagnosed"):
            await _open(f"wss://127.0.0.1:{port}/ws", tls_error=tls_error)
    assert len(seen) == 1


@pytest.mark.parametrize("backend", ["aiohttp", "picows"])
async def test_handshake_timeout_is_a_timeout_on_both_backends(backend: Any) -> None:
    """A server that accepts and never answers the upgrade: ``StreamTimeout`` on both backends
    (``TimeoutError`` is an ``OSError``: it must not be reported as ``GatewayUnreachable``)."""
    held: list[asyncio.StreamWriter] = []
    probe = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    rest = GatewayRest(f"http://127.0.0.1:{port}", timeout=0.3, ws_backend=backend)
    try:
        async with probe:
            with pytest.raises(StreamTimeout, match="timed out"):
                await rest.ws_connect("s" * 32)
            for writer in held:
                writer.close()
    finally:
        await rest.close()
