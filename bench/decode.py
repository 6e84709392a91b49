"""Decode benchmark: typed ``decode()`` vs bare stdlib ``json.loads`` on the same frames.

Usage: ``python bench/decode.py [--frames N] [--rounds R]``

Builds a realistic, deterministic mix of gateway frames (shapes from protocol.md):
~85 % ``smd`` deltas with 2-4 fields, ~5 % first ``smd`` frames with ~10 fields, ~4 % heartbeats,
~4 % ``sor`` order deltas, ~2 % ``str``/``spl``/``sld``. Decodes the mix with both functions in
the same run (best of R rounds each), prints frames/s for both and ends with the line
``decode_vs_json_loads: <ratio>`` (decode frames/s divided by json.loads frames/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# IBSTREAM_SRC: another tree to measure (bench/compiled.py passes a compiled copy)
sys.path.insert(
    0, os.environ.get("IBSTREAM_SRC") or str(Path(__file__).resolve().parent.parent / "src")
)

from ibstream.protocol.decoding import decode

CONIDS = [265598, 8314, 272093, 76792991, 4815747, 107113386, 9579970, 15124833, 3691937, 756733]


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


# Prices follow a random walk in cents per contract (as real quotes do: they hover around a
# level, so the same price strings recur); sizes are round lots; volume grows.
_MID: dict[int, int] = {}
_VOLUME: dict[int, float] = {}


def _price(rng: random.Random, conid: int) -> str:
    cents = _MID.setdefault(conid, rng.randint(1_000, 90_000))
    cents = max(100, cents + rng.randint(-3, 3))
    _MID[conid] = cents
    return f"{cents / 100:.2f}"


def _size(rng: random.Random) -> str:
    return f"{rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 50, 100, 200, 1300, 3500]):,}"


def _volume(rng: random.Random, conid: int) -> str:
    millions = _VOLUME.get(conid, rng.uniform(0.2, 40.0)) + rng.choice([0.0, 0.0, 0.1])
    _VOLUME[conid] = millions
    return f"{millions:.1f}M" if millions >= 1 else f"{millions * 1000:.0f}K"


def _smd_delta(rng: random.Random, now: int) -> str:
    conid = rng.choice(CONIDS)
    frame: dict[str, Any] = {
        "server_id": "q1",
        "conidEx": str(conid),
        "conid": conid,
        "_updated": now,
        "6119": "q1",
    }
    for fid in rng.sample(["31", "84", "86", "85", "88", "7059", "83", "87"], rng.randint(2, 4)):
        if fid in ("85", "88", "7059"):
            frame[fid] = _size(rng)
        elif fid == "83":
            frame[fid] = round(rng.uniform(-3, 3), 2)
        elif fid == "87":
            frame[fid] = _volume(rng, conid)
        else:
            frame[fid] = _price(rng, conid)
    frame["topic"] = f"smd+{conid}"
    return _dumps(frame)


def _smd_first(rng: random.Random, now: int) -> str:
    conid = rng.choice(CONIDS)
    return _dumps(
        {
            "6509": "DPB",
            "conidEx": str(conid),
            "topic": f"smd+{conid}",
            "conid": conid,
            "_updated": now,
            "6119": "q1",
            "83": 0.56,
            "server_id": "q1",
            "84": _price(rng, conid),
            "31": rng.choice(["", "C"]) + _price(rng, conid),
            "86": _price(rng, conid),
            "85": _size(rng),
            "88": _size(rng),
            "87": _volume(rng, conid),
            "7059": _size(rng),
            "55": "AAPL",
            "70": _price(rng, conid),
            "71": _price(rng, conid),
        }
    )


def _heartbeat(rng: random.Random, now: int) -> str:
    return _dumps({"topic": "system", "hb": now})


def _sor(rng: random.Random, now: int) -> str:
    order_id = rng.randint(900000000, 999999999)
    entry = rng.choice(
        [
            {"acct": "U25235077", "orderId": order_id, "status": "PreSubmitted",
             "bgColor": "#FFFFFF", "fgColor": "#997EE5"},
            {"acct": "DU1234", "orderId": order_id, "sizeAndFills": "100/622",
             "remainingQuantity": 622.0, "filledQuantity": 100.0, "avgPrice": "382.45"},
            {"acct": "U25235077", "orderId": order_id, "status": "Submitted",
             "order_ccp_status": "Submitted", "bgColor": "#000000", "fgColor": "#00F000"},
        ]
    )  # fmt: skip
    return _dumps({"topic": "sor", "args": [entry]})


def _other(rng: random.Random, now: int) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return _dumps(
            {
                "topic": "str",
                "args": [
                    {
                        "execution_id": f"0001390e.69f21453.01.{rng.randint(1, 99):02d}",
                        "symbol": "LRCX", "side": "B", "trade_time_r": now, "size": 2.0,
                        "price": "248.60", "exchange": "NASDAQ", "commission": "1.0",
                        "net_amount": 497.2, "account": "U25235077", "conid": 732440574,
                        "order_id": 96335105,
                    }
                ],
            }
        )  # fmt: skip
    if kind == 1:
        return _dumps(
            {"topic": "spl", "args": {"DU1234.Core": {"rowType": 1, "dpl": -57.5, "upl": 972.1}}}
        )
    return _dumps(
        {
            "result": [
                {"acctCode": "DU1234567", "cashbalance": 2.0201311791131118e8,
                 "key": "LedgerListBASE", "exchangeRate": 1.0, "secondKey": "BASE",
                 "severity": 0, "timestamp": now // 1000},
                {"key": "LedgerListUSD", "timestamp": now // 1000},
            ],
            "topic": "sld+DU1234567",
        }
    )  # fmt: skip


MIX: list[tuple[float, Callable[[random.Random, int], str]]] = [
    (0.85, _smd_delta),
    (0.05, _smd_first),
    (0.04, _heartbeat),
    (0.04, _sor),
    (0.02, _other),
]


def build_frames(count: int, seed: int = 2026) -> list[str]:
    rng = random.Random(seed)
    weights = [w for w, _ in MIX]
    makers = [m for _, m in MIX]
    now = 1777552110061
    frames = []
    for _ in range(count):
        now += rng.randint(1, 50)
        frames.append(rng.choices(makers, weights)[0](rng, now))
    return frames


def best_rate(func: Callable[[str], object], frames: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in frames:
            func(frame)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    frames = build_frames(args.frames)
    # sanity: every frame decodes to typed events, none malformed or unknown
    kinds: dict[str, int] = {}
    for frame in frames:
        for event in decode(frame):
            kinds[type(event).__name__] = kinds.get(type(event).__name__, 0) + 1
    assert "Malformed" not in kinds and "Unknown" not in kinds, kinds

    avg_len = sum(map(len, frames)) / len(frames)
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"frames: {len(frames)} (avg {avg_len:.0f} chars), rounds: {args.rounds} (best kept)")
    print("events: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))

    # interleave the two measurements so machine noise hits both alike
    json_rate = decode_rate = 0.0
    for _ in range(2):
        json_rate = max(json_rate, best_rate(json.loads, frames, (args.rounds + 1) // 2))
        decode_rate = max(decode_rate, best_rate(decode, frames, (args.rounds + 1) // 2))
    for name, rate in (("json.loads (dicts)", json_rate), ("decode (typed events)", decode_rate)):
        print(f"{name:24} {rate:12,.0f} frames/s  {1e6 / rate:6.2f} us/frame")
    print(f"decode_vs_json_loads: {decode_rate / json_rate:.2f}")


if __name__ == "__main__":
    main()
