"""Fan-out cost of ``ibstream serve``: 1, 10, 50 and 200 consumers of the same 100 conids.

Run: ``python bench/fanout.py [--rate 5] [--seconds 4] [--consumers 1,10,50,200]
[--flush-interval S] [--max-flush-interval S] [--flush-budget F] [--stagger]`` (the pacing
flags set the service's fan-out pacing; default: the service's own defaults).

Three processes, so that each figure is the service's own: the simulator (100 synthetic
instruments, each updated ``--rate`` times a second), the service (``Service`` against it) and
this one, whose consumers connect to the plain ``/stream`` WebSocket, subscribe to the 100 conids
and count events (a message holds one event per line; nothing is parsed). Service CPU is the
service process's ``time.process_time()`` (every thread, nanosecond resolution; its
``process_cpu_seconds_total`` counts 10 ms ticks, too coarse for the small rows), asked over a
pipe around each measurement window; upstream frames and fan-out rounds come from ``/metrics``.
The default rate (5 updates/s per conid, ~500 frames/s upstream) keeps the service below
saturation at 200 consumers (~100k delivered events/s) on a 2-core machine; at 20/s, 200
consumers would ask for 400k events/s and the service saturates (the slope then measures
queueing, not fan-out).

The simulator starts an instrument's updates when the service subscribes it: by default all at
once (the first consumer subscribes the 100 conids in one request), so updates come in bursts
that drift apart over time; ``--stagger`` starts them one by one over one update period (out of
phase: more rounds, fewer events per round). A consumer's fan-out cost is per round (one socket
write), so each slope is also printed per extra consumer and round, with the events per round.

The last lines compare the marginal cost of one more delivered event (the CPU slope between the
smallest and each larger consumer count) with the cost of decoding one ``smd`` frame: the
frames the service received from the simulator in the same run (1,000 of them, taken after the
rows, decoded here, best of 5), with the fixed reference frame of earlier figures beside it.
Serialise once, send many means the slope is well under the decode cost. It ends with
``fanout_marginal_vs_decode_worst: <ratio>`` (the largest of the slopes) and
``fanout_marginal_vs_decode: <ratio>`` (smallest -> largest count). Latency p50/p99 beside it:
from the simulator's ``_updated`` stamp (epoch milliseconds, so +-1 ms) to the consumer, on every
4th event of at most ~10 consumers spread over the set (the others only count). Each row is
measured once every consumer has all its ``Subscribed`` replies (the service is done with the
subscribe work) plus one second; ``round ms`` is the service's fan-out round interval
(``ibstream_service_fanout_interval_seconds``) at the end of the window, ``rounds/s`` the rounds
handed out during it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import time
import timeit
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson

N_CONIDS = 100
N_FRAMES = 1_000  # upstream smd frames whose decoding is the denominator
FIRST_CONID = 900_001


def _instruments() -> tuple[object, ...]:
    from ibstream.sim import Instrument

    return tuple(
        Instrument(FIRST_CONID + i, f"SYM{i:03d}", f"BENCH {i}", 50.0 + i) for i in range(N_CONIDS)
    )


def _run_sim(interval: float, conn: Connection) -> None:
    from ibstream.sim import SimConfig, Simulator

    async def main() -> None:
        cfg = SimConfig(
            port=0,
            tls=False,
            seed=1,
            instruments=_instruments(),  # type: ignore[arg-type]
            update_interval=interval,
            rate_limit=None,
            md_expiry=None,
            heartbeat_interval=5.0,
        )
        async with Simulator(cfg) as sim:
            conn.send(sim.base_url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


async def _upstream_frames(client: Any, n: int) -> list[bytes | str]:
    """The next ``n`` smd frames ``client`` receives, as received (its frame listener)."""
    frames: list[bytes | str] = []
    got = asyncio.Event()

    def keep(direction: str, data: bytes | str, now: float, binary: bool) -> None:
        smd = "smd+" in data if isinstance(data, str) else b"smd+" in data
        if direction == "in" and smd and len(frames) < n:
            frames.append(data)
            if len(frames) >= n:
                got.set()

    remove = client.on_frame(keep)
    try:
        await asyncio.wait_for(got.wait(), 30)
    finally:
        remove()
    return frames


def _run_service(gateway: str, pacing: dict[str, float], conn: Connection) -> None:
    from ibstream.service import Service, ServiceConfig

    async def main() -> None:
        config = ServiceConfig(url=gateway, port=0, grace=600.0, buffer_size=20_000, **pacing)
        async with Service(config) as service:
            conn.send(service.url)
            # "cpu": this process's CPU seconds (every thread; ns resolution, where /metrics'
            # process_cpu_seconds_total counts 10 ms ticks); "frames": the next smd frames
            # received upstream, as received; anything else: stop
            loop = asyncio.get_running_loop()
            while (request := await loop.run_in_executor(None, conn.recv)) in ("cpu", "frames"):
                if request == "cpu":
                    conn.send(time.process_time())
                else:
                    conn.send(await _upstream_frames(service.client, N_FRAMES))

    asyncio.run(main())


_METRIC = re.compile(
    r"^(ibstream_upstream_frames_total|ibstream_service_fanout_interval_seconds"
    r"|ibstream_service_fanout_rounds_total) (\S+)$",
    re.M,
)


async def _sample(http: aiohttp.ClientSession, url: str, service: Connection) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    values = {m.group(1): float(m.group(2)) for m in _METRIC.finditer(text)}
    service.send("cpu")
    values["cpu"] = await asyncio.get_running_loop().run_in_executor(None, service.recv)
    return values


class Consumer:
    """Counts events; a sampled consumer also records the latency of every 4th event."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, lat: list[float] | None) -> None:
        self.ws = ws
        self.events = 0
        self.subscribed = 0  # ``Subscribed`` replies seen (counted until all are in)
        self.all_subscribed = asyncio.Event()
        self.lat = lat
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        text = aiohttp.WSMsgType.TEXT
        lat = self.lat
        async for msg in self.ws:
            if msg.type is not text:
                continue
            if self.subscribed < N_CONIDS:
                self.subscribed += msg.data.count('"type":"Subscribed"')
                if self.subscribed >= N_CONIDS:
                    self.all_subscribed.set()
            if lat is None:
                self.events += msg.data.count("\n") + 1
                continue
            now = time.time() * 1000
            for line in msg.data.splitlines():
                self.events += 1
                if self.events % 4 == 0:
                    upd = orjson.loads(line).get("updated_ms")
                    if upd:
                        lat.append(now - upd)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


