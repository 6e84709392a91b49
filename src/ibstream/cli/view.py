"""The live market view shared by ``ibstream demo`` and ``ibstream watch``.

Renders from the client's live state (tickers, order book, P&L, metrics) at a fixed refresh rate:
a rich ``Live`` table on a terminal, or plain periodic lines (one block per second) when stdout is
not a terminal (logs, CI, pipes). The view never touches the socket: it only reads state the
client keeps current. Prices show with the decimals of the instrument's price increment (the
contract rules, looked up in the background once per conid by
:class:`~ibstream.aio.decimals.PriceDecimals`: 5 for EUR.USD's 0.00005, 2 for a stock's 0.01);
until it is known, or when it cannot be, the view infers them (4 under 10, else 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ibstream.aio.client import StreamClient
from ibstream.aio.decimals import PriceDecimals
from ibstream.cli.connect import check_client
from ibstream.exceptions import IBStreamError
from ibstream.masking import mask_account
from ibstream.protocol.events import AuthStatus
from ibstream.protocol.lifecycle import SessionState
from ibstream.state import Order, Ticker

__all__ = ["MarketView", "run_view", "sparkline", "start_positions"]

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


def _fmt_signed(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:+,.{digits}f}"


def _fmt_size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, div in (("M", 1e6), ("K", 1e3)):
        if abs(value) >= div:
            return f"{value / div:.1f}{unit}"
    return f"{value:g}"


def _digits(price: float | None) -> int:
    return 4 if price is not None and abs(price) < 10 else 2


@dataclass
class MarketView:
    """State of the view: price history per conid for sparklines and the frame-rate estimate."""

    client: StreamClient
    conids: list[int]
    names: Mapping[int, str] = field(default_factory=dict)
    title: str = "ibstream — live market"
    history: int = 30
    #: mask account ids (``--mask``, e.g. when sharing the screen); a user's own terminal shows
    #: them in full by default, since specs like ``summary:ACCT`` need them
    mask: bool = False
    #: rows of the orders table: every open order first (newest first), then the newest done
    order_rows: int = 10
    #: display decimals per conid from the price increments (``None``: the client's contracts)
    price_decimals: PriceDecimals | None = None
    _prices: dict[int, deque[float]] = field(default_factory=dict)
    _last_frames: int = 0
    _last_time: float = field(default_factory=time.monotonic)
    _rate: float = 0.0
    _auth: str = "?"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.client.on(AuthStatus, self._on_auth)
        if self.price_decimals is None:
            self.price_decimals = PriceDecimals(self.client.contracts)

    def digits(self, conid: int | None, price: float | None) -> int:
        """The decimals of ``conid``'s prices: its increment's when known, else inferred."""
        inferred = _digits(price)
        if conid is None or self.price_decimals is None:
            return inferred
        return self.price_decimals.decimals(conid, price, inferred)

    def _on_auth(self, ev: AuthStatus) -> None:
        if ev.authenticated is not None:
            self._auth = "yes" if ev.authenticated else "NO"
        if ev.competing:
            self._auth = "COMPETING"

    # -- sampling ---------------------------------------------------------------------------

    def sample(self) -> None:
        """Record the latest prices and the frame rate; call about once a second."""
        for conid in self.conids:
            ticker = self.client.tickers.get(conid)
            price = ticker.last if ticker is not None else None
            if price is not None:
                self._prices.setdefault(conid, deque(maxlen=self.history)).append(price)
        now = time.monotonic()
        frames = int(self.client.metrics()["frames"])
        dt = now - self._last_time
        if dt > 0:
            self._rate = (frames - self._last_frames) / dt
        self._last_frames, self._last_time = frames, now

    # -- content ----------------------------------------------------------------------------

    def status_line(self) -> str:
        m = self.client.metrics()
        subs: dict[str, str] = m["subscriptions"]
        active = sum(1 for s in subs.values() if s == "ACTIVE")
        elapsed = time.monotonic() - self._started
        auth = self._auth
        if auth == "?" and self.client.state is SessionState.AUTHENTICATED:
            auth = "yes"
        return (
            f"conn={m['state'].lower()} auth={auth} subs={active}/{len(subs)} "
            f"frames={m['frames']} rate={self._rate:,.0f}/s reconnects={m['reconnects']} "
            f"gaps={m['gaps']} errors={m['decode_errors']} up={elapsed:.0f}s"
        )

    def _symbol(self, conid: int, ticker: Ticker | None) -> str:
        if ticker is not None and ticker.symbol:
            return ticker.symbol
        return self.names.get(conid, str(conid))

    def ticker_rows(self) -> list[dict[str, Any]]:
        now_ms = time.time() * 1000.0
        rows: list[dict[str, Any]] = []
        for conid in self.conids:
            t = self.client.tickers.get(conid)
            if t is None or (t.last is None and t.bid is None):
                rows.append({"conid": conid, "symbol": self._symbol(conid, t)})
                continue
            age = max(0.0, (now_ms - t.updated_ms) / 1000.0) if t.updated_ms else None
            rows.append(
                {
                    "conid": conid,
                    "symbol": self._symbol(conid, t),
                    "digits": self.digits(conid, t.last if t.last is not None else t.bid),
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

    def _orders(self) -> tuple[int, list[Order]]:
        """Open orders first (newest first, all of them, so none drops out of view), then the
        newest finished ones while rows remain."""
        book = self.client.orders
        newest_first = sorted(book.orders(), key=lambda o: o.order_id, reverse=True)
        open_ = [o for o in newest_first if o.is_open]
        done = [o for o in newest_first if not o.is_open]
        return len(open_), open_ + done[: max(self.order_rows - len(open_), 0)]

    def _account(self, account: str) -> str:
        return mask_account(account) if self.mask else account

    def _pnl_rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for _, pnl in sorted(self.client.account.pnl.items()):
            rows.append(
                (
                    self._account(pnl.account),
                    _fmt_signed(pnl.daily_pnl),
                    _fmt_signed(pnl.unrealized_pnl),
                    _fmt(pnl.net_liquidity),
                )
            )
        return rows

    def _position_rows(self) -> list[tuple[str, str, str, str, str]]:
        """Positions kept by ``client.positions`` (once started), largest value first."""
        positions = sorted(self.client.positions.all(), key=lambda p: -abs(p.market_value or 0.0))[
            :8
        ]
        return [
            (
                p.description or p.symbol or str(p.conid),
                _fmt_signed(p.quantity, 0),
                _fmt(p.avg_price, self.digits(p.conid, p.avg_price)),
                _fmt(p.market_value),
                _fmt_signed(p.unrealized_pnl),
            )
            for p in positions
        ]

    def plain_lines(self) -> list[str]:
        """The view as plain text lines (non-terminal output)."""
        lines = [time.strftime("%H:%M:%S ") + self.status_line()]
        encoding = (getattr(sys.stdout, "encoding", None) or "").lower()
        blocks_ok = "utf" in encoding
        for r in self.ticker_rows():
            if "last" not in r:
                lines.append(f"  {r['symbol']:<6} {r['conid']:>10} waiting for data")
                continue
            d = r["digits"]
            flag = " HALTED" if r["halted"] else " CLOSED" if r["closed"] else ""
            age = "-" if r["age"] is None else f"{r['age']:.1f}s"
            lines.append(
                f"  {r['symbol']:<6} last={_fmt(r['last'], d)} "
                f"bid={_fmt(r['bid'], d)}x{_fmt_size(r['bid_size'])} "
                f"ask={_fmt(r['ask'], d)}x{_fmt_size(r['ask_size'])} "
                f"chg={_fmt_signed(r['change'], d)} ({_fmt_signed(r['change_percent'])}%) "
                f"vol={_fmt_size(r['volume'])} age={age}"
                + (f" {r['spark']}" if blocks_ok else "")
                + flag
            )
        open_count, recent = self._orders()
        if recent:
            last = max(recent, key=lambda o: o.order_id)
            lines.append(
                f"  orders: {open_count} open, {len(self.client.orders)} total; last "
                f"#{last.order_id} {last.side or ''} {_fmt(last.total_size, 0)} "
                f"{last.symbol or last.conid or ''} {last.status or ''}"
            )
        for acct, daily, unrealized, netliq in self._pnl_rows():
            lines.append(f"  P&L {acct}: daily={daily} unrealized={unrealized} netliq={netliq}")
        for name, qty, avg, value, upl in self._position_rows():
            lines.append(f"  position {name}: {qty} avg={avg} value={value} upl={upl}")
        return lines

    def render(self) -> Group:
        """The rich renderable for a terminal."""
        table = Table(title=self.title, title_justify="left")
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
            d = r["digits"]
            chg = r["change"] or 0.0
            style = "green" if chg > 0 else "red" if chg < 0 else ""
            flag = " H" if r["halted"] else " C" if r["closed"] else ""
            table.add_row(
                f"{r['symbol']}{flag}",
                Text(_fmt(r["last"], d), style=f"bold {style}"),
                f"{_fmt(r['bid'], d)} x {_fmt_size(r['bid_size'])}",
                f"{_fmt(r['ask'], d)} x {_fmt_size(r['ask_size'])}",
                Text(_fmt_signed(r["change"], d), style=style),
                Text(_fmt_signed(r["change_percent"]) + "%", style=style),
                _fmt_size(r["volume"]),
                "-" if r["age"] is None else f"{r['age']:.1f}s",
                Text(r["spark"], style="cyan"),
            )
        parts: list[Any] = [table]
        open_count, recent = self._orders()
        if recent:
            ot = Table(
                title=f"Orders ({open_count} open, {len(self.client.orders)} total)",
                title_justify="left",
            )
            for col in ("Id", "Side", "Symbol", "Type", "Qty", "Filled", "Price", "Avg", "Status"):
                ot.add_column(col, no_wrap=True)
            for o in recent:
                side_style = "green" if o.side == "BUY" else "red" if o.side == "SELL" else ""
                ot.add_row(
                    str(o.order_id),
                    Text(o.side or "", style=side_style),
                    o.symbol or str(o.conid or ""),
                    o.order_type or "",
                    _fmt(o.total_size, 0),
                    _fmt(o.filled, 0),
                    _fmt(o.price),
                    _fmt(o.avg_price),
                    str(o.status or ""),
                )
            parts.append(ot)
        pnl = self._pnl_rows()
        if pnl:
            pt = Table(title="P&L", title_justify="left")
            for col in ("Account", "Daily", "Unrealized", "Net liquidity"):
                pt.add_column(col, justify="left" if col == "Account" else "right")
            for acct, daily, unrealized, netliq in pnl:
                pt.add_row(
                    acct,
                    Text(daily, style="green" if daily.startswith("+") else "red"),
                    Text(unrealized, style="green" if unrealized.startswith("+") else "red"),
                    netliq,
                )
            parts.append(pt)
        positions = self._position_rows()
        if positions:
            post = Table(title="Positions", expand=True, title_justify="left")
            for col in ("Contract", "Qty", "Avg", "Value", "Unrealized"):
                post.add_column(col, justify="left" if col == "Contract" else "right")
            for name, qty, avg, value, upl in positions:
                style = "green" if upl.startswith("+") else "red" if upl.startswith("-") else ""
                post.add_row(name, qty, avg, value, Text(upl, style=style))
            parts.append(post)
        parts.append(Text(self.status_line() + "   Ctrl-C to quit", style="dim"))
        return Group(*parts)


async def run_view(
    view: MarketView,
    stop: asyncio.Event,
    *,
    duration: float | None,
    plain: bool,
    console: Console | None = None,
) -> None:
    """Show ``view`` until ``stop`` is set or ``duration`` seconds passed.

    ``plain``: print a block of lines every second (for pipes and logs); otherwise a rich
    ``Live`` display refreshed four times a second.
    """
    try:
        await _run_view(view, stop, duration=duration, plain=plain, console=console)
    finally:
        if view.price_decimals is not None:
            await view.price_decimals.close()


async def _run_view(
    view: MarketView,
    stop: asyncio.Event,
    *,
    duration: float | None,
    plain: bool,
    console: Console | None,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration

    async def wait(seconds: float) -> bool:
        """Sleep up to ``seconds``; True when it is time to end."""
        left = seconds if deadline is None else min(seconds, deadline - loop.time())
        if left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), left)
        return stop.is_set() or (deadline is not None and loop.time() >= deadline)

    if plain:
        while True:
            done = await wait(1.0)
            check_client(view.client)
            view.sample()
            print("\n".join(view.plain_lines()), flush=True)
            if done:
                return
    console = console or Console()
    next_sample = loop.time() + 1.0
    with Live(view.render(), console=console, auto_refresh=False, transient=False) as live:
        while True:
            done = await wait(0.25)
            check_client(view.client)
            if loop.time() >= next_sample:
                view.sample()
                next_sample += 1.0
            live.update(view.render(), refresh=True)
            if done:
                break


async def start_positions(client: StreamClient) -> None:
    """Start live positions for the view; a failure leaves the panel empty (logged), never
    ends the view."""
    try:
        await client.positions.start()
    except IBStreamError as exc:
        logging.getLogger("ibstream.cli").warning("positions unavailable: %s", exc)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
