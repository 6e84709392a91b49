"""The feed process of ``bench/stream.py``: the gateway simulator plus a bench-only frame pacer.

Run as ``python bench/_feed.py [--conids N]``; it prints one JSON line ``{"url": ..., "ws": ...,
"session": ...}`` once the simulator listens, then obeys JSON-line commands on stdin and answers
each with one JSON line on stdout:

* ``{"cmd": "saturate", "seconds": S}`` or ``{"cmd": "saturate", "frames": N}``: the
  simulator's own saturation path (``set_update_interval(None, 0)``: pre-encoded ``smd`` frames,
  as many as the socket drains) for ``S`` seconds or until ``N`` frames went out, then back to a
  silent feed; answers ``{"sent": <smd frames written>}``.
* ``{"cmd": "pace", "rate": R, "seconds": S}``: ``R`` frames/s for ``S`` seconds, round-robin
  over every subscribed conid of every socket, each frame stamped at send time with
  ``"_sent_ns": time.time_ns()`` (and a per-conid ``"_seq"``); answers ``{"sent": n}``.
* ``{"cmd": "quit"}``.

The pacer is part of the benchmark, not of the simulator: it writes through the simulator's own
``Connection`` (after the simulator authenticated the socket and confirmed the subscription) and
renders fields with the simulator's market walk, so the client sees ordinary ``smd`` deltas with
two extra keys. ``--conids N`` adds ``N`` synthetic instruments (conids 1000001...) for the
memory figure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

from ibstream.sim import SimConfig, Simulator
from ibstream.sim.config import DEFAULT_INSTRUMENTS, Instrument
from ibstream.sim.connection import Connection
from ibstream.sim.wire import dumps

SILENT = 3600.0  # update interval between phases: no smd traffic at all
FIELDS = ("31", "84", "85", "86", "88", "7059")
SYNTHETIC_BASE = 1_000_000

# Count the smd frames of the saturation path: it is the only caller of send_many.
_send_many = Connection.send_many


def _counting_send_many(self: Connection, payloads: Any) -> int:
    n = _send_many(self, payloads)
    self.bench_md = getattr(self, "bench_md", 0) + n  # type: ignore[attr-defined]
    return n


Connection.send_many = _counting_send_many  # type: ignore[method-assign]


def config(conids: int) -> SimConfig:
    extra = tuple(
        Instrument(SYNTHETIC_BASE + i, f"SYN{i}", f"SYNTHETIC {i}", 10.0 + (i % 500))
        for i in range(conids)
    )
    return SimConfig(
        port=0,
        tls=False,
        seed=1,
        update_interval=SILENT,
        rate_limit=None,
        md_expiry=None,
        idle_timeout=0,
        heartbeat_interval=10.0,
        instruments=DEFAULT_INSTRUMENTS + extra,
    )


def _md_sent(sim: Simulator) -> int:
    return sum(getattr(c, "bench_md", 0) for c in sim.gateway.connections)


async def saturate(sim: Simulator, seconds: float | None, frames: int | None) -> int:
    gw = sim.gateway
    before = _md_sent(sim)
    sim.set_update_interval(None, 0)
    start = time.perf_counter()
    while True:
        await asyncio.sleep(0.005)
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
        if frames is not None and _md_sent(sim) - before >= frames:
            break
    sim.set_update_interval(None, SILENT)
    # wait for every saturation task to notice (it checks between batches)
    while any(s.saturating for c in gw.connections for s in c.subs.values()):  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    return _md_sent(sim) - before


def _targets(sim: Simulator) -> list[tuple[Connection, Any, bytes, bytes, list[bytes]]]:
    gw = sim.gateway
    out = []
    for conn in gw.authed_connections():
        for sub in conn.subs.values():
            if not sub.key.startswith("md:") or not gw.market.known(sub.conid):
                continue
            meta = {"server_id": sub.server_id, "conidEx": str(sub.conid), "conid": sub.conid}
            head = dumps(meta)
            head = head[:-1] + b',"_updated":'
            mid = b',"6119":' + dumps(sub.server_id) + b","
            tail = b',"topic":' + dumps(sub.topic) + b"}"
            out.append((conn, gw.market.quote(sub.conid), head, mid, [tail]))
    return out


async def pace(sim: Simulator, rate: float, seconds: float) -> int:
    targets = _targets(sim)
    if not targets:
        return 0
    state = sim.gateway.market.state
    ring_size = max(8, min(256, 4096 // len(targets)))
    rings: list[list[bytes]] = []
    for _, quote, _, _, _ in targets:
        ring = []
        for _ in range(ring_size):
            quote.step()
            hot = quote.hot_fields(state)
            ring.append(orjson.dumps({k: hot[k] for k in FIELDS})[1:-1])
        rings.append(ring)
    seqs = [0] * len(targets)
    total = int(rate * seconds)
    ntargets = len(targets)
    sent = 0
    start = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            i = sent % ntargets
            conn, _, head, mid, (tail,) = targets[i]
            seq = seqs[i]
            seqs[i] = seq + 1
            body = rings[i][seq % ring_size]
            stamp = time.time_ns()
            conn.send_payload(
                b"".join(
                    (
                        head,
                        str(stamp // 1_000_000).encode(),
                        mid,
                        body,
                        b',"_seq":',
                        str(seq).encode(),
                        b',"_sent_ns":',
                        str(stamp).encode(),
                        tail,
                    )
                )
            )
            sent += 1
        # No busy-wait (it would take a core from the client on a 2-core machine): sleep until
        # the next frame is due; the loop wakes at ~1 ms granularity, so at 10k frames/s the
        # frames go out in bursts of ~10, each stamped just before its own write.
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    return sent


async def main(conids: int) -> None:
    loop = asyncio.get_running_loop()
    async with Simulator(config(conids)) as sim:
        hello = {"url": sim.base_url, "ws": sim.ws_url, "session": sim.session_id}
        print(orjson.dumps(hello).decode(), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = orjson.loads(line)
            kind = cmd["cmd"]
            if kind == "quit":
                return
            if kind == "saturate":
                n = await saturate(sim, cmd.get("seconds"), cmd.get("frames"))
            elif kind == "pace":
                n = await pace(sim, float(cmd["rate"]), float(cmd["seconds"]))
            else:
                raise SystemExit(f"unknown command {kind!r}")
            print(orjson.dumps({"sent": n}).decode(), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--conids", type=int, default=0, help="synthetic instruments to add")
    asyncio.run(main(ap.parse_args().conids))
