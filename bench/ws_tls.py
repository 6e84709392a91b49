"""The async iterator on each client WebSocket library over TLS (issue 19).

Run: ``python bench/ws_tls.py [--rounds N] [--seconds S]``. The simulator runs in its own
process (``ibstream sim --port 0 --update-interval 0 --no-rate-limit``: HTTPS with its
self-signed certificate, every instrument at saturation); each round runs one consumer process
per backend (``aiohttp``, ``picows``, alternating), subscribed to one conid with
``verify=False``, and measures the market-data events its async iterator delivers over
``S`` seconds after a one-second warm-up: frames/s and CPU seconds per 100k frames (the
consumer's own CPU, TLS decryption included). ``bench/stream.py`` measures on plain sockets;
this is the TLS figure docs/benchmarks.md quotes. Ends with
``tls_cpu_per_frame_picows_vs_aiohttp: <ratio>`` (best CPU of the rounds, each backend).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import orjson


async def consume(url: str, backend: str, seconds: float) -> None:
    import ibstream
    from ibstream.aio.config import ClientConfig
    from ibstream.protocol.events import MarketData
    from ibstream.protocol.specs import MarketDataSpec

    config = ClientConfig(ws_backend=backend)  # type: ignore[arg-type]
    async with ibstream.connect(url, verify=False, config=config) as client:
        handle = client.subscribe(MarketDataSpec(265598, fields=("31", "84", "85", "86", "88")))
        count = 0

        async def read() -> None:
            nonlocal count
            async for ev in handle:
                if ev.__class__ is MarketData:
                    count += 1

        reader = asyncio.create_task(read())
        await handle.ready(10)
        await asyncio.sleep(1.0)  # warm-up
        n0, t0, c0 = count, time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        frames = count - n0
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        reader.cancel()
    print(orjson.dumps({"fps": frames / wall, "cpu_100k": cpu / max(frames, 1) * 1e5}).decode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--consumer", nargs=2, metavar=("URL", "BACKEND"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.consumer:
        asyncio.run(consume(args.consumer[0], args.consumer[1], args.seconds))
        return
    sim_args = ["sim", "--port", "0", "--update-interval", "0", "--no-rate-limit"]
    sim = subprocess.Popen(
        [sys.executable, "-m", "ibstream.cli.main", *sim_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        url = ""
        for line in sim.stdout:
            if line.startswith("gateway: "):
                url = line.split()[1]
                break
        if not url.startswith("https://"):
            raise SystemExit("the simulator did not start")
        best: dict[str, float] = {}
        print(f"{'round':<6} {'backend':<8} {'frames/s':>9} {'CPU s/100k':>10}")
        for n in range(1, args.rounds + 1):
            for backend in ("aiohttp", "picows"):
                consumer = ["--seconds", str(args.seconds), "--consumer", url, backend]
                out = subprocess.run(
                    [sys.executable, __file__, *consumer],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=True,
                ).stdout
                row = orjson.loads(out.strip().splitlines()[-1])
                best[backend] = min(best.get(backend, float("inf")), row["cpu_100k"])
                print(f"{n:<6} {backend:<8} {row['fps']:>9,.0f} {row['cpu_100k']:>10.3f}")
        ratio = best["picows"] / best["aiohttp"]
        print(f"tls_cpu_per_frame_picows_vs_aiohttp: {ratio:.2f}")
    finally:
        sim.terminate()
        sim.wait(10)


if __name__ == "__main__":
    main()
