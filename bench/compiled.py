"""Compiled vs pure-Python builds of the hot path, side by side (issue 19).

Run: ``python bench/compiled.py [--modules M,...] [--skip-stream]`` (needs Cython and a C
compiler: ``pip install cython``; about two minutes). See docs/benchmarks.md.

Copies ``src/ibstream`` to a temporary directory, compiles the hot-path modules there with
Cython in pure-Python mode (the modules as they are: same source, no ``.pxd`` files, the
annotations as Cython reads them), and runs the same benchmarks on the pure-Python tree and
on the compiled tree, alternating:

* ``bench/decode.py``: typed decode against ``json.loads`` on the realistic mix, in one
  process per build (``decode_vs_json_loads`` of each);
* ``bench/stream.py --quick --only picows,iter,callback --no-memory``: the async iterator and
  the callback path against the bare picows+orjson loop of the same run.

Ends with ``compiled_vs_pure_decode: <ratio>`` (decode frames/s, compiled / pure) and
``compiled_vs_pure_iter_cpu: <ratio>`` (the async iterator's CPU per frame, compiled / pure;
below 1 means the compiled build is cheaper). Nothing here is installed or left behind.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

# the modules every market-data frame passes through, in the order it meets them
HOT = (
    "protocol/decoding.py",
    "protocol/connection.py",
    "protocol/subscriptions.py",
    "aio/router.py",
    "state/ticker.py",
    "conflating.py",
)

_SETUP = """
import sys
from Cython.Build import cythonize
from setuptools import setup

setup(
    ext_modules=cythonize(sys.argv[1:], language_level=3, quiet=True),
    script_args=["build_ext", "--inplace", "-q"],
)
"""


def python(
    args: list[str], what: str, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> str:
    """Run this Python on ``args``; its output, or exit with what it printed."""
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def build(tree: Path, modules: list[str]) -> float:
    """Copy the package to ``tree`` and compile ``modules`` in place; returns seconds taken."""
    shutil.copytree(SRC / "ibstream", tree / "ibstream")
    (tree / "_setup.py").write_text(_SETUP)
    start = time.perf_counter()
    python(["_setup.py", *(f"ibstream/{m}" for m in modules)], "compiling", cwd=tree)
    built = sorted(p.name for p in (tree / "ibstream").rglob("*.so"))
    if len(built) != len(modules):
        sys.exit(f"expected {len(modules)} compiled modules, found {built}")
    return time.perf_counter() - start


def run(script: str, args: list[str], src: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(src), IBSTREAM_SRC=str(src))
    return python([str(HERE / script), *args], f"{script} on {src}", env=env)


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        sys.exit(f"no match for {pattern!r} in:\n{text[-2000:]}")
    return float(found.group(1).replace(",", ""))


def decode_figures(out: str) -> dict[str, float]:
    return {
        "decode_us": number(r"^decode \(typed events\)\s+[\d,]+ frames/s\s+([\d.]+) us", out),
        "decode_vs_json": number(r"^decode_vs_json_loads: ([\d.]+)", out),
    }


def stream_figures(out: str) -> dict[str, float]:
    row = r"\s+([\d,]+)\s+([\d.]+)"
    fig: dict[str, float] = {}
    for key, label in (("iter", "ibstream async iterator"), ("callback", "ibstream callback")):
        found = re.search(rf"^{re.escape(label)}{row}", out, re.MULTILINE)
        if found is None:
            sys.exit(f"no {label!r} row in:\n{out[-2000:]}")
        fig[f"{key}_fps"] = float(found.group(1).replace(",", ""))
        fig[f"{key}_cpu"] = float(found.group(2))
    fig["tput_vs_raw"] = number(r"^throughput_vs_fastest_raw: ([\d.]+)", out)
    fig["cpu_vs_raw"] = number(r"^cpu_per_frame_vs_fastest_raw: ([\d.]+)", out)
    return fig


def median(runs: list[dict[str, float]], key: str) -> float:
    """The median of the runs: a best-of would keep one noisy run's ratio."""
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", default=",".join(HOT), help="modules under src/ibstream")
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs per build")
    ap.add_argument("--skip-stream", action="store_true", help="the decode benchmark only")
    args = ap.parse_args()
    if importlib.util.find_spec("Cython") is None:
        sys.exit("Cython is not installed: pip install cython")
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    for m in modules:
        if not (SRC / "ibstream" / m).is_file():
            sys.exit(f"no module src/ibstream/{m}")

    with tempfile.TemporaryDirectory(prefix="ibstream-compiled-") as tmp:
        tree = Path(tmp)
        seconds = build(tree, modules)
        print(f"# compiled {len(modules)} modules with Cython {version('Cython')} "
              f"in {seconds:.0f} s: {', '.join(modules)}")  # fmt: skip
        builds = {"pure": SRC, "compiled": tree}
        decode: dict[str, list[dict[str, float]]] = {b: [] for b in builds}
        stream: dict[str, list[dict[str, float]]] = {b: [] for b in builds}
        for _ in range(args.rounds):
            for name, src in builds.items():
                decode[name].append(decode_figures(run("decode.py", ["--rounds", "5"], src)))
                if not args.skip_stream:
                    out = run(
                        "stream.py",
                        ["--quick", "--only", "picows,iter,callback", "--no-memory"],
                        src,
                    )
                    stream[name].append(stream_figures(out))
                print(f"  {name} done", file=sys.stderr)

    print(f"{'build':10} {'decode us':>10} {'vs json':>8}", end="")
    if not args.skip_stream:
        print(f" {'iter f/s':>10} {'iter CPU':>9} {'cb f/s':>10} {'cb CPU':>8} "
              f"{'tput/raw':>9} {'cpu/raw':>8}", end="")  # fmt: skip
    print()
    for name in builds:
        d = decode[name]
        line = f"{name:10} {median(d, 'decode_us'):>10.2f} {median(d, 'decode_vs_json'):>8.2f}"
        if not args.skip_stream:
            s = stream[name]
            line += (
                f" {median(s, 'iter_fps'):>10,.0f} {median(s, 'iter_cpu'):>9.3f}"
                f" {median(s, 'callback_fps'):>10,.0f} {median(s, 'callback_cpu'):>8.3f}"
                f" {median(s, 'tput_vs_raw'):>9.2f} {median(s, 'cpu_vs_raw'):>8.2f}"
            )
        print(line)
    print("(median of the runs; CPU: seconds per 100k frames; /raw: against bare picows+orjson)")
    ratio = median(decode["compiled"], "decode_vs_json") / median(decode["pure"], "decode_vs_json")
    print(f"compiled_vs_pure_decode: {ratio:.2f}")
    if not args.skip_stream:
        cpu = median(stream["compiled"], "cpu_vs_raw") / median(stream["pure"], "cpu_vs_raw")
        print(f"compiled_vs_pure_iter_cpu: {cpu:.2f}")


if __name__ == "__main__":
    main()
