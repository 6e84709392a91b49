"""Candlestick charts of bars, gaps marked (the ``plot`` extra: matplotlib).

The same function draws for ``ibstream plot FILE --bars 1min`` and in a notebook::

    from ibstream.bars import bars_from_recording
    from ibstream.plot import plot_bars

    fig = plot_bars(bars_from_recording("day.parquet", 265598, "1min"), title="AAPL")
    fig.savefig("aapl.png")          # or display(fig) in Jupyter

Rising bars are green, falling red; a bar that a ``Gap`` spans (trades may be missing) is drawn
hatched in grey and its span shaded, so a gap is never mistaken for a quiet market; the forming
bar (``complete=False``) is drawn hollow. Volume is a panel below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ibstream._deps import DependencyError
from ibstream.state.bars import OHLCV

__all__ = ["plot_bars"]


def _pyplot() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in (
            "agg",
            "module://matplotlib_inline.backend_inline",
        ):
            try:
                import IPython  # noqa: F401  # a notebook keeps its own backend
            except ImportError:
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise DependencyError(
            "plotting needs matplotlib: pip install 'ibstream[plot]' (or pip install matplotlib)"
        ) from exc
    return plt


def plot_bars(
    bars: Sequence[OHLCV],
    *,
    title: str | None = None,
    path: str | Path | None = None,
    volume: bool = True,
) -> Any:
    """A matplotlib ``Figure`` of ``bars`` as candlesticks (written to ``path`` when given)."""
    if not bars:
        raise ValueError("no bars to plot")
    plt = _pyplot()
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch, Rectangle

    def when(ms: int) -> float:
        return float(mdates.date2num(dt.datetime.fromtimestamp(ms / 1000, dt.UTC)))  # type: ignore[no-untyped-call]

    rows = 2 if volume else 1
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(11, 6.5 if volume else 5),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1][:rows]},
    )
    ax, ax_vol = axes[0][0], axes[1][0] if volume else None
    widths = [max(b.end_ms - b.start_ms, 1) for b in bars]
    typical = sorted(widths)[len(widths) // 2]
    for b in bars:
        x0 = when(b.start_ms)
        span = (b.end_ms - b.start_ms) if b.end_ms > b.start_ms else typical
        width = (when(b.start_ms + span) - x0) * 0.8
        mid = x0 + width / 2 / 0.8
        colour = "tab:green" if b.close >= b.open else "tab:red"
        if b.gap:
            colour = "0.5"
            ax.axvspan(x0, x0 + width / 0.8, color="0.85", zorder=0)
        ax.vlines(mid, b.low, b.high, color=colour, linewidth=1)
        body = Rectangle(
            (mid - width / 2, min(b.open, b.close)),
            width,
            max(abs(b.close - b.open), 1e-12),
            facecolor="none" if not b.complete else colour,
            edgecolor=colour,
            hatch="///" if b.gap else None,
        )
        ax.add_patch(body)
        if ax_vol is not None:
            ax_vol.bar(mid, b.volume, width=width, color=colour, alpha=0.6)
    ax.autoscale_view()
    ax.set_ylabel("price")
    ax.grid(True, alpha=0.3)
    gaps = sum(1 for b in bars if b.gap)
    ax.legend(
        handles=[
            Patch(color="tab:green", label="up"),
            Patch(color="tab:red", label="down"),
            Patch(facecolor="0.85", edgecolor="0.5", hatch="///", label=f"gap ({gaps})"),
        ],
        loc="upper left",
    )
    bottom = ax_vol if ax_vol is not None else ax
    if ax_vol is not None:
        ax_vol.set_ylabel("volume")
        ax_vol.grid(True, alpha=0.3)
    bottom.xaxis_date(tz=dt.UTC)
    formatter = mdates.DateFormatter("%H:%M:%S", tz=dt.UTC)  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_formatter(formatter)
    bottom.set_xlabel("time (UTC)")
    fig.suptitle(title or f"conid {bars[0].conid}: {len(bars)} bars")
    fig.autofmt_xdate()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
