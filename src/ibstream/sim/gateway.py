"""The gateway model shared by REST and every socket (protocol.md §2, §3, §4.4-§4.5, §7).

Holds the session tiers (SSO login + brokerage authentication, §3.1), ids (§2.1 session,
§8.5 ``qN`` server ids), the market, the order book, the per-conid market tickers and the
gateway-wide background tasks (heartbeats §5.1, idle timeout §3.2). Per-socket behaviour lives in
:mod:`ibstream.sim.topics` and :mod:`ibstream.sim.ws`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from ibstream.exceptions import InvalidArgument
from ibstream.sim import frames
from ibstream.sim.clock import Clock, wall_ms
from ibstream.sim.config import SimConfig
from ibstream.sim.connection import Connection, Sub
from ibstream.sim.market import DEFAULT_FIELDS, Market
from ibstream.sim.orders import Order, OrderBook
from ibstream.sim.pacing import EndpointLimits
from ibstream.sim.universe import build_universe

__all__ = ["Gateway", "TickListener"]

log = logging.getLogger("ibstream.sim")


class TickListener(Protocol):
    """Something interested in one conid's market steps (an ``smd`` sub, a working order)."""

    def on_tick(self, changed: dict[str, Any], saturated: bool) -> None: ...


def new_session_id(rng: random.Random) -> str:
    """A 32-lowercase-hex ``/tickle`` session id (§2.1)."""
    return f"{rng.getrandbits(128):032x}"


