"""Chaos run: the client against the simulator in another process, random faults for N minutes.

Run: ``python bench/chaos.py [--minutes 5] [--profile default|fast] [--seed 1] [--no-orders]
[--json FILE]``.

The simulator runs in a child process (its own event loop) with its admin API behind a token;
this process runs one ``StreamClient`` subscribed to market data (3 conids), orders, trades and
P&L, places market orders through the simulator every cycle, and injects one random fault per
cycle, of every kind the simulator offers:

======================  ===============================================  =====================
kind                    fault                                            healed by
======================  ===============================================  =====================
drop_clean              every socket closed (1000)                       at once
drop_abrupt             every socket reset (TCP abort)                   at once
stop_heartbeats         no ``hb`` frames, ``tic`` unanswered             resume after the hold
lose_auth               ``sts authenticated:false``, data stops          ``restore_auth``
competing_session       ``competing:true``, then not authenticated       ``restore_auth``
logout_login            SSO logout (``/tickle`` 401)                     login, new session
restart                 gateway restart, new session id, port shut 1 s   itself
refuse_connections      port closed 2 s, sockets reset                   itself
send_malformed          a malformed frame (random kind)                  at once
md_expiry               market data ends silently after 1 s              expiry off again
ignore_subscriptions    ``smd`` subscribes ignored, sockets dropped      at once
slow_feed               data 20x slower                                  factor 1 after a hold
market_halted           market halted (``H`` prefix)                     open again
send_error              an ``error`` frame                               at once
======================  ===============================================  =====================

Recovery time: from the moment the gateway is healthy again until the client is AUTHENTICATED,
every subscription ACTIVE and fresh market data arrived for every conid (60 s: not recovered).
At the end the client's orders and fills are compared with the simulator's own record (lost,
duplicated, mismatched), and fds, tasks and RSS of this process are printed at start and end.

``--profile default`` uses the library's default timings (heartbeat timeout 25 s, auth poll
2 s, stall detector 10 s...); ``--profile fast`` scales them down (for the bounded CI run).

Memory: RSS and the interpreter's allocated blocks (``sys.getallocatedblocks``) are sampled
after every fault; the report gives their growth over the second half of the run (after warm-up)
as a rate per hour, next to what the client keeps by design (every order and fill it saw, in
its order and trade books): a leak grows without bound at a steady rate, allocator warm-up
flattens out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.events import Malformed, MarketData, ValueRejected
from ibstream.protocol.lifecycle import Gap
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, PnlSpec, TradesSpec

TOKEN = "chaos-admin-token-0123"
CONIDS = (265598, 272093, 756733)
KINDS = (
    "drop_clean",
    "drop_abrupt",
    "stop_heartbeats",
    "lose_auth",
    "competing_session",
    "logout_login",
    "restart",
    "refuse_connections",
    "send_malformed",
    "md_expiry",
    "ignore_subscriptions",
    "slow_feed",
    "market_halted",
    "send_error",
)
RECOVERY_TIMEOUT = 60.0


def _serve(conn: Connection, heartbeat: float) -> None:
    """Child process: the simulator, until the parent says stop."""
    from ibstream.sim import SimConfig, Simulator

    async def run() -> None:
        cfg = SimConfig(
            port=0,
            tls=False,
            seed=7,
            update_interval=0.25,
            rate_limit=None,
            heartbeat_interval=heartbeat,
            admin_token=TOKEN,
            historic_executions=0,
        )
        async with Simulator(cfg) as sim:
            conn.send(sim.base_url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(run())


def _client_config(profile: str, md_stall_after: float | None = None) -> ClientConfig:
    """``md_stall_after``: ``None`` keeps the library's default, 0 turns the detector off."""
    if profile == "fast":
        protocol = ProtocolConfig(
            heartbeat_timeout=3.0,
            tic_interval=2.0,
            tickle_interval=5.0,
            auth_poll_interval=0.5,
            auth_timeout=3.0,
            auth_lost_reconnect_after=15.0,
            subscribe_timeout=1.0,
            md_stall_after=3.0,
            max_unauthenticated=None,
        )
        return ClientConfig(
            protocol=protocol,
            reconnect=lambda: ReconnectPolicy(initial=0.1, max_delay=1.0),
            start_timeout=30.0,
        )
    if md_stall_after is None:
        protocol = ProtocolConfig(max_unauthenticated=None)
    else:
        protocol = ProtocolConfig(max_unauthenticated=None, md_stall_after=md_stall_after or None)
    return ClientConfig(start_timeout=30.0, protocol=protocol)


