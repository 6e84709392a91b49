"""The live market view shared by ``ibstream demo`` and ``ibstream watch``.

Renders from the client's live state (tickers, order book, P&L, metrics) at a fixed refresh rate:
a rich ``Live`` table on a terminal, or plain periodic lines when stdout is not a terminal (logs,
CI, pipes). The view never touches the socket: it only reads state the client keeps current.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ibstream.aio.client import StreamClient

__all__ = ["MarketView", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """A one-line chart of ``values`` with block characters."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        return _BLOCKS[3] * len(values)
    scale = (len(_BLOCKS) - 1) / (hi - lo)
    return "".join(_BLOCKS[int((v - lo) * scale)] for v in values)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _fmt_size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, div in (("M", 1e6), ("K", 1e3)):
        if abs(value) >= div:
            return f"{value / div:.1f}{unit}"
    return f"{value:g}"


@dataclass
class MarketView:
    """State of the view: price history per conid for sparklines and the frame-rate estimate."""

    client: StreamClient
    conids: list[int]
    history: int = 40
    _prices: dict[int, deque[float]] = field(default_factory=dict)
    _last_frames: int = 0
    _last_time: float = field(default_factory=time.monotonic)
    _rate: float = 0.0

    def sample(self) -> None:
        """Record the latest prices and the frame rate; call once per refresh."""
        for conid in self.conids:
            ticker = self.client.tickers.get(conid)
            price = ticker.last if ticker is not None else None
            if price is not None:
                self._prices.setdefault(conid, deque(maxlen=self.history)).append(price)
        now = time.monotonic()
        frames = self.client.metrics()["frames"]
        dt = now - self._last_time
        if dt > 0:
            self._rate = (frames - self._last_frames) / dt
        self._last_frames, self._last_time = frames, now

    def status_line(self) -> str:
        m = self.client.metrics()
        subs = m["subscriptions"]
        active = sum(1 for s in subs.values() if s == "ACTIVE")
        return (
            f"state={m['state']} subs={active}/{len(subs)} frames={m['frames']} "
            f"rate={self._rate:,.0f}/s reconnects={m['reconnects']} gaps={m['gaps']} "
            f"auth_losses={m['auth_losses']} decode_errors={m['decode_errors']}"
        )

    def ticker_rows(self) -> list[dict[str, Any]]:
        now_ms = time.time() * 1000.0
        rows = []
        for conid in self.conids:
            t = self.client.tickers.get(conid)
            if t is None:
                rows.append({"conid": conid, "symbol": "…"})
                continue
            age = (now_ms - t.updated_ms) / 1000.0 if t.updated_ms else None
            rows.append(
                {
                    "conid": conid,
                    "symbol": t.symbol or str(conid),
                    "last": t.last,
                    "bid": t.bid,
                    "bid_size": t.bid_size,
                    "ask": t.ask,
                    "ask_size": t.ask_size,
                    "change": t.change,
                    "change_percent": t.change_percent,
                    "volume": t.volume,
                    "age": age,
                    "closed": t.closed,
                    "halted": t.halted,
                    "spark": sparkline(list(self._prices.get(conid, ()))),
                }
            )
        return rows

    def plain_lines(self) -> list[str]:
        """The view as plain text lines (non-terminal output)."""
        lines = [time.strftime("%H:%M:%S ") + self.status_line()]
        for r in self.ticker_rows():
            if "last" not in r:
                lines.append(f"  {r['symbol']:<6} {r['conid']:>10} waiting for data")
                continue
            lines.append(
                f"  {r['symbol']:<6} last={_fmt(r['last'])} "
                f"bid={_fmt(r['bid'])}x{_fmt_size(r['bid_size'])} "
                f"ask={_fmt(r['ask'])}x{_fmt_size(r['ask_size'])} "
                f"chg={_fmt(r['change'])} ({_fmt(r['change_percent'])}%) "
                f"vol={_fmt_size(r['volume'])}"
            )
        orders = self.client.orders.open_orders()
        if orders:
            lines.append(f"  open orders: {len(orders)}")
        for pnl in self._pnl_rows():
            lines.append(f"  P&L {pnl[0]}: daily={pnl[1]} unrealized={pnl[2]}")
        return lines

    def _pnl_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for row, pnl in sorted(self.client.account.pnl.items()):
            rows.append((row, _fmt(pnl.daily_pnl), _fmt(pnl.unrealized_pnl)))
        return rows

    def render(self) -> Group:
        """The rich renderable for a terminal."""
        table = Table(title="ibstream — live market", expand=True, title_justify="left")
        for name, justify in (
            ("Symbol", "left"),
            ("Last", "right"),
            ("Bid", "right"),
            ("Ask", "right"),
            ("Chg", "right"),
            ("Chg %", "right"),
            ("Volume", "right"),
            ("Age", "right"),
            ("Trend", "left"),
        ):
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for r in self.ticker_rows():
            if "last" not in r:
                table.add_row(str(r["symbol"]), "…", "", "", "", "", "", "", "")
                continue
            chg = r["change"] or 0.0
            style = "green" if chg > 0 else "red" if chg < 0 else ""
            flag = " H" if r["halted"] else " C" if r["closed"] else ""
            table.add_row(
                f"{r['symbol']}{flag}",
                Text(_fmt(r["last"]), style=style),
                f"{_fmt(r['bid'])} x {_fmt_size(r['bid_size'])}",
                f"{_fmt(r['ask'])} x {_fmt_size(r['ask_size'])}",
                Text(_fmt(r["change"]), style=style),
                Text(_fmt(r["change_percent"]), style=style),
                _fmt_size(r["volume"]),
                "-" if r["age"] is None else f"{r['age']:.1f}s",
                Text(r["spark"], style="cyan"),
            )
        parts: list[Any] = [table]
        orders = self.client.orders.open_orders()
        recent = sorted(self.client.orders.orders(), key=lambda o: o.order_id)[-6:]
        if recent:
            ot = Table(title=f"Orders ({len(orders)} open)", expand=True, title_justify="left")
            for col in ("Id", "Side", "Symbol", "Qty", "Filled", "Price", "Status"):
                ot.add_column(col, no_wrap=True)
            for o in recent:
                ot.add_row(
                    str(o.order_id),
                    o.side or "",
                    o.symbol or str(o.conid or ""),
                    _fmt(o.total_size, 0),
                    _fmt(o.filled, 0),
                    _fmt(o.price),
                    o.status or "",
                )
            parts.append(ot)
        pnl = self._pnl_rows()
        if pnl:
            parts.append(
                Text("P&L  " + "   ".join(f"{r}: daily {d} unrealized {u}" for r, d, u in pnl))
            )
        parts.append(Text(self.status_line(), style="dim"))
        return Group(*parts)