class Gateway:
    """Shared simulated gateway state."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.clock = Clock(cfg.time_scale)
        self.rng = random.Random(cfg.seed)
        self.market = Market(
            cfg.instruments, cfg.seed, cfg.update_interval, cfg.market_state, cfg.delayed
        )
        # --- contracts universe and per-endpoint limits (issue 12) ---
        self.universe = build_universe(
            cfg.instruments if cfg.universe else (), datetime.date.today()
        )
        if cfg.universe:
            self.market.instruments.update(self.universe.instruments)
        self.limits = EndpointLimits(cfg.endpoint_limits)
        # --- end issue 12 ---
        self.book = OrderBook(
            first_order_id=900_000_000 + self.rng.randint(0, 9_999_999), commission=cfg.commission
        )
        # Session tiers (§3.1, §3.3)
        self.logged_in = True
        self.authenticated = True
        self.competing = False
        self.session_id = new_session_id(self.rng)
        self.ws_session = f"{self.rng.getrandbits(32):08x}.{self.rng.getrandbits(16):08x}"
        self.last_request = self.clock.now()
        # Ids (§8.5)
        self.next_md_id = 0
        self.next_hist_id = 341_115
        # Sockets
        self.connections: set[Connection] = set()
        # most sockets ever open at once (a failover test proves sessions never overlapped)
        self.peak_connections = 0
        self.received: dict[int, list[str]] = {}
        # Faults
        self.heartbeats = True
        self.answer_tic = True
        self.ignore: dict[str, int] = {}
        self.reject: dict[str, int] = {}
        self.md_expiry = cfg.md_expiry
        self.sor_muted = False
        self.preflighted: set[int] = set()
        # Tickers
        self._listeners: dict[int, set[TickListener]] = {}
        self._tickers: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seed_history()

    # --- tasks ---------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a tracked background task (cancelled on shutdown)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def start(self) -> None:
        """Start the gateway-wide background tasks."""
        self.spawn(self._heartbeat_loop())
        self.spawn(self._idle_loop())

    async def stop(self) -> None:
        """Cancel every background task."""
        tasks = list(self._tasks) + list(self._tickers.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t

    # --- session -------------------------------------------------------------------------

    def touch(self) -> None:
        """Any request resets the brokerage idle timer (§3.2) and the SSO countdown."""
        self.last_request = self.clock.now()

    def sso_expires_ms(self) -> int:
        """Milliseconds left on the SSO countdown (§2.1 ``ssoExpires``, §2.7 ``EXPIRES``)."""
        left = self.cfg.sso_lifetime - (self.clock.now() - self.last_request)
        return max(0, int(left * 1000))

    def auth_status(self) -> dict[str, Any]:
        """Current ``/iserver/auth/status`` body (§2.2)."""
        return frames.auth_status_body(
            self.cfg,
            logged_in=self.logged_in,
            authenticated=self.authenticated,
            competing=self.competing,
        )

    def sts(self, form: str | None = None) -> list[dict[str, Any]]:
        """Current ``sts`` frames (§5.3)."""
        return frames.sts_frames(
            self.cfg,
            authenticated=self.authenticated and self.logged_in,
            competing=self.competing,
            form=form,
        )

    def authed_connections(self) -> list[Connection]:
        """Sockets that received the opening burst."""
        return [c for c in self.connections if c.authed and not c.closed]

    def lose_auth(self, reason: str = "") -> None:
        """Brokerage session lost, socket left open (§8.10): push ``sts`` false, stop data.

        Every socket's subscriptions are discarded: after authentication comes back the client
        must subscribe again (IBind and our client replay subscriptions on re-authentication).
        Recovery is never announced.
        """
        was = self.authenticated
        self.authenticated = False
        if not was:
            return
        log.info("sim: brokerage authentication lost (%s)", reason or "fault")
        for conn in self.authed_connections():
            conn.clear_subs()
            for f in self.sts():
                conn.send(f)

    def restore_auth(self) -> None:
        """Brokerage session back, silently (no ``sts`` is pushed, §3.3)."""
        self.logged_in = True
        self.authenticated = True
        self.competing = False
        self.touch()

    async def competing_session(self, delay: float = 0.2) -> None:
        """Another login took over: ``competing:true`` then ``authenticated:false`` (§3.3)."""
        self.competing = True
        for conn in self.authed_connections():
            for f in self.sts():
                conn.send(f)
        await asyncio.sleep(delay)
        if self.competing:  # not reclaimed meanwhile (ssodh/init compete=true)
            self.lose_auth("competing session")

    def logout(self) -> None:
        """``/logout``: SSO gone; ``/tickle`` answers 401 from now on (§2.5, §3.3)."""
        self.lose_auth("logout")
        self.logged_in = False
        self.competing = False

    def login(self, new_session: bool = True) -> str:
        """A fresh login (new ``session`` id unless ``new_session`` is False)."""
        if new_session:
            self.session_id = new_session_id(self.rng)
        self.restore_auth()
        return self.session_id

    async def _idle_loop(self) -> None:
        """Time the brokerage session out after ``idle_timeout`` without requests (§3.2)."""
        while True:
            await asyncio.sleep(min(1.0, max(0.02, self.clock.real(1.0))))
            timeout = self.cfg.idle_timeout
            if timeout and self.authenticated and self.clock.now() - self.last_request > timeout:
                self.lose_auth("idle timeout")

    async def _heartbeat_loop(self) -> None:
        """``{"topic":"system","hb":ms}`` to every authenticated socket (§5.1)."""
        while True:
            await self.clock.sleep(self.cfg.heartbeat_interval)
            if not self.heartbeats:
                continue
            frame = {"topic": "system", "hb": wall_ms()}
            for conn in self.authed_connections():
                conn.send(frame)

    # --- ids -----------------------------------------------------------------------------

    def md_server_id(self) -> str:
        """Next ``qN`` id; increases across the gateway session and sockets (§8.5)."""
        sid = f"q{self.next_md_id}"
        self.next_md_id += 1
        return sid

    def open_md_sub(self, conn: Connection, conidex: str, conid: int, args: dict[str, Any]) -> Sub:
        """Register the ``smd+<conidex>`` subscription of ``conn``: the fields asked for (or the
        defaults) join those of the one it replaces, a new ``qN`` server id, the expiry."""
        key = f"md:{conidex}"
        old = conn.subs.get(key)
        requested = [str(f) for f in args.get("fields", []) or []]
        fields = (old.fields if old else []) + (requested or list(DEFAULT_FIELDS))
        sub = Sub(
            key=key,
            topic=f"smd+{conidex}",
            args={"conidEx": conidex},
            fields=list(dict.fromkeys(fields)),
            server_id=self.md_server_id(),
            conid=conid,
            created=self.clock.now(),
        )
        if self.md_expiry:
            sub.expires_at = sub.created + self.md_expiry
        return conn.add_sub(sub)

    def hist_server_id(self) -> str:
        """Next market-history ``serverId`` (numeric string, §4.2)."""
        self.next_hist_id += 1
        return str(self.next_hist_id)

    # --- subscription faults -------------------------------------------------------------

    def take_fault(self, message: str) -> str | None:
        """Consume an ``ignore``/``reject`` budget matching ``message`` (by topic prefix)."""
        for kind, table in (("ignore", self.ignore), ("reject", self.reject)):
            for prefix, left in list(table.items()):
                if left > 0 and message.startswith(prefix):
                    table[prefix] = left - 1
                    if table[prefix] == 0:
                        del table[prefix]
                    return kind
        return None

    # --- market tickers ------------------------------------------------------------------

    def watch(self, conid: int, listener: TickListener) -> None:
        """Register ``listener`` for steps of ``conid``; starts the ticker if needed."""
        self._listeners.setdefault(conid, set()).add(listener)
        task = self._tickers.get(conid)
        if task is None or task.done():
            self._tickers[conid] = asyncio.get_running_loop().create_task(self._ticker(conid))

    def unwatch(self, conid: int, listener: TickListener) -> None:
        """Unregister ``listener``; the ticker stops when nobody listens."""
        listeners = self._listeners.get(conid)
        if listeners is not None:
            listeners.discard(listener)

    async def _ticker(self, conid: int) -> None:
        while self._listeners.get(conid):
            interval = self.market.interval(conid)
            if interval <= 0:
                # Saturation: subscribers step the walk themselves; keep orders informed.
                await asyncio.sleep(0.02)
                for listener in list(self._listeners.get(conid, ())):
                    listener.on_tick({}, True)
                continue
            last = self.clock.now()
            # Sleep in short real-time slices so interval/slowdown/time-scale changes apply
            # promptly (a 1-hour interval can be shortened while the ticker waits).
            while (left := last + self.market.interval(conid) - self.clock.now()) > 0:
                if self.market.interval(conid) <= 0:
                    break
                await asyncio.sleep(min(self.clock.real(left), 0.1))
            if self.market.interval(conid) <= 0:
                continue
            changed = self.market.step(conid)
            for listener in list(self._listeners.get(conid, ())):
                listener.on_tick(changed, False)
        self._tickers.pop(conid, None)

    # --- orders (§4.4) and trades (§4.5) -------------------------------------------------

    def emit_orders(self, entries: list[dict[str, Any]]) -> None:
        """Push a ``sor`` frame to subscribed sockets (muted after filtered REST, §4.4)."""
        if self.sor_muted or not self.authenticated:
            return
        for conn in self.authed_connections():
            sub = conn.subs.get("or")
            if sub is None:
                continue
            wanted = [str(f).lower() for f in sub.args.get("filters", []) or []]
            args = entries
            if wanted:
                args = [
                    e
                    for e in entries
                    if str(self.book.orders[e["orderId"]].status).lower() in wanted
                ]
            if args:
                conn.send({"topic": "sor", "args": args})

    def emit_execution(self, entry_plain: dict[str, Any], entry_comm: dict[str, Any]) -> None:
        """Push one execution twice, second with commission (§8.8)."""
        if not self.authenticated:
            return
        for conn in self.authed_connections():
            if "tr" in conn.subs:
                conn.send({"topic": "str", "args": [entry_plain]})
                conn.send({"topic": "str", "args": [entry_comm]})

    def place_order(
        self,
        conid: int,
        side: str = "BUY",
        quantity: float = 1,
        order_type: str = "LMT",
        price: float | None = None,
        tif: str = "DAY",
        account: str | None = None,
    ) -> Order:
        """Create an order and start its life cycle (Inactive → … → Submitted → fills)."""
        if not self.market.known(conid):
            raise InvalidArgument("conid", f"unknown conid {conid}")
        side_u = side.upper()
        if side_u not in ("BUY", "SELL"):
            raise InvalidArgument("side", "BUY or SELL")
        otype = {"LIMIT": "LMT", "MARKET": "MKT", "STOP": "STP"}.get(
            order_type.upper(), order_type.upper()
        )
        if otype == "LMT" and price is None:
            raise InvalidArgument("price", "a limit order needs a price")
        order = Order(
            order_id=self.book.new_order_id(),
            account=account or self.cfg.account,
            instrument=self.market.instruments[conid],
            side="BUY" if side_u == "BUY" else "SELL",
            quantity=float(quantity),
            order_type=otype,
            price=price,
            tif=tif.upper(),
        )
        self.book.add(order)
        self.spawn(self._order_life(order))
        return order

    def cancel_order(self, order_id: int) -> Order:
        """Start the cancel sequence PendingCancel → Cancelled (§4.4 recorded)."""
        order = self.book.orders.get(order_id)
        if order is None:
            raise InvalidArgument("order_id", f"unknown order {order_id}")
        if order.active:
            self.spawn(self._cancel(order))
        return order

    async def _order_life(self, order: Order) -> None:
        step = 0.003
        self.emit_orders([order.full()])
        await asyncio.sleep(step)
        self.emit_orders([order.marker()])
        for status in ("PendingSubmit", "PreSubmitted", "Submitted"):
            await asyncio.sleep(step)
            if not order.active or order.status == "PendingCancel":
                return  # cancelled meanwhile: the cancel sequence owns the status now
            order.status = status
            if status == "Submitted":
                order.ccp_status = "Submitted"
            self.emit_orders([order.status_delta(with_bg=status != "PendingSubmit")])
        if order.order_type == "MKT":
            q = self.market.quote(order.instrument.conid)
            px = q.ask if order.side == "BUY" else q.bid
            self._fill_chunks(order, px, chunks=self.rng.randint(1, 3))
        else:
            self.watch(order.instrument.conid, _OrderWatcher(self, order))

    def _fill_chunks(
        self, order: Order, price: float, chunks: int, total: float | None = None
    ) -> None:
        """Fill ``total`` (default: all) of ``order`` in ``chunks`` pieces, one ``sor`` frame."""
        entries: list[dict[str, Any]] = []
        execs = []
        remaining = min(order.remaining, total) if total is not None else order.remaining
        for i in range(chunks):
            size = remaining if i == chunks - 1 else max(1.0, float(int(remaining / (chunks - i))))
            size = min(size, order.remaining)
            if size <= 0:
                break
            execs.append(self.book.fill(order, size, price, wall_ms()))
            entries.append(order.filled_entry() if not order.active else order.fill_delta())
        self.emit_orders(entries)
        for e in execs:
            self.emit_execution(e.entry(False), e.entry(True))

    async def _cancel(self, order: Order) -> None:
        order.status = "PendingCancel"
        self.emit_orders([order.full()])
        await asyncio.sleep(0.01)
        if order.status != "PendingCancel":
            return
        order.status = "Cancelled"
        order.ccp_status = "Cancelled"
        self.emit_orders([order.status_delta()])

    def _seed_history(self) -> None:
        """Executions already on the account at start (replayed by ``str``, §4.5)."""
        rng = random.Random(f"{self.cfg.seed}:history")
        insts = [i for i in self.cfg.instruments if i.sec_type == "STK"] or list(
            self.cfg.instruments
        )
        base = int(time.time() * 1000) - 3 * 3600 * 1000
        for n in range(self.cfg.historic_executions):
            inst = rng.choice(insts)
            order = Order(
                order_id=self.book.new_order_id(),
                account=self.cfg.account,
                instrument=inst,
                side="BUY",
                quantity=float(rng.randint(1, 10)),
                order_type="LMT",
                price=inst.price,
                tif="DAY",
            )
            self.book.fill(order, order.quantity, inst.price, base + n * 60_000)

    def prices(self) -> dict[int, tuple[float, float]]:
        """``conid -> (last, multiplier)`` of every held position (for P&L)."""
        return {
            c: (self.market.quote(c).last, self.market.instruments[c].multiplier)
            for c in self.book.positions
        }


class _OrderWatcher:
    """Fills a working limit order when the walk crosses its price (§4.4 partial fills)."""

    def __init__(self, gw: Gateway, order: Order) -> None:
        self.gw = gw
        self.order = order

    def on_tick(self, changed: dict[str, Any], saturated: bool) -> None:
        order = self.order
        if not order.active or order.status == "PendingCancel":
            if not order.active:
                self.gw.unwatch(order.instrument.conid, self)
            return
        q = self.gw.market.quote(order.instrument.conid)
        limit = order.price if order.price is not None else 0.0
        crossed = q.ask <= limit if order.side == "BUY" else q.bid >= limit
        if not crossed:
            return
        px = min(limit, q.ask) if order.side == "BUY" else max(limit, q.bid)
        total = order.remaining if order.remaining <= 1 else float(int(order.remaining + 1) // 2)
        self.gw._fill_chunks(order, px, 1, total)
        if not order.active:
            self.gw.unwatch(order.instrument.conid, self)
