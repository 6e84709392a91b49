"""How fast can a typed decode be? The floor under ``decode()``, measured (issue 19).

Run: ``python bench/floor.py [--frames N] [--rounds R] [--no-cython]`` (about a minute; the
Cython row needs Cython and a C compiler and is skipped without them).

Issue 19 asks for a decode at >= 1.5x ``json.loads``. This script measures, on the ``smd``
delta frames of ``bench/decode.py``'s mix (the hot path: 85 % of a busy socket), what any
decoder that yields today's :class:`~ibstream.protocol.events.MarketData` has to pay, step by
step, every variant as a loop over the same frames in one process:

* ``json.loads`` (the goal's yardstick) and ``orjson.loads`` alone;
* ``floor``: ``orjson.loads`` plus the allocations the typed event needs and nothing else: its
  ``values`` dict built in C from precomputed (field id, value) pairs, the event tuple and the
  one-element list; no lookup, no parsing. No decoder of this event shape can be cheaper;
* ``interpreted``: the floor plus the least Python a real decoder runs per key: skip the meta
  keys, look the key up in the field table, take the parsed value from the warm value cache.
  Inlined in the loop (no call per frame), so it is the pure-Python ceiling;
* ``decode()``: the library's decoder, one call per frame;
* ``typed Cython``: the interpreted loop compiled with C types (``dict`` iteration by
  ``PyDict_Next``, typed tuples), a module written for this measurement only.

Ends with ``floor_vs_json_loads``, ``interpreted_vs_json_loads``,
``decode_vs_json_loads_deltas`` and, when Cython is there, ``typed_cython_vs_json_loads``:
each is json.loads' time per frame divided by the variant's (higher is faster).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(
    0, os.environ.get("IBSTREAM_SRC") or str(Path(__file__).resolve().parent.parent / "src")
)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from decode import build_frames

from ibstream.protocol import decoding
from ibstream.protocol.events import MarketData

_Loop = Callable[[list[str], list[Any]], None]

_PYX = """
# cython: language_level=3, boundscheck=False, wraparound=False
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject

def run(list frames, object loads, dict md_keys, dict table, frozenset meta, object md):
    cdef object new = tuple.__new__
    cdef dict msg, values
    cdef tuple entry, cached
    cdef Py_ssize_t pos
    cdef PyObject* k
    cdef PyObject* v
    for data in frames:
        msg = loads(data)
        cached = md_keys[msg["topic"]]
        conid = msg["conid"]; updated = msg["_updated"]; server_id = msg["server_id"]
        values = {}
        pos = 0
        while PyDict_Next(msg, &pos, &k, &v):
            if <object>k in meta:
                continue
            entry = table[<object>k]
            values[entry[0]] = entry[2][<object>v]
        [new(md, (cached[0], cached[1], server_id, updated, values, msg))]
"""

_SETUP = """
import sys
from Cython.Build import cythonize
from setuptools import setup

setup(
    ext_modules=cythonize([sys.argv[1]], quiet=True),
    script_args=["build_ext", "--inplace", "-q"],
)
"""


def _cython_loop(workdir: Path) -> _Loop | None:
    """Compile the typed loop in ``workdir``; ``None`` when Cython or a compiler is missing."""
    if importlib.util.find_spec("Cython") is None:
        return None
    (workdir / "floor_typed.pyx").write_text(_PYX)
    (workdir / "setup_floor.py").write_text(_SETUP)
    done = subprocess.run(
        [sys.executable, "setup_floor.py", "floor_typed.pyx"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"typed Cython: not built ({done.stderr.strip().splitlines()[-1:]})")
        return None
    sys.path.insert(0, str(workdir))
    module = importlib.import_module("floor_typed")
    run = module.run
    args = (
        orjson.loads,
        decoding._MD_KEYS,
        decoding._MD_TABLE,
        decoding._MD_META,
        MarketData,
    )
    return lambda frames, aux: run(frames, *args)


def _loops() -> dict[str, _Loop]:
    loads = orjson.loads
    json_loads = json.loads
    decode = decoding.decode
    md_keys, table, meta = decoding._MD_KEYS, decoding._MD_TABLE, decoding._MD_META
    new, md = tuple.__new__, MarketData

    def json_loop(frames: list[str], aux: list[Any]) -> None:
        for data in frames:
            json_loads(data)

    def orjson_loop(frames: list[str], aux: list[Any]) -> None:
        for data in frames:
            loads(data)

    def floor_loop(frames: list[str], aux: list[Any]) -> None:
        for data, pairs in zip(frames, aux, strict=True):
            msg = loads(data)
            [new(md, (None, 0, None, None, dict(pairs), msg))]

    def interpreted_loop(frames: list[str], aux: list[Any]) -> None:
        for data in frames:
            msg = loads(data)
            cached = md_keys[msg["topic"]]
            conid, updated, server_id = msg["conid"], msg["_updated"], msg["server_id"]
            values = {}
            for k, v in msg.items():
                if k in meta:
                    continue
                entry = table[k]
                values[entry[0]] = entry[2][v]
            [new(md, (cached[0], conid, server_id, updated, values, msg))]

    def decode_loop(frames: list[str], aux: list[Any]) -> None:
        for data in frames:
            decode(data)

    return {
        "json.loads": json_loop,
        "orjson.loads": orjson_loop,
        "floor": floor_loop,
        "interpreted": interpreted_loop,
        "decode()": decode_loop,
    }


def _best(loop: _Loop, frames: list[str], aux: list[Any], rounds: int) -> float:
    """Best time per frame in microseconds over ``rounds`` runs."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        loop(frames, aux)
        best = min(best, time.perf_counter() - start)
    return best / len(frames) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-cython", action="store_true", help="skip the typed Cython row")
    args = parser.parse_args()

    # the smd deltas of the mix (first frames carry 6509 and come first in their dict)
    frames = [f for f in build_frames(args.frames) if f.startswith('{"server_id"')]
    for frame in frames:  # warm: topics cached, value caches filled, as on a live socket
        events = decoding.decode(frame)
        assert len(events) == 1 and type(events[0]) is MarketData, events
    table, meta = decoding._MD_TABLE, decoding._MD_META
    aux = [  # the parsed (field id, value) pairs of each frame
        [(table[k][0], table[k][2][v]) for k, v in orjson.loads(f).items() if k not in meta]
        for f in frames
    ]
    loops = _loops()
    with tempfile.TemporaryDirectory(prefix="ibstream-floor-") as tmp:
        typed = None if args.no_cython else _cython_loop(Path(tmp))
        if typed is not None:
            loops["typed Cython"] = typed
        # interleave the variants so machine noise hits all alike
        times = dict.fromkeys(loops, float("inf"))
        for _ in range(2):
            for name, loop in loops.items():
                times[name] = min(times[name], _best(loop, frames, aux, (args.rounds + 1) // 2))

    yardstick = times["json.loads"]
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"smd delta frames: {len(frames)}, rounds: {args.rounds} (best kept)")
    for name, us in times.items():
        print(f"{name:14} {us:6.2f} us/frame   {yardstick / us:5.2f}x json.loads")
    print(f"floor_vs_json_loads: {yardstick / times['floor']:.2f}")
    print(f"interpreted_vs_json_loads: {yardstick / times['interpreted']:.2f}")
    print(f"decode_vs_json_loads_deltas: {yardstick / times['decode()']:.2f}")
    if "typed Cython" in times:
        print(f"typed_cython_vs_json_loads: {yardstick / times['typed Cython']:.2f}")


if __name__ == "__main__":
    main()
