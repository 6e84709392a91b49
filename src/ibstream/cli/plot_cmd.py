"""``ibstream plot FILE``: a PNG chart of one recorded instrument: last, bid and ask over time
(top) and the bid/ask spread (bottom); with ``--bars 1min`` (or 5s, 1h, 1000v, 100t)
candlesticks built from the recorded ticks instead, gaps marked.

Market-data frames are deltas: they are merged into a ticker exactly as the live client does,
and the merged quote is sampled at each frame. Needs matplotlib (``pip install
'ibstream[plot]'``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ibstream.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, help_text
from ibstream.cli.replay_cmd import replay_events
from ibstream.protocol.events import MarketData
from ibstream.state import Ticker

__all__ = ["Series", "load_series", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``plot`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "plot",
        help="draw a PNG chart of a recorded instrument's prices and spread",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="a recording made by 'ibstream record'")
    p.add_argument(
        "--conid", type=int, metavar="C", help="instrument (default: the first one recorded)"
    )
    p.add_argument(
        "--bars",
        metavar="SIZE",
        help="candlesticks of bars built from the ticks: 5s, 1min, 1h (time), 1000v, 100t",
    )
    p.add_argument(
        "-o", "--output", metavar="PNG", help="output file (default: FILE-CONID.png beside FILE)"
    )
    p.set_defaults(func=run)


@dataclass
class Series:
    """Time series of one instrument, sampled at each market-data frame."""

    conid: int
    symbol: str | None = None
    t: list[float] = field(default_factory=list)
    last: list[float | None] = field(default_factory=list)
    bid: list[float | None] = field(default_factory=list)
    ask: list[float | None] = field(default_factory=list)

    @property
    def spread(self) -> list[float | None]:
        return [
            a - b if a is not None and b is not None else None
            for a, b in zip(self.ask, self.bid, strict=True)
        ]


def load_series(path: str) -> dict[int, Series]:
    """Every instrument's series in a recording, in order of first appearance."""
    tickers: dict[int, Ticker] = {}
    out: dict[int, Series] = {}
    try:
        for item in replay_events(path):
            ev = item.event
            if not isinstance(ev, MarketData):
                continue
            ticker = tickers.setdefault(ev.conid, Ticker(ev.conid))
            ticker.apply(ev)
            series = out.setdefault(ev.conid, Series(ev.conid))
            series.symbol = ticker.symbol or series.symbol
            if ticker.last is None and ticker.bid is None and ticker.ask is None:
                continue
            series.t.append(item.t)
            series.last.append(ticker.last)
            series.bid.append(ticker.bid)
            series.ask.append(ticker.ask)
    except ValueError as exc:
        raise CliError(f"{path}: {str(exc).removeprefix('file: ')}", EXIT_USAGE) from exc
    except (OSError, EOFError) as exc:
        raise CliError(f"{path}: unreadable recording ({exc})", EXIT_USAGE) from exc
    return {conid: s for conid, s in out.items() if s.t}


def _default_output(path: str, conid: int) -> Path:
    p = Path(path)
    name = p.name
    for suffix in (".gz", ".jsonl", ".json", ".ndjson", ".log", ".parquet"):
        name = name.removesuffix(suffix)
    return p.with_name(f"{name}-{conid}.png")


def _plot_bars(args: argparse.Namespace, conid: int, symbol: str | None) -> int:
    from ibstream._deps import DependencyError
    from ibstream.bars import bars_from_recording
    from ibstream.exceptions import InvalidArgument
    from ibstream.plot import plot_bars

    try:
        bars = bars_from_recording(args.file, conid, args.bars)
    except InvalidArgument as exc:
        raise CliError(f"--bars: {str(exc).removeprefix('bar: ')}", EXIT_USAGE) from exc
    if not bars:
        raise CliError(f"{args.file}: no trades of conid {conid} to build bars from", EXIT_USAGE)
    output = Path(args.output) if args.output else _default_output(args.file, conid)
    title = f"{symbol or 'conid'} {conid} — {len(bars)} bars of {args.bars}"
    try:
        import matplotlib.pyplot as plt

        fig = plot_bars(bars, title=title, path=output)
        plt.close(fig)
    except DependencyError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from exc
    except OSError as exc:
        raise CliError(f"cannot write {str(output)!r}: {exc.strerror or exc}", EXIT_USAGE) from exc
    gaps = sum(1 for b in bars if b.gap)
    print(f"wrote {output} ({len(bars)} bars, {gaps} spanning a gap, conid {conid})")
    return 0


def _plot(args: argparse.Namespace) -> int:
    all_series = load_series(args.file)
    if not all_series:
        raise CliError(f"{args.file}: no market data in this recording", EXIT_USAGE)
    conid = args.conid if args.conid is not None else next(iter(all_series))
    series = all_series.get(conid)
    if series is None:
        known = ", ".join(
            f"{c}" + (f" ({s.symbol})" if s.symbol else "") for c, s in all_series.items()
        )
        raise CliError(f"{args.file}: no market data for conid {conid}; recorded: {known}", 2)
    if args.bars:
        return _plot_bars(args, conid, series.symbol)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise CliError(
            "plotting needs matplotlib: pip install 'ibstream[plot]' (or pip install matplotlib)",
            EXIT_FAILURE,
        ) from exc
    output = Path(args.output) if args.output else _default_output(args.file, conid)

    times = [dt.datetime.fromtimestamp(t) for t in series.t]
    fig, (ax_price, ax_spread) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    title = f"{series.symbol or 'conid'} {conid}" if series.symbol else f"conid {conid}"
    fig.suptitle(f"{title} — {len(times)} updates, {Path(args.file).name}")

    def points(values: list[float | None]) -> tuple[list[dt.datetime], list[float]]:
        xs = [x for x, v in zip(times, values, strict=True) if v is not None]
        ys = [v for v in values if v is not None]
        return xs, ys

    for values, label, style in (
        (series.bid, "bid", {"color": "tab:green", "linewidth": 0.9, "alpha": 0.8}),
        (series.ask, "ask", {"color": "tab:red", "linewidth": 0.9, "alpha": 0.8}),
        (series.last, "last", {"color": "black", "linewidth": 1.4}),
    ):
        xs, ys = points(values)
        if ys:
            ax_price.step(xs, ys, where="post", label=label, **style)
    ax_price.set_ylabel("price")
    ax_price.legend(loc="upper left")
    ax_price.grid(True, alpha=0.3)
    xs, ys = points(series.spread)
    if ys:
        ax_spread.step(xs, ys, where="post", color="tab:blue", linewidth=1.0)
        ax_spread.fill_between(xs, ys, step="post", alpha=0.2, color="tab:blue")
    ax_spread.set_ylabel("spread")
    ax_spread.set_xlabel("time")
    ax_spread.grid(True, alpha=0.3)
    formatter = mdates.DateFormatter("%H:%M:%S")  # type: ignore[no-untyped-call]
    ax_spread.xaxis.set_major_formatter(formatter)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(output, dpi=100)
    except OSError as exc:
        raise CliError(f"cannot write {str(output)!r}: {exc.strerror or exc}", EXIT_USAGE) from exc
    finally:
        plt.close(fig)
    print(f"wrote {output} ({len(times)} points, conid {conid})")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream plot``."""
    return _plot(args)
