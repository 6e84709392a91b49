"""``ibstream bridge`` over NATS JetStream next to ``ibstream serve``, same simulator, same run.

Run: ``python bench/bridge.py [--rate 10] [--seconds 2] [--consumers 1,10,50]`` (needs
``nats-server`` on PATH; a private one is started on a free port with a temporary store).

Processes: the simulator (100 instruments, ``--rate`` updates/s each), the bridge (publishing to
NATS), the service (``Service``), and this one, whose consumers subscribe to the same 2 conids
either through ``ibstream.remote`` (bridge rows) or the service's ``/stream`` WebSocket (service
rows). Per row: events/s the bridge published (or frames/s the service received), events/s
delivered per consumer, end-to-end latency p50/p99 from the simulator's send (``_updated``, epoch
ms) to the consumer, and the bridge's / service's CPU per upstream event. All consumers share
this one process, so latency with 50 consumers includes their own queueing here.

Each remote subscription is one JetStream ordered consumer: 50 consumers of 2 conids are 100 of
them. With 10 conids each (500 consumers created at once) a busy 2-core machine starved
nats-server 2.9 long enough for the bridge to lose its lease (see docs/scaling-out.md).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fanout import FIRST_CONID, _run_service, _run_sim, _sample

#: conids every consumer subscribes to (one JetStream consumer each on the bridge path)
CONIDS = [FIRST_CONID + i for i in range(2)]


def _run_bridge(gateway: str, nats_url: str, conn: Connection) -> None:
    from ibstream.bridge import Bridge, BridgeConfig
    from ibstream.protocol.specs import OrdersSpec

    async def main() -> None:
        bridge = Bridge(
            BridgeConfig(url=gateway, buses=(nats_url,), prefix="bench", baseline=(OrdersSpec(),))
        )
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        conn.send("started")
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                break
            conn.send((time.process_time(), bridge.counts["published"], bridge.counts["conflated"]))
        stop.set()
        await task

    asyncio.run(main())


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def _bridge_round(nats_url: str, ctl: Connection, n: int, seconds: float) -> dict[str, float]:
    import ibstream.remote
    from ibstream.protocol.events import MarketData
    from ibstream.protocol.specs import MarketDataSpec

    clients = [ibstream.remote.connect(nats_url, prefix="bench") for _ in range(n)]
    lat: list[float] = []
    counts = [0] * n
    measuring = False

    async def consume(i: int, sub: Any) -> None:
        async for ev in sub:
            if measuring and ev.__class__ is MarketData and ev.updated_ms:
                counts[i] += 1
                if counts[i] % 7 == 0:
                    lat.append(time.time() * 1000 - ev.updated_ms)

    tasks = []
    for i, c in enumerate(clients):
        await c.start()
        for conid in CONIDS:
            sub = c.subscribe(MarketDataSpec(conid))
            tasks.append(asyncio.create_task(consume(i, sub)))
    await asyncio.sleep(2.0)  # demand reaches the bridge, upstream subscriptions confirm
    ctl.send("sample")
    cpu0, pub0, conf0 = ctl.recv()
    measuring = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring = False
    ctl.send("sample")
    cpu1, pub1, conf1 = ctl.recv()
    elapsed = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    for c in clients:
        await c.stop()
    published = pub1 - pub0
    return {
        "consumers": n,
        "published_s": published / elapsed,
        "per_consumer_s": sum(counts) / n / elapsed,
        "p50": _percentile(lat, 50),
        "p99": _percentile(lat, 99),
        "cpu_us_event": 1e6 * (cpu1 - cpu0) / published if published else float("nan"),
        "conflated": conf1 - conf0,
    }


async def _service_round(url: str, n: int, seconds: float) -> dict[str, float]:
    specs = [{"topic": "md", "conid": conid} for conid in CONIDS]
    lat: list[float] = []
    counts = [0] * n
    measuring = False

    async def consume(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if not measuring or msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            now = time.time() * 1000
            for line in msg.data.splitlines():
                counts[i] += 1
                if counts[i] % 7 == 0:
                    ev = orjson.loads(line)
                    upd = ev.get("updated_ms") if isinstance(ev, dict) else None
                    if upd:
                        lat.append(now - upd)

    async with aiohttp.ClientSession() as http:
        sockets = []
        tasks = []
        for i in range(n):
            ws = await http.ws_connect(f"{url}/stream", max_msg_size=0)
            await ws.send_str(orjson.dumps({"op": "subscribe", "specs": specs}).decode())
            sockets.append(ws)
            tasks.append(asyncio.create_task(consume(i, ws)))
        await asyncio.sleep(1.5)
        before = await _sample(http, url)
        measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        measuring = False
        after = await _sample(http, url)
        elapsed = time.perf_counter() - t0
        for ws in sockets:
            await ws.close()
        for t in tasks:
            t.cancel()
    frames = after["ibstream_upstream_frames_total"] - before["ibstream_upstream_frames_total"]
    cpu = after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]
    return {
        "consumers": n,
        "published_s": frames / elapsed,
        "per_consumer_s": sum(counts) / n / elapsed,
        "p50": _percentile(lat, 50),
        "p99": _percentile(lat, 99),
        "cpu_us_event": 1e6 * cpu / frames if frames else float("nan"),
        "conflated": float("nan"),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="smd updates/s per conid")
    parser.add_argument("--seconds", type=float, default=2.0, help="measurement window")
    parser.add_argument("--consumers", default="1,10,50")
    args = parser.parse_args()
    counts = [int(x) for x in args.consumers.split(",")]
    exe = shutil.which("nats-server")
    if exe is None:
        sys.exit("nats-server is not installed")
    store = tempfile.mkdtemp(prefix="bench-js-")
    port = _free_port()
    nats_proc = subprocess.Popen(
        [exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nats_url = f"nats://127.0.0.1:{port}"
    time.sleep(0.5)
    sim_parent, sim_child = multiprocessing.Pipe()
    sim_proc = multiprocessing.Process(target=_run_sim, args=(1.0 / args.rate, sim_child))
    sim_proc.start()
    gateway = sim_parent.recv()
    br_parent, br_child = multiprocessing.Pipe()
    br_proc = multiprocessing.Process(target=_run_bridge, args=(gateway, nats_url, br_child))
    br_proc.start()
    br_parent.recv()
    svc_parent, svc_child = multiprocessing.Pipe()
    svc_proc = multiprocessing.Process(target=_run_service, args=(gateway, 0.002, svc_child))
    svc_proc.start()
    service_url = svc_parent.recv()
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        for n in counts:
            rows.append(
                ("bridge", asyncio.run(_bridge_round(nats_url, br_parent, n, args.seconds)))
            )
            rows.append(("service", asyncio.run(_service_round(service_url, n, args.seconds))))
    finally:
        for parent, proc in ((br_parent, br_proc), (svc_parent, svc_proc), (sim_parent, sim_proc)):
            parent.send("stop")
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        nats_proc.terminate()
        nats_proc.wait(5)
        shutil.rmtree(store, ignore_errors=True)

    print(
        f"bridge (NATS JetStream) vs service: {len(CONIDS)} conids x {args.rate:g} updates/s, "
        f"{args.seconds:g} s per row"
    )
    print(
        f"{'path':>8} {'consumers':>9} {'published/s':>11} {'events/s/consumer':>17} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'CPU us/event':>12} {'conflated':>9}"
    )
    for name, r in rows:
        print(
            f"{name:>8} {r['consumers']:>9.0f} {r['published_s']:>11,.0f} "
            f"{r['per_consumer_s']:>17,.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} "
            f"{r['cpu_us_event']:>12.1f} {r['conflated']:>9.0f}"
        )


if __name__ == "__main__":
    main()