async def _round(
    http: aiohttp.ClientSession, url: str, service: Connection, n: int, seconds: float
) -> dict[str, float]:
    specs = [{"topic": "md", "conid": FIRST_CONID + i} for i in range(N_CONIDS)]
    consumers = []
    lat: list[float] = []
    every = max(1, n // 10)  # at most ~10 sampled consumers, spread over the set
    for i in range(n):
        ws = await http.ws_connect(f"{url}/stream", max_msg_size=0)
        await ws.send_str(orjson.dumps({"op": "subscribe", "specs": specs}).decode())
        c = Consumer(ws, lat if i % every == 0 else None)
        c.task = asyncio.create_task(c.run())
        consumers.append(c)
    # Warm-up: every consumer has its replies (the service is done subscribing: 200 x 100
    # subscribe ops take seconds on a busy machine, and would count as fan-out CPU), then
    # a second for the snapshots and the rounds' interval to settle.
    await asyncio.wait_for(asyncio.gather(*(c.all_subscribed.wait() for c in consumers)), 120)
    await asyncio.sleep(1.0)
    before = await _sample(http, url, service)
    counts = [c.events for c in consumers]
    del lat[:]
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    after = await _sample(http, url, service)
    elapsed = time.perf_counter() - t0
    delivered = [c.events - k for c, k in zip(consumers, counts, strict=True)]
    window = lat[:]
    for c in consumers:
        await c.ws.close()
        if c.task is not None:
            c.task.cancel()
    await asyncio.sleep(0.5)
    cpu = after["cpu"] - before["cpu"]
    frames = after["ibstream_upstream_frames_total"] - before["ibstream_upstream_frames_total"]
    total = sum(delivered)
    return {
        "consumers": n,
        "frames_s": frames / elapsed,
        "per_consumer_s": total / n / elapsed,
        "min_consumer_s": min(delivered) / elapsed,
        "total_s": total / elapsed,
        "cpu_pct": 100.0 * cpu / elapsed,
        "cpu_us_event": 1e6 * cpu / total if total else float("nan"),
        "cpu_rate": cpu / elapsed,
        "p50_ms": _percentile(window, 50),
        "p99_ms": _percentile(window, 99),
        # the service's round interval at the end of the window (absent before issue 19)
        "round_ms": 1000 * after.get("ibstream_service_fanout_interval_seconds", float("nan")),
        "rounds_s": (
            after.get("ibstream_service_fanout_rounds_total", float("nan"))
            - before.get("ibstream_service_fanout_rounds_total", float("nan"))
        )
        / elapsed,
    }


#: The frame whose decoding was the denominator before the same-run frames (printed beside).
REFERENCE_FRAME = (
    b'{"topic":"smd+900001","conid":900001,"_updated":1712345678901,"server_id":"q0",'
    b'"31":"50.12","84":"50.11","86":"50.13","88":"1,300","85":"200","7059":"100"}'
)


def _decode_cost_us(frames: list[bytes | str]) -> float:
    """The decoder's CPU per frame (best of 5) over ``frames``."""
    from ibstream.protocol.decoding import decode

    def run() -> None:
        for frame in frames:
            decode(frame)

    number = max(1, 50_000 // len(frames))
    best = min(timeit.repeat(run, number=number, repeat=5))
    return 1e6 * best / (number * len(frames))


async def _stagger(http: aiohttp.ClientSession, url: str, rate: float) -> None:
    """Start the upstream streams one by one, evenly over one update period, so that the
    simulator's per-instrument tickers (which start with the stream) tick out of phase; the
    service keeps the streams after this consumer leaves (grace)."""
    async with http.ws_connect(f"{url}/stream", max_msg_size=0) as ws:
        for i in range(N_CONIDS):
            spec = {"topic": "md", "conid": FIRST_CONID + i}
            await ws.send_str(orjson.dumps({"op": "subscribe", "spec": spec}).decode())
            await asyncio.sleep(1.0 / rate / N_CONIDS)
        subscribed = 0
        async for msg in ws:
            subscribed += msg.data.count('"type":"Subscribed"')
            if subscribed >= N_CONIDS:
                break


async def _bench(
    url: str, service: Connection, counts: list[int], seconds: float, stagger: float | None
) -> list[dict[str, float]]:
    # no connection limit: each WebSocket holds a connector slot (the default limit is 100)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        if stagger is not None:
            await _stagger(http, url, stagger)
        return [await _round(http, url, service, n, seconds) for n in counts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="smd updates/s per conid")
    parser.add_argument("--seconds", type=float, default=4.0, help="measurement window")
    parser.add_argument("--consumers", default="1,10,50,200")
    parser.add_argument(
        "--flush-interval", type=float, default=0.002, help="service flush_interval (s)"
    )
    parser.add_argument(
        "--max-flush-interval", type=float, help="service max_flush_interval (s; default: its own)"
    )
    parser.add_argument("--flush-budget", type=float, help="service flush_budget (default: 0.1)")
    parser.add_argument(
        "--stagger",
        action="store_true",
        help="start the instruments' updates out of phase (default: all at once, as the first "
        "consumer subscribes)",
    )
    args = parser.parse_args()
    counts = [int(x) for x in args.consumers.split(",")]
    pacing = {"flush_interval": args.flush_interval}
    for name in ("max_flush_interval", "flush_budget"):
        if getattr(args, name) is not None:
            pacing[name] = getattr(args, name)

    sim_parent, sim_child = multiprocessing.Pipe()
    sim_proc = multiprocessing.Process(
        target=_run_sim, args=(1.0 / args.rate, sim_child), daemon=True
    )
    sim_proc.start()
    gateway = sim_parent.recv()
    svc_parent, svc_child = multiprocessing.Pipe()
    svc_proc = multiprocessing.Process(
        target=_run_service, args=(gateway, pacing, svc_child), daemon=True
    )
    svc_proc.start()
    url = svc_parent.recv()
    try:
        stagger = args.rate if args.stagger else None
        rows = asyncio.run(_bench(url, svc_parent, counts, args.seconds, stagger))
        svc_parent.send("frames")  # the denominator's frames: this run's, as received
        frames = svc_parent.recv()
    finally:
        svc_parent.send("stop")
        svc_proc.join(10)
        sim_parent.send("stop")
        sim_proc.join(10)

    print(
        f"fan-out: {N_CONIDS} conids x {args.rate:g} updates/s, plain /stream WebSocket, "
        f"{args.seconds:g} s per row, service pacing {pacing}"
        f"{', instruments started out of phase' if args.stagger else ''}"
    )
    print(
        f"{'consumers':>9} {'upstream fr/s':>13} {'events/s/consumer':>17} {'min/consumer':>12} "
        f"{'delivered/s':>11} {'service CPU':>11} {'CPU us/event':>12} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'round ms':>8} {'rounds/s':>8}"
    )
    for r in rows:
        print(
            f"{r['consumers']:>9.0f} {r['frames_s']:>13,.0f} {r['per_consumer_s']:>17,.0f} "
            f"{r['min_consumer_s']:>12,.0f} {r['total_s']:>11,.0f} {r['cpu_pct']:>10.1f}% "
            f"{r['cpu_us_event']:>12.2f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
            f"{r['round_ms']:>8.1f} {r['rounds_s']:>8.0f}"
        )
    decode_us = _decode_cost_us(frames)
    reference_us = _decode_cost_us([REFERENCE_FRAME])
    size = sum(map(len, frames)) / len(frames)
    lo, hi = rows[0], rows[-1]
    if hi["total_s"] > lo["total_s"]:
        slope = 1e6 * (hi["cpu_rate"] - lo["cpu_rate"]) / (hi["total_s"] - lo["total_s"])
        print(
            f"decoding one smd frame: {decode_us:.2f} us ({len(frames):,} frames the service "
            f"received in this run, {size:.0f} bytes on average; best of 5); the reference "
            f"frame of earlier figures: {reference_us:.2f} us"
        )
        print(
            f"marginal CPU per extra delivered event ({lo['consumers']:.0f} -> "
            f"{hi['consumers']:.0f} consumers): {slope:.2f} us (ratio {slope / decode_us:.2f}; "
            f"{slope / reference_us:.2f} against the reference frame)"
        )
        worst = slope
        for r in rows[1:]:  # the slope from the smallest count to each larger one
            if r["total_s"] > lo["total_s"]:
                s = 1e6 * (r["cpu_rate"] - lo["cpu_rate"]) / (r["total_s"] - lo["total_s"])
                worst = max(worst, s)
                # the same CPU per extra consumer and round (a consumer's cost is per round:
                # one socket write), with the events a round carried on average
                extra = (r["consumers"] - lo["consumers"]) * r["rounds_s"]
                per_round = 1e6 * (r["cpu_rate"] - lo["cpu_rate"]) / extra
                print(
                    f"  {lo['consumers']:.0f} -> {r['consumers']:.0f} consumers: {s:.2f} us "
                    f"per extra event (ratio {s / decode_us:.2f}), p99 {r['p99_ms']:.1f} ms; "
                    f"{per_round:.1f} us per extra consumer and round "
                    f"({r['frames_s'] / r['rounds_s']:.1f} events per round)"
                )
        print(f"fanout_marginal_vs_decode_worst: {worst / decode_us:.2f}")
        print(f"fanout_marginal_vs_decode: {slope / decode_us:.2f}")


if __name__ == "__main__":
    main()
