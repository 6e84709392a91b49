"""Frames/s the simulator emits to one client at saturation (``update_interval=0``).

Run: ``python bench/sim_throughput.py [--seconds 5] [--tls]``. The simulator runs in a child
process (``ibstream sim``-equivalent, its own event loop and CPU); the client is a bare aiohttp
WebSocket reader that only counts frames (no JSON decoding). The figure is therefore bounded by
whichever is slower, the simulator or one aiohttp reader.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import ssl
import time
from multiprocessing.connection import Connection

import aiohttp

from ibstream.sim import SimConfig, Simulator


def _serve(tls: bool, conn: Connection) -> None:
    async def run() -> None:
        cfg = SimConfig(
            port=0,
            tls=tls,
            seed=1,
            update_interval=0,
            rate_limit=None,
            md_expiry=None,
            heartbeat_interval=10,
        )
        async with Simulator(cfg) as sim:
            conn.send((sim.ws_url, sim.session_id))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(run())


async def measure(seconds: float, tls: bool) -> tuple[int, float, int]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_serve, args=(tls, child), daemon=True)
    proc.start()
    ws_url, session = parent.recv()
    async with aiohttp.ClientSession() as http:
        ctx: ssl.SSLContext | bool = not tls
        ws = await http.ws_connect(
            ws_url, ssl=ctx, max_msg_size=0, headers={"Cookie": f'api={{"session":"{session}"}}'}
        )
        for _ in range(3):
            await ws.receive()
        await ws.send_str('smd+265598+{"fields":["31","84","86"]}')
        await ws.receive()
        count = 0
        nbytes = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            msg = await ws.receive()
            count += 1
            nbytes += len(msg.data)
            if count & 1023 == 0 and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
        await ws.close()
    parent.send("stop")
    proc.join(5)
    return count, elapsed, nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--tls", action="store_true")
    args = ap.parse_args()
    count, elapsed, nbytes = asyncio.run(measure(args.seconds, args.tls))
    print(
        f"frames: {count} in {elapsed:.2f} s -> {count / elapsed:,.0f} frames/s "
        f"({nbytes / elapsed / 1e6:.1f} MB/s payload, {'wss' if args.tls else 'ws'})"
    )


if __name__ == "__main__":
    main()
