"""The client's per-frame CPU after the socket, in one process, without a network (issue 19).

Usage: ``python bench/pipeline.py [--rounds R] [--batches B] [--conids N]``

``bench/stream.py`` measures end to end, where the machine's other jobs move the figures by
10-20 %; this benchmark runs only ibstream's own work, in-process, so that changes of a few
per cent show. A :class:`~ibstream.aio.client.StreamClient` on the in-memory gateway
(``ibstream.aio.memory``) subscribes ``N`` conids; then its batch read loop (the one the picows
socket uses) reads ``B`` batches of 256 pre-encoded ``smd`` deltas shaped as the simulator's
saturation frames (six fields, the meta keys, a random walk of prices) from a scripted socket,
and each event goes through the core (decode, session, book), the router (tickers, queues) to
the user: an ``async for`` over each subscription, or an ``on(MarketData, ...)`` callback.

Prints CPU microseconds per delivered frame for each path (best of ``R`` rounds, the median
beside it) and the decode alone on the same frames, then ``pipeline_us_per_frame: <best>`` for
the async iterator.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.memory import MemoryGateway
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData
from ibstream.protocol.specs import MarketDataSpec

FIELDS = ("31", "84", "85", "86", "88", "7059")
BATCH = 256
FIRST_CONID = 265598


def frames(n: int, conids: list[int], seed: int = 1) -> list[bytes]:
    """``n`` ``smd`` deltas round-robin over ``conids``, as the simulator's saturation path
    encodes them (meta keys first, ``topic`` last)."""
    rng = random.Random(seed)
    mids = {c: rng.randint(5_000, 50_000) for c in conids}
    out = []
    for i in range(n):
        conid = conids[i % len(conids)]
        mids[conid] = max(100, mids[conid] + rng.randint(-3, 3))
        mid = mids[conid]
        body = {
            "31": f"{mid / 100:.2f}",
            "84": f"{(mid - 1) / 100:.2f}",
            "86": f"{(mid + 1) / 100:.2f}",
            "85": str(rng.choice((1, 2, 3, 5)) * 100),
            "88": str(rng.choice((1, 2, 3, 5)) * 100),
            "7059": str(rng.choice((1, 100, 200))),
        }
        head = {"server_id": "q1", "conidEx": str(conid), "conid": conid}
        stamp = 1_777_552_110_061 + i // BATCH
        out.append(
            orjson.dumps(head)[:-1]
            + f',"_updated":{stamp},"6119":"q1",'.encode()
            + orjson.dumps(body)[1:-1]
            + f',"topic":"smd+{conid}"}}'.encode()
        )
    return out


class ScriptedSocket:
    """A batch socket (``ibstream.aio.wsbackend.BatchSocket``) handing out prepared batches,
    letting the other tasks run before each, as a socket read does."""

    close_code = 1000
    close_reason = "done"

    def __init__(self, batches: list[list[bytes]]) -> None:
        self._batches = iter(batches)
        self._left = len(batches)
        self.taken_kinds: list[bool] = []

    @property
    def pending(self) -> bool:
        return self._left > 0

    async def receive_batch(self, limit: int) -> list[bytes]:
        await asyncio.sleep(0)
        batch = next(self._batches, [])
        self._left -= 1
        return batch


async def one_round(mode: str, n_batches: int, conids: list[int]) -> float:
    """CPU seconds per delivered frame of one round."""
    gateway = MemoryGateway()
    config = ClientConfig(protocol=ProtocolConfig(heartbeat_timeout=3600.0), start_timeout=5.0)
    client = StreamClient(rest=gateway, config=config)
    await client.start()
    callback = mode == "callback"
    handles = [
        client.subscribe(MarketDataSpec(c, fields=FIELDS), buffer=not callback, maxsize=100_000)
        for c in conids
    ]
    for conid in conids:  # confirm each stream with an opening frame
        await gateway.socket.wait_sent(lambda t, c=conid: t.startswith(f"smd+{c}+"))  # type: ignore[misc]
        gateway.socket.feed(orjson.loads(frames(1, [conid], seed=conid)[0]))
    for handle in handles:
        await handle.ready(5.0)
    count = 0
    tasks: list[asyncio.Task[None]] = []
    if callback:

        def on_md(ev: Any) -> None:
            nonlocal count
            count += 1

        client.on(MarketData, on_md)
    else:

        async def consume(handle: Any) -> None:
            nonlocal count
            md = MarketData
            async for ev in handle:
                if ev.__class__ is md:
                    count += 1

        tasks = [asyncio.create_task(consume(h)) for h in handles]
    await asyncio.sleep(0.05)
    ring = frames(BATCH * 8, conids, seed=7)
    batches = [ring[(i % 8) * BATCH : (i % 8 + 1) * BATCH] for i in range(n_batches)]
    start_count = count
    start = time.process_time()
    await client._read_batches(ScriptedSocket(batches), BATCH)  # the driver's batch loop
    while any(len(h.buffer) for h in handles):  # noqa: ASYNC110 - let the consumers drain
        await asyncio.sleep(0)
    cpu = time.process_time() - start
    delivered = count - start_count
    for task in tasks:
        task.cancel()
    await client.stop()
    return cpu / max(1, delivered)


def decode_only(rounds: int, conids: list[int]) -> float:
    ring = frames(BATCH * 8, conids, seed=7)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(10):
            for data in ring:
                decode(data)
        best = min(best, (time.process_time() - start) / (10 * len(ring)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=800, help="batches of 256 frames")
    parser.add_argument("--conids", type=int, default=1)
    args = parser.parse_args()
    conids = [FIRST_CONID + i for i in range(args.conids)]
    print(
        f"# ibstream pipeline benchmark {time.strftime('%Y-%m-%d')} {platform.machine()} "
        f"Python {platform.python_version()}: {args.batches} batches of {BATCH} smd frames, "
        f"{len(conids)} conid(s), best of {args.rounds}"
    )
    results: dict[str, float] = {}
    for mode in ("iter", "callback"):
        runs = [
            asyncio.run(one_round(mode, args.batches, conids)) * 1e6 for _ in range(args.rounds)
        ]
        results[mode] = min(runs)
        print(
            f"{'async iterator' if mode == 'iter' else 'callback':16} {min(runs):6.3f} us/frame "
            f"(median {statistics.median(runs):.3f})"
        )
    print(f"{'decode alone':16} {decode_only(args.rounds, conids) * 1e6:6.3f} us/frame")
    print(f"pipeline_us_per_frame: {results['iter']:.3f}")


if __name__ == "__main__":
    main()