def _slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, value)`` samples, per hour (0 with fewer than 3)."""
    if len(samples) < 3:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in samples) / var * 3600.0


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Probe:
    """What the client saw."""

    md_at: dict[int, float] = field(default_factory=dict)
    gaps: int = 0
    malformed: int = 0
    rejected: int = 0

    def on_md(self, ev: MarketData) -> None:
        self.md_at[ev.conid] = time.monotonic()

    def on_gap(self, ev: Gap) -> None:
        self.gaps += 1


class Chaos:
    def __init__(
        self, base_url: str, profile: str, seed: int, md_stall_after: float | None = None
    ) -> None:
        self.md_stall_after = md_stall_after
        self.base = base_url.removesuffix("/v1/api")
        self.url = base_url
        self.profile = profile
        self.rng = random.Random(seed)
        self.probe = Probe()
        self.recovery: dict[str, list[float]] = defaultdict(list)
        self.failed: Counter[str] = Counter()
        self.gaps_by_kind: Counter[str] = Counter()
        self.orders_placed = 0
        self.place_orders = True
        self.http: aiohttp.ClientSession | None = None
        self.client: StreamClient | None = None

    async def admin(self, action: str, **params: Any) -> Any:
        assert self.http is not None
        async with self.http.post(
            self.base + "/sim/admin/fault",
            data=orjson.dumps({"action": action, **params}),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        ) as r:
            body = await r.json(loads=orjson.loads)
            if r.status != 200:
                raise RuntimeError(f"admin {action}: {r.status} {body}")
            return body.get("result")

    async def sim_state(self) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.get(
            self.base + "/sim/admin/state", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as r:
            state: dict[str, Any] = await r.json(loads=orjson.loads)
            return state

    def healthy_since(self, since: float) -> bool:
        client = self.client
        assert client is not None
        if client.state.name != "AUTHENTICATED":
            return False
        subs = client.metrics()["subscriptions"]
        if not subs or any(st != "ACTIVE" for st in subs.values()):
            return False
        return all(self.probe.md_at.get(c, 0.0) > since for c in CONIDS)

    async def wait_healthy(self, since: float) -> float | None:
        deadline = since + RECOVERY_TIMEOUT
        while time.monotonic() < deadline:
            if self.healthy_since(since):
                return time.monotonic() - since
            await asyncio.sleep(0.02)
        return None

    async def inject(self, kind: str) -> float:
        """Apply the fault of ``kind``; return the moment the gateway is healthy again."""
        hold = self.rng.uniform(0.5, 2.0)
        if kind == "drop_clean":
            await self.admin("drop_connections", abrupt=False)
        elif kind == "drop_abrupt":
            await self.admin("drop_connections", abrupt=True)
        elif kind == "stop_heartbeats":
            await self.admin("stop_heartbeats")
            await asyncio.sleep(hold)
            await self.admin("resume_heartbeats")
        elif kind == "lose_auth":
            await self.admin("lose_auth")
            await asyncio.sleep(hold)
            await self.admin("restore_auth")
        elif kind == "competing_session":
            await self.admin("competing_session")
            await asyncio.sleep(hold)
            await self.admin("restore_auth")
        elif kind == "logout_login":
            await self.admin("logout")
            await asyncio.sleep(hold)
            await self.admin("login", new_session=True)
        elif kind == "restart":
            await self.admin("restart", downtime=1.0)
        elif kind == "refuse_connections":
            await self.admin("refuse_connections", seconds=2.0, drop=True)
        elif kind == "send_malformed":
            kinds = ("not_json", "invalid_utf8", "binary", "truncated", "wrong_types")
            await self.admin("send_malformed", kind=self.rng.choice(kinds))
        elif kind == "md_expiry":
            await self.admin("set_market_data_expiry", seconds=1.0)
            await self.admin("drop_connections", abrupt=False)  # resubscribe under the expiry
            await asyncio.sleep(max(hold, 2.5))
            await self.admin("set_market_data_expiry", seconds=None)
        elif kind == "ignore_subscriptions":
            await self.admin("ignore_subscriptions", prefix="smd", count=len(CONIDS))
            await self.admin("drop_connections", abrupt=False)
        elif kind == "slow_feed":
            await self.admin("slow_feed", factor=20.0)
            await asyncio.sleep(hold)
            await self.admin("slow_feed", factor=1.0)
        elif kind == "market_halted":
            await self.admin("set_market_state", state="halted")
            await asyncio.sleep(hold)
            await self.admin("set_market_state", state="open")
        elif kind == "send_error":
            await self.admin("send_error", error="chaos error", code=500)
        else:  # pragma: no cover
            raise ValueError(kind)
        return time.monotonic()

    async def place_order(self) -> None:
        if not self.place_orders:
            return
        conid = self.rng.choice(CONIDS)
        side = self.rng.choice(("BUY", "SELL"))
        with contextlib.suppress(RuntimeError):
            await self.admin(
                "place_order", conid=conid, side=side, quantity=self.rng.randint(1, 3),
                order_type="MKT",
            )  # fmt: skip
            self.orders_placed += 1

    async def run(self, minutes: float) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            self.http = http
            client = self.client = StreamClient(
                self.url, config=_client_config(self.profile, self.md_stall_after)
            )
            client.on(MarketData, self.probe.on_md)
            client.on(Gap, self.probe.on_gap)
            client.on(
                Malformed, lambda ev: setattr(self.probe, "malformed", self.probe.malformed + 1)
            )
            client.on(
                ValueRejected, lambda ev: setattr(self.probe, "rejected", self.probe.rejected + 1)
            )
            await client.start()
            handles = [client.subscribe(MarketDataSpec(c), buffer=False) for c in CONIDS]
            handles += [
                client.subscribe(s, buffer=False) for s in (OrdersSpec(), TradesSpec(), PnlSpec())
            ]
            first = await self.wait_healthy(time.monotonic())
            if first is None:
                raise RuntimeError("the client never became healthy")
            await asyncio.sleep(2.0)  # let start-up allocations settle
            gc.collect()
            start = {"fds": _fds(), "tasks": len(asyncio.all_tasks()), "rss_kb": _rss_kb()}
            t0 = time.monotonic()
            memory: list[tuple[float, int, int]] = []  # (s since start, RSS kB, heap blocks)
            t_end = time.monotonic() + minutes * 60.0
            # every kind once (shuffled) before repeating, so short runs cover every kind
            queue: list[str] = []
            faults = 0
            while time.monotonic() < t_end:
                if not queue:
                    queue = list(KINDS)
                    self.rng.shuffle(queue)
                kind = queue.pop()
                await self.place_order()
                gaps = self.probe.gaps
                healed = await self.inject(kind)
                faults += 1
                took = await self.wait_healthy(healed)
                if took is None:
                    self.failed[kind] += 1
                    print(f"  {kind}: NOT recovered in {RECOVERY_TIMEOUT:.0f} s", flush=True)
                else:
                    self.recovery[kind].append(took)
                self.gaps_by_kind[kind] += self.probe.gaps - gaps
                await self.place_order()
                await asyncio.sleep(self.rng.uniform(0.5, 1.5))
                memory.append((time.monotonic() - t0, _rss_kb(), sys.getallocatedblocks()))
            # settle: every order done, then compare with the simulator's record
            await asyncio.sleep(5.0)
            await self.wait_healthy(time.monotonic())
            await asyncio.sleep(2.0)
            record = await self.sim_state()
            compare = self.compare(record)
            gc.collect()
            end = {"fds": _fds(), "tasks": len(asyncio.all_tasks()), "rss_kb": _rss_kb()}
            half = [m for m in memory if m[0] >= memory[-1][0] / 2] if memory else []
            growth = {
                "rss_mb_per_hour": _slope_per_hour([(t, r / 1024) for t, r, _ in half]),
                "blocks_per_hour": _slope_per_hour([(t, float(b)) for t, _, b in half]),
                "samples": len(memory),
                "orders_kept": len(client.orders),
                "fills_kept": len(client.trades),
                "orders_evicted": client.orders.evicted,
                "fills_evicted": client.trades.evicted,
            }
            metrics = client.metrics()
            for h in handles:
                h.close()
            await client.stop()
        return {
            "profile": self.profile,
            "md_stall_after": client.config.protocol.md_stall_after,
            "minutes": minutes,
            "faults": faults,
            "kinds": list(KINDS),
            "recovery": {k: sorted(v) for k, v in self.recovery.items()},
            "not_recovered": dict(self.failed),
            "gaps": self.probe.gaps,
            "gaps_by_kind": dict(self.gaps_by_kind),
            "malformed_events": self.probe.malformed,
            "value_rejected_events": self.probe.rejected,
            "reconnects": metrics["reconnects"],
            "orders_placed": self.orders_placed,
            **compare,
            "start": start,
            "end": end,
            "memory": growth,
        }

    def compare(self, record: dict[str, Any]) -> dict[str, Any]:
        client = self.client
        assert client is not None
        sim_orders = {o["orderId"]: o for o in record["orders"]}
        mine = {o.order_id: o for o in client.orders.orders()}
        # an order the bounded book evicted (ClientConfig.max_terminal_orders) is not lost
        forgotten = client.orders.forgotten
        lost_orders = sorted(o for o in set(sim_orders) - set(mine) if not forgotten(o))
        phantom_orders = sorted(set(mine) - set(sim_orders))
        mismatched = []
        for oid, o in sim_orders.items():
            got = mine.get(oid)
            if got is None:  # lost or evicted, counted above
                continue
            status = got.status.value if got.status is not None else None
            if status != o["status"] or (got.filled or 0.0) != o["filledQuantity"]:
                mismatched.append((oid, status, got.filled, o["status"], o["filledQuantity"]))
        sim_fills = {e["execution_id"]: e for e in record["execution_records"]}
        my_fills = {t.execution_id: t for t in client.trades.trades()}
        lost_fills = sorted(set(sim_fills) - set(my_fills))
        phantom_fills = sorted(set(my_fills) - set(sim_fills))
        filled_by_order: dict[int, float] = defaultdict(float)
        for t in my_fills.values():
            if t.order_id is not None:
                filled_by_order[t.order_id] += t.size or 0.0
        over_filled = [
            oid for oid, qty in filled_by_order.items()
            if oid in sim_orders and qty > sim_orders[oid]["filledQuantity"] + 1e-9
        ]  # fmt: skip
        return {
            "sim_orders": len(sim_orders),
            "sim_fills": len(sim_fills),
            "lost_orders": len(lost_orders),
            "duplicated_orders": len(phantom_orders),
            "mismatched_orders": len(mismatched),
            "mismatched_detail": mismatched[:5],
            "lost_fills": len(lost_fills),
            "duplicated_fills": len(phantom_fills) + len(over_filled),
        }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\nchaos: {result['minutes']} min, profile {result['profile']}, md_stall_after "
        f"{result['md_stall_after']}, {result['faults']} faults"
    )
    print(f"{'kind':<22}{'n':>4}{'median s':>10}{'max s':>8}{'failed':>8}{'gaps':>6}")
    for kind in KINDS:
        times = result["recovery"].get(kind, [])
        failed = result["not_recovered"].get(kind, 0)
        if not times and not failed:
            continue
        med = f"{statistics.median(times):.2f}" if times else "-"
        mx = f"{max(times):.2f}" if times else "-"
        gaps = result["gaps_by_kind"].get(kind, 0)
        print(f"{kind:<22}{len(times) + failed:>4}{med:>10}{mx:>8}{failed:>8}{gaps:>6}")
    print(
        f"gaps {result['gaps']}, reconnects {result['reconnects']}, malformed events "
        f"{result['malformed_events']}, value-rejected events {result['value_rejected_events']}"
    )
    print(
        f"orders: {result['orders_placed']} placed, sim {result['sim_orders']}, lost "
        f"{result['lost_orders']}, duplicated {result['duplicated_orders']}, mismatched "
        f"{result['mismatched_orders']}"
    )
    print(
        f"fills: sim {result['sim_fills']}, lost {result['lost_fills']}, duplicated "
        f"{result['duplicated_fills']}"
    )
    s, e = result["start"], result["end"]
    print(
        f"fds {s['fds']} -> {e['fds']}, tasks {s['tasks']} -> {e['tasks']}, "
        f"RSS {s['rss_kb'] / 1024:.1f} -> {e['rss_kb'] / 1024:.1f} MB"
    )
    m = result["memory"]
    print(
        f"second half: RSS {m['rss_mb_per_hour']:+.1f} MB/h, heap blocks "
        f"{m['blocks_per_hour']:+.0f}/h; books keep {m['orders_kept']} orders "
        f"({m['orders_evicted']} evicted), {m['fills_kept']} fills ({m['fills_evicted']} evicted)"
    )


def _chaos(base_url: str, args: argparse.Namespace) -> Chaos:
    chaos = Chaos(base_url, args.profile, args.seed, args.md_stall_after)
    chaos.place_orders = not args.no_orders
    return chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--profile", choices=("default", "fast"), default="default")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--md-stall-after",
        type=float,
        default=None,
        metavar="S",
        help="default profile: the client's stale-stream detector (ProtocolConfig."
        "md_stall_after; default: the library's, 10 s; 0 turns it off, and a silently expired "
        "stream then waits for the renewal at md_renew_after, 540 s)",
    )
    parser.add_argument(
        "--no-orders",
        action="store_true",
        help="place no orders (the books then keep nothing: RSS growth is the rest of the client)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the client's warnings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    parent, child = multiprocessing.Pipe()
    heartbeat = 10.0 if args.profile == "default" else 1.0
    proc = multiprocessing.Process(target=_serve, args=(child, heartbeat), daemon=True)
    proc.start()
    try:
        base_url = parent.recv()
        result = asyncio.run(_chaos(base_url, args).run(args.minutes))
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    print_table(result)
    if args.json:
        with open(args.json, "wb") as fh:
            fh.write(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    ok = not result["not_recovered"] and not result["lost_orders"] and not result["lost_fills"]
    ok = ok and not result["duplicated_orders"] and not result["duplicated_fills"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
