"""End-to-end streaming benchmark (issues 4, 19): ibstream vs the bare raw loops vs IBind.

Run: ``python bench/stream.py [--quick]`` (``--quick``: under a minute; the default run is the
slow path with a 10-million-frame RSS run, not for CI). See docs/benchmarks.md.

Processes: the simulator (``bench/_feed.py``, its own core) and one consumer process per
contender (``bench/_consumer.py``), so each contender's CPU time and RSS are its own. For each
contender, on the same feed in the same run:

* saturation: the simulator's own saturation path (pre-encoded ``smd`` deltas, as many as the
  socket drains) -> frames/s delivered to user code and CPU seconds per 100k frames;
* latency: paced feeds of 2,000 and 10,000 frames/s, each frame stamped with ``time.time_ns()``
  at send -> p50/p99 from the gateway's send to the user's code;
* peak RSS, lost frames (sent by the simulator - delivered - conflated) and conflated events.

Then, for the ibstream async iterator only: RSS with 1,000 conids subscribed, and RSS over a
long saturated run (1M frames with ``--quick``, 10M otherwise).

The raw baselines: picows+orjson (the fastest raw Python loop available; skipped without
``picows``) and aiohttp+orjson beside it. Ends with ``throughput_vs_ibind: <ratio>`` (ibstream
async iterator / best IBind contender at saturation; omitted without ``ibind``),
``cpu_per_frame_vs_bare: <ratio>`` (against aiohttp+orjson), then
``throughput_vs_fastest_raw: <ratio>`` and ``cpu_per_frame_vs_fastest_raw: <ratio>`` (the
async iterator against the raw loop with the most frames/s, resp. the least CPU per frame).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent

CONTENDERS = [
    ("picows", "bare picows+orjson"),
    ("bare", "bare aiohttp+orjson"),
    ("iter", "ibstream async iterator"),
    ("iter-aiohttp", "ibstream iterator, aiohttp"),
    ("callback", "ibstream callback"),
    ("ibind-queue", "IBind 0.2.2 QueueSink"),
    ("ibind-callback", "IBind 0.2.2 CallbackSink"),
    ("sync-callback", "ibstream.sync CallbackSink"),
    ("sync-queue", "ibstream.sync QueueSink"),
]


class Proc:
    """A child process spoken to in JSON lines, with a timeout on every answer."""

    def __init__(self, args: list[str], name: str, log_dir: str) -> None:
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        env = dict(os.environ, IBIND_LOG_TO_FILE="False", PYTHONUNBUFFERED="1")
        self.p = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            if line.startswith("{"):
                self._lines.put(line)
        self._lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.name}: no answer within {timeout} s") from None
        if line is None:
            tail = Path(self.log_path).read_text()[-2000:]
            raise RuntimeError(f"{self.name} exited:\n{tail}")
        return orjson.loads(line)

    def ask(self, cmd: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        assert self.p.stdin is not None
        self.p.stdin.write(orjson.dumps(cmd).decode() + "\n")
        self.p.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        try:
            assert self.p.stdin is not None
            self.p.stdin.write('{"cmd": "quit"}\n')
            self.p.stdin.flush()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait(5)
        self._log.close()


def phase(feed: Proc, con: Proc, feed_cmd: dict[str, Any], **mark: Any) -> dict[str, Any]:
    con.ask({"cmd": "mark", **mark})
    # a frame-count run lasts as long as the contender needs: allow 10k frames/s at least
    timeout = 120.0 + feed_cmd.get("frames", 0) / 10_000
    sent = feed.ask(feed_cmd, timeout)["sent"]
    res = con.ask({"cmd": "expect", "n": sent}, timeout)
    res["sent"] = sent
    res["lost"] = sent - res["delivered"] - res["conflated"]
    return res


def run_contender(
    feed: Proc, url: str, kind: str, plan: dict[str, float], log_dir: str
) -> dict[str, Any]:
    con = Proc([str(HERE / "_consumer.py"), kind, url], kind, log_dir)
    long_run = kind == "iter" and plan.get("long_in_saturation")
    try:
        con.read(60)  # ready
        if long_run:  # --quick: the iterator's saturation run is also the RSS-flatness run
            frames = int(plan["long_frames"])
            sat = phase(
                feed, con, {"cmd": "saturate", "frames": frames}, rss_every=max(0.1, frames / 4e6)
            )
        else:
            sat = phase(feed, con, {"cmd": "saturate", "seconds": plan["saturate_s"]})
        lat2 = phase(feed, con, {"cmd": "pace", "rate": 2000, "seconds": plan["pace_s"]}, lat=True)
        lat10 = phase(
            feed, con, {"cmd": "pace", "rate": 10000, "seconds": plan["pace_s"]}, lat=True
        )
    finally:
        con.close()
    phases = (sat, lat2, lat10)
    row: dict[str, Any] = {
        "kind": kind,
        "peak_rss_mb": max(p["peak_rss_kb"] for p in phases) / 1024,
        "sent": sum(p["sent"] for p in phases),
        "lost": sum(p["lost"] for p in phases),
        "conflated": sum(p["conflated"] for p in phases),
        "p50_2k_us": lat2.get("lat_p50_us"),
        "p99_2k_us": lat2.get("lat_p99_us"),
        "p50_10k_us": lat10.get("lat_p50_us"),
        "p99_10k_us": lat10.get("lat_p99_us"),
    }
    if "window_s" in sat:
        row["fps"] = sat["window_frames"] / sat["window_s"]
        row["cpu_100k"] = sat["window_cpu_s"] / sat["window_frames"] * 1e5
    if long_run:
        row["long"] = long_figures(sat, int(plan["long_frames"]))
    return row


def long_figures(res: dict[str, Any], frames: int) -> dict[str, Any]:
    """RSS flatness: from the first sample past 10% of the run to the end."""
    samples = res["rss_samples"]
    settled = [rss for n, rss in samples if n >= frames // 10] or [res["rss_kb"]]
    return {
        "frames": res["sent"],
        "lost": res["lost"],
        "conflated": res["conflated"],
        "rss_at_10pct_mb": settled[0] / 1024,
        "rss_end_mb": res["rss_kb"] / 1024,
        "rss_max_mb": max(settled) / 1024,
        "growth_mb": (res["rss_kb"] - settled[0]) / 1024,
        "fps": res["window_frames"] / res["window_s"] if "window_s" in res else None,
        "samples": len(samples),
    }


def memory_runs(feed: Proc, url: str, plan: dict[str, float], log_dir: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    con = Proc([str(HERE / "_consumer.py"), "iter", url, "--conids", "1000"], "iter-1000", log_dir)
    try:
        ready = con.read(120)
        res = phase(
            feed, con, {"cmd": "pace", "rate": 10000, "seconds": plan["conids_s"]}, lat=True
        )
        result["conids_1000"] = {
            "rss_ready_mb": ready["rss_kb"] / 1024,
            "rss_mb": res["rss_kb"] / 1024,
            "peak_rss_mb": res["peak_rss_kb"] / 1024,
            "sent": res["sent"],
            "lost": res["lost"],
            "conflated": res["conflated"],
            "p99_us": res.get("lat_p99_us"),
        }
    finally:
        con.close()
    if plan.get("long_in_saturation"):
        return result
    con = Proc([str(HERE / "_consumer.py"), "iter", url], "iter-long", log_dir)
    try:
        con.read(60)
        frames = int(plan["long_frames"])
        res = phase(
            feed, con, {"cmd": "saturate", "frames": frames}, rss_every=max(0.1, frames / 4e6)
        )
        result["long"] = long_figures(res, frames)
    finally:
        con.close()
    return result


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict[str, Any]], names: dict[str, str]) -> None:
    head = (
        f"{'contender':<27} {'frames/s':>9} {'CPU s/100k':>10} {'p50@2k':>8} {'p99@2k':>8} "
        f"{'p50@10k':>8} {'p99@10k':>8} {'peak RSS':>8} {'lost':>6} {'conflated':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if "skipped" in r:
            print(f"{names[r['kind']]:<27} skipped: {r['skipped']}")
            continue
        print(
            f"{names[r['kind']]:<27} {fmt(r.get('fps'), ',.0f'):>9} "
            f"{fmt(r.get('cpu_100k'), '.3f'):>10} "
            f"{fmt(r['p50_2k_us'], ',.0f'):>6}us {fmt(r['p99_2k_us'], ',.0f'):>6}us "
            f"{fmt(r['p50_10k_us'], ',.0f'):>6}us {fmt(r['p99_10k_us'], ',.0f'):>6}us "
            f"{r['peak_rss_mb']:>6.1f}MB {r['lost']:>6} {r['conflated']:>9}"
        )
    print("(latency: gateway send -> user code; lost = sent - delivered - conflated)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (< 1 minute)")
    ap.add_argument("--only", help="comma-separated contenders (default: all available)")
    ap.add_argument("--no-memory", action="store_true", help="skip the 1,000-conid/long runs")
    ap.add_argument("--long-frames", type=float, help="frames of the RSS-flatness run")
    args = ap.parse_args()
    plan = (
        {
            "saturate_s": 1.0,
            "pace_s": 0.75,
            "conids_s": 1.0,
            "long_frames": 1e6,
            "long_in_saturation": True,
        }
        if args.quick
        else {"saturate_s": 5.0, "pace_s": 5.0, "conids_s": 5.0, "long_frames": 1e7}
    )
    if args.long_frames:
        plan["long_frames"] = args.long_frames
    names = dict(CONTENDERS)
    kinds = [k for k, _ in CONTENDERS]
    if args.only:
        kinds = [k for k in kinds if k in args.only.split(",")]
    has_ibind = importlib.util.find_spec("ibind") is not None
    has_sync = importlib.util.find_spec("ibstream.sync") is not None
    has_picows = importlib.util.find_spec("picows") is not None

    t0 = time.perf_counter()
    print(
        f"# ibstream stream benchmark ({'quick' if args.quick else 'full'}) "
        f"{time.strftime('%Y-%m-%d')} {platform.machine()} {os.cpu_count()} cores "
        f"Python {platform.python_version()}",
        flush=True,
    )
    log_dir = tempfile.mkdtemp(prefix="ibstream-bench-")
    feed = Proc([str(HERE / "_feed.py"), "--conids", "1000"], "feed", log_dir)
    rows: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    try:
        url = feed.read(60)["url"]
        for kind in kinds:
            if kind.startswith("ibind") and not has_ibind:
                continue
            if kind == "picows" and not has_picows:
                rows.append({"kind": kind, "skipped": "picows not installed"})
                continue
            if kind.startswith("sync") and not has_sync:
                rows.append({"kind": kind, "skipped": "ibstream.sync not available"})
                continue
            try:
                rows.append(run_contender(feed, url, kind, plan, log_dir))
            except (RuntimeError, TimeoutError) as exc:
                first = str(exc).strip().splitlines()
                rows.append({"kind": kind, "skipped": first[-1][:100] if first else "failed"})
            print(f"  {kind} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        if not args.no_memory:
            try:
                memory = memory_runs(feed, url, plan, log_dir)
            except (RuntimeError, TimeoutError) as exc:
                print(f"memory runs failed: {exc}", file=sys.stderr)
    finally:
        feed.close()

    print()
    print_table(rows, names)
    for r in rows:
        if "long" in r:
            memory["long"] = r["long"]
    if "conids_1000" in memory:
        c = memory["conids_1000"]
        print(
            f"1,000 conids (ibstream iterator, 10k frames/s): RSS {c['rss_mb']:.1f} MB "
            f"(after subscribing {c['rss_ready_mb']:.1f} MB, peak {c['peak_rss_mb']:.1f} MB), "
            f"p99 {fmt(c['p99_us'], ',.0f')} us, lost {c['lost']}, conflated {c['conflated']}"
        )
    if "long" in memory:
        lr = memory["long"]
        print(
            f"long run ({lr['frames']:,} frames at {fmt(lr['fps'], ',.0f')} frames/s, ibstream "
            f"iterator): RSS {lr['rss_at_10pct_mb']:.1f} MB at 10% -> {lr['rss_end_mb']:.1f} MB "
            f"at end (max {lr['rss_max_mb']:.1f} MB, growth {lr['growth_mb']:+.1f} MB), "
            f"lost {lr['lost']}, conflated {lr['conflated']}"
        )
    by = {r["kind"]: r for r in rows if "fps" in r}
    print(f"total time: {time.perf_counter() - t0:.1f} s")
    ibind = [by[k]["fps"] for k in ("ibind-queue", "ibind-callback") if k in by]
    if "iter" in by and ibind:
        print(f"throughput_vs_ibind: {by['iter']['fps'] / max(ibind):.2f}")
    if "iter" in by and "bare" in by:
        print(f"cpu_per_frame_vs_bare: {by['iter']['cpu_100k'] / by['bare']['cpu_100k']:.2f}")
    raw = [by[k] for k in ("picows", "bare") if k in by]
    if "iter" in by and raw:
        # the fastest raw loop of this run: most frames/s, least CPU per frame (each its own)
        top = max(raw, key=lambda r: r["fps"])
        lean = min(raw, key=lambda r: r["cpu_100k"])
        print(
            f"# fastest raw loop: {names[top['kind']]} (frames/s), "
            f"{names[lean['kind']]} (CPU per frame)"
        )
        print(f"throughput_vs_fastest_raw: {by['iter']['fps'] / top['fps']:.2f}")
        print(f"cpu_per_frame_vs_fastest_raw: {by['iter']['cpu_100k'] / lean['cpu_100k']:.2f}")


if __name__ == "__main__":
    main()
