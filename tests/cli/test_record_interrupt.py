"""A second Ctrl-C while ``ibstream record`` is closing its connection must still leave a
readable file: the recorder is closed whatever happens while the client stops."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ibstream.sim.testing import wait_until

from .conftest import Gateway, cli_argv, cli_env

pytestmark = pytest.mark.e2e


def _opcodes(data: bytes) -> list[int]:
    """The opcodes of the (masked, client-to-server) WebSocket frames in ``data``."""
    out: list[int] = []
    i = 0
    while i + 2 <= len(data):
        out.append(data[i] & 0x0F)
        length = data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        i += 4 + length  # mask key, payload
    return out


class FreezingProxy:
    """A TCP proxy to the gateway that can stop forwarding (a gateway that went silent) and
    then reports what the client still sent on its WebSocket."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = False
        self.after_freeze = bytearray()
        self.forwarded = bytearray()  # gateway -> client, up to the freeze
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        state = {"ws": False}

        async def client_to_gateway() -> None:
            while data := await reader.read(65536):
                if b"upgrade: websocket" in data.lower():
                    state["ws"] = True
                if self.frozen:
                    if state["ws"]:
                        self.after_freeze += data
                    continue
                up_writer.write(data)

        async def gateway_to_client() -> None:
            while data := await up_reader.read(65536):
                if not self.frozen:
                    self.forwarded += data
                    writer.write(data)

        await asyncio.gather(client_to_gateway(), gateway_to_client(), return_exceptions=True)
        writer.close()
        up_writer.close()

    def close_frame_seen(self) -> bool:
        return 0x8 in _opcodes(bytes(self.after_freeze))

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_second_ctrl_c_while_stopping_still_closes_the_parquet_file(
    gateway: Gateway, tmp_path: Path
) -> None:
    from ibstream.aio.recorder import read_recording

    url = urlsplit(gateway.url)
    assert url.hostname is not None and url.port is not None
    proxy = FreezingProxy((url.hostname, url.port))
    path = tmp_path / "day.parquet"
    via = f"http://127.0.0.1:{proxy.port}{url.path}"
    proc = subprocess.Popen(
        cli_argv("record", str(path), "md:AAPL", "--url", via),
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: proxy.forwarded.count(b"smd+265598") >= 3, timeout=30.0)
        proxy.frozen = True  # the gateway goes silent: closing the socket now waits
        proc.send_signal(signal.SIGINT)  # first Ctrl-C: the recording ends, the client stops
        wait_until(proxy.close_frame_seen, timeout=30.0)  # ... and is closing its socket
        proc.send_signal(signal.SIGINT)  # the impatient second Ctrl-C
        _, err = proc.communicate(timeout=60.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proxy.stop()
    assert b"Traceback" not in err, err
    frames = list(read_recording(path))
    md = [f for f in frames if f.direction == "in" and b"smd+265598" in f.data]
    assert len(md) >= 3, len(frames)  # what arrived before the Ctrl-Cs is in the file
