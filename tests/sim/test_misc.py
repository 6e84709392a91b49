"""Replay, CLI, TLS and the independence rule of the simulator."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import signal
import ssl
import sys
import time
from pathlib import Path

import aiohttp
from tests.sim.conftest import cookie, raw_frame, raw_send, raw_ws

import ibstream.sim
from ibstream.sim.testing import SimulatorFactory

FORBIDDEN = ("ibstream.protocol", "ibstream.state", "ibstream.aio")


def test_sim_never_imports_client_codec() -> None:
    """No module of ibstream.sim imports ibstream.protocol / state / aio (architecture.md)."""
    root = Path(ibstream.sim.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)
            ]
            if isinstance(node, ast.ImportFrom) and node.module == "ibstream":
                offenders += [
                    f"{path.name}: ibstream.{a.name}"
                    for a in node.names
                    if f"ibstream.{a.name}" in FORBIDDEN
                ]
    assert offenders == []


async def test_replay_original_timing_and_max(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    rec = tmp_path / "rec.jsonl"
    t0 = 1777552110.0
    lines = [
        {"t": t0, "dir": "in", "frame": '{"topic":"system","success":"u","isFT":false}'},
        {"t": t0 + 0.01, "dir": "out", "frame": "tic"},
        {"t": t0 + 2.0, "dir": "in", "frame": '{"topic":"smd+1","conid":1,"31":"1.00"}'},
        {
            "t": t0 + 2.01,
            "dir": "in",
            "enc": "b64",
            "frame": base64.b64encode(b'{"topic":"blt","x":"\x99"}').decode(),
        },
    ]
    rec.write_text("\n".join(json.dumps(x) for x in lines) + "\n# comment\n")
    sim = await simulator(replay=str(rec), replay_speed=10.0)
    reader, writer = await raw_ws(sim.port, sim.session_id)
    frames = [await raw_frame(reader)]
    start = time.monotonic()
    raw_send(writer, "tic")  # the recorded client message: a sync point
    while len(frames) < 3:
        frame = await raw_frame(reader)
        if b'"hb":' not in frame[1]:  # the live heartbeats keep running during a replay
            frames.append(frame)
    elapsed = time.monotonic() - start
    assert [p for _, p in frames][:2] == [lines[0]["frame"].encode(), lines[2]["frame"].encode()]
    assert frames[2][1] == b'{"topic":"blt","x":"\x99"}'
    # The recorded 1.99 s gap at 10x: the frame is never early. No upper bound: how late a
    # loaded machine delivers is not a property of the replay (its speed is a benchmark's job).
    assert elapsed >= 0.199 - 0.01
    writer.close()
    sim2 = await simulator(replay=str(rec), replay_speed=None)
    ws = await http.ws_connect(sim2.ws_url, headers=cookie(sim2.session_id))
    t = time.monotonic()
    assert json.loads((await ws.receive(timeout=2)).data)["topic"] == "system"
    await ws.send_str("tic")
    assert json.loads((await ws.receive(timeout=2)).data)["topic"] == "smd+1"
    assert time.monotonic() - t < 1.0  # as fast as possible: not the recorded 2 s gap
    await ws.close()


async def test_tls_with_written_cert(
    simulator: SimulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """HTTPS/WSS with a generated cert; clients verify with the written-out PEM (§1.2)."""
    pem = tmp_path / "cert.pem"
    sim = await simulator(tls=True, cert_out=str(pem))
    assert sim.base_url.startswith("https://") and sim.ws_url.startswith("wss://")
    ctx = ssl.create_default_context(cafile=str(pem))
    r = await http.get(sim.base_url + "/tickle", ssl=ctx)
    assert (await r.json())["session"] == sim.session_id
    ws = await http.ws_connect(sim.ws_url, headers=cookie(sim.session_id), ssl=ctx)
    assert json.loads((await ws.receive(timeout=3)).data)["topic"] == "system"
    await ws.close()
    bad = ssl.create_default_context()
    try:
        await http.get(sim.base_url + "/tickle", ssl=bad)
        raise AssertionError("self-signed cert must not verify against system CAs")
    except aiohttp.ClientConnectorCertificateError:
        pass


async def test_cli_prints_gateway_line_and_exits_cleanly() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ibstream.cli.main",
        "sim",
        "--port",
        "0",
        "--plain",
        "--seed",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip()
    assert line.startswith("gateway: http://127.0.0.1:") and line.endswith("/v1/api")
    base = line.removeprefix("gateway: ")
    rest = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
    assert rest.startswith("websocket: ws://")
    session = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode().split()[-1]
    async with aiohttp.ClientSession() as http:
        body = await (await http.post(base + "/tickle")).json()
    assert body["session"] == session
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0


def test_cli_main_without_command_prints_help() -> None:
    from ibstream.cli.main import main

    assert main([]) == 2
