"""Recording -> Arrow -> Parquet: events/s and file size against gzip JSON lines.

``python bench/data.py [--events N]`` (default 1,000,000) builds a recording of N ``smd`` frames
(a realistic random walk over 10 contracts, 2-6 changed fields per frame, as the simulator sends
them), writes it both as gzip JSON lines and as a Parquet frame recording, then times:

* ``frames -> parquet``: the Parquet frame recorder (what ``ibstream record --format parquet``
  does) from in-memory frames;
* ``decode -> arrow``: reading the Parquet recording, decoding every frame and building the
  typed market-data table (``ibstream.data.recording_market_data``);
* ``arrow -> parquet``: writing that table as a columnar Parquet file (zstd).

It prints events/s for each step and the sizes, with the ratio to the gzip JSON-lines file.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pyarrow.parquet as pq

from ibstream.aio.recorder import FrameRecorder, ParquetFrameRecorder
from ibstream.data import recording_market_data

CONIDS = [265598, 272093, 8314, 76792991, 4815747, 12087792, 107113386, 15124833, 9599491, 6223250]


def frames(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    price = {c: 50 + 400 * rng.random() for c in CONIDS}
    out: list[bytes] = []
    t_ms = 1_764_400_000_000
    for i in range(n):
        c = CONIDS[i % len(CONIDS)]
        price[c] = max(0.01, price[c] + rng.gauss(0, 0.02))
        p = price[c]
        t_ms += rng.randint(0, 3)
        frame: dict[str, object] = {
            "server_id": f"q{CONIDS.index(c)}",
            "conid": c,
            "_updated": t_ms,
            "topic": f"smd+{c}",
        }
        frame["31"] = f"{p:.2f}"
        frame["84"] = f"{p - 0.01:.2f}"
        if rng.random() < 0.7:
            frame["86"] = f"{p + 0.01:.2f}"
        if rng.random() < 0.5:
            frame["88"] = str(rng.randint(1, 30))
            frame["85"] = str(rng.randint(1, 30))
        if rng.random() < 0.4:
            frame["7059"] = str(rng.randint(1, 500))
        out.append(orjson.dumps(frame))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    data = frames(args.events)
    t0 = 1_764_400_000.0
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "rec.jsonl.gz"
        with FrameRecorder(jsonl) as rec:
            for i, d in enumerate(data):
                rec("in", d, t0 + i * 1e-4, False)
        raw_parquet = Path(tmp) / "rec.parquet"
        start = time.perf_counter()
        with ParquetFrameRecorder(raw_parquet) as prec:
            for i, d in enumerate(data):
                prec("in", d, t0 + i * 1e-4, False)
        t_record = time.perf_counter() - start
        start = time.perf_counter()
        table = recording_market_data(raw_parquet)
        t_arrow = time.perf_counter() - start
        columnar = Path(tmp) / "md.parquet"
        start = time.perf_counter()
        pq.write_table(table, columnar, compression="zstd")
        t_write = time.perf_counter() - start
        n = table.num_rows
        sizes = {p.name: os.path.getsize(p) for p in (jsonl, raw_parquet, columnar)}
    gz = sizes["rec.jsonl.gz"]
    print(f"events: {n:,} market-data events ({len(data):,} frames)")
    print(f"frames -> parquet (record):  {len(data) / t_record:>12,.0f} frames/s")
    print(f"decode -> arrow table:       {n / t_arrow:>12,.0f} events/s")
    print(f"arrow  -> parquet (zstd):    {n / t_write:>12,.0f} events/s")
    print(f"size gzip JSON lines:        {gz / 1e6:>10.1f} MB")
    print(
        f"size parquet frames (raw):   {sizes['rec.parquet'] / 1e6:>10.1f} MB  "
        f"({sizes['rec.parquet'] / gz:.2f}x gzip jsonl)"
    )
    print(
        f"size parquet columns:        {sizes['md.parquet'] / 1e6:>10.1f} MB  "
        f"({sizes['md.parquet'] / gz:.2f}x gzip jsonl)"
    )
    print(f"arrow_events_per_s: {n / t_arrow:.0f}")
    print(f"parquet_columns_vs_gzip_jsonl: {sizes['md.parquet'] / gz:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
