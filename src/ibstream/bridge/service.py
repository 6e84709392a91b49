"""``Bridge``: one IBKR session published to NATS JetStream and/or Redis Streams, with standbys.

A product on top of the asyncio client's public API (``connect``, ``on``, ``subscribe``,
``rest``). The run loop of every bridge process:

1. **standby**: try to take the leader lease (on the first bus: NATS KV or Redis ``SET NX PX``)
   every ``standby_poll`` s. A standby never connects to the gateway, so two bridges never hold
   IBKR sessions at once; it already listens to demand leases, so it knows what to subscribe;
2. **leader**: open the gateway session, subscribe the baseline streams (orders, trades, P&L)
   and every stream consumers hold a demand lease on, reconcile orders through REST (a fill that
   happened while nobody led is published now), and publish every event: encoded once, a dedupe
   id derived from it, the fencing token, to every bus. Orders, trades, account and lifecycle
   events are retried until stored; market data is conflated per stream while the publisher is
   behind (``conflated`` counts it). Live state is written every ``flush_interval`` s;
3. the lease is renewed every ``renew_every`` s. When it cannot be renewed before
   ``ttl - margin`` has passed since the last successful request, the leader stops publishing at
   once (every publish checks the lease), closes its gateway session and becomes a standby.

See docs/scaling-out.md for the deployment picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ibstream.aio.cancel import cancel_and_wait
from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.subscription import Subscription
from ibstream.bridge.core import DemandTable, LeaderLease, StateMirror
from ibstream.bridge.positions import publish_positions
from ibstream.exceptions import IBStreamError, InvalidArgument
from ibstream.protocol.events import Heartbeat, MarketData, OrderUpdate, TicReply
from ibstream.protocol.specs import OrdersSpec, PnlSpec, Spec, StreamKey, Topic, TradesSpec
from ibstream.remote.bus import Bus, Fenced, Retention
from ibstream.remote.codec import event_from_dict
from ibstream.remote.factory import open_bus
from ibstream.remote.wire import (
    StateEntry,
    message_id,
    spec_from_json,
)
from ibstream.serialize import event_to_json
from ibstream.state import OrderBook

__all__ = ["Bridge", "BridgeConfig", "bridge_config"]

log = logging.getLogger("ibstream.bridge")

_SKIP = (Heartbeat, TicReply)  # session keep-alive chatter: not published
_BEST_EFFORT = frozenset({Topic.MARKET_DATA, Topic.MARKET_HISTORY, Topic.PRICE_LADDER})
_ORDERS_KEY = OrdersSpec().key


def _default_node() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, kw_only=True)
class BridgeConfig:
    """Settings of one bridge process."""

    url: str = "https://localhost:5000/v1/api"
    verify: bool = True
    cacert: str | None = None
    #: Bus URLs (``nats://...``, ``redis://...``); the first one holds the leader lease.
    buses: tuple[str, ...] = ()
    prefix: str = "ibs"
    node: str = field(default_factory=_default_node)
    #: Leader lease: time to live, renewal period, standby polling, safety margin (seconds).
    lease_ttl: float = 3.0
    renew_every: float = 1.0
    standby_poll: float = 0.25
    margin: float = 0.5
    #: Streams held upstream whatever the demand.
    baseline: tuple[Spec, ...] = (OrdersSpec(), TradesSpec(), PnlSpec())
    #: Live state written at most this often (seconds); market-data state less often.
    flush_interval: float = 0.1
    md_state_interval: float = 1.0
    #: Market data publishes in flight (NATS pipelines them); how long an ack may take.
    max_inflight: int = 256
    publish_timeout: float = 5.0
    #: Longest demand lease a consumer may ask for (seconds).
    max_demand_ttl: float = 60.0
    retention: Retention = field(default_factory=Retention)
    client: ClientConfig = field(default_factory=ClientConfig)

    def check(self) -> None:
        if not self.buses:
            raise InvalidArgument("buses", "give at least one of --nats URL / --redis URL")
        if not 0 < self.renew_every < self.lease_ttl - self.margin:
            raise InvalidArgument("renew_every", "must be > 0 and < lease_ttl - margin")
        if self.margin <= 0 or self.standby_poll <= 0:
            raise InvalidArgument("margin", "margin and standby_poll must be > 0")
        for name in ("flush_interval", "md_state_interval", "publish_timeout", "max_demand_ttl"):
            if not getattr(self, name) > 0:
                raise InvalidArgument(name, f"must be > 0 seconds, got {getattr(self, name)!r}")
        if self.max_inflight < 1:
            raise InvalidArgument("max_inflight", f"must be >= 1, got {self.max_inflight!r}")


class Bridge:
    """One bridge process (see the module docstring). ``await bridge.run(stop)``."""

    def __init__(self, config: BridgeConfig) -> None:
        config.check()
        self.config = config
        ordered = sorted(config.buses, key=lambda u: not u.startswith("nats"))
        self.buses: list[Bus] = [
            open_bus(u, prefix=config.prefix, retention=config.retention) for u in ordered
        ]
        self.lease = LeaderLease(ttl=config.lease_ttl, margin=config.margin)
        self.demand = DemandTable()
        self.mirror = StateMirror()
        self.counts: Counter[str] = Counter()
        self.client: StreamClient | None = None
        self.terms = 0  # leader terms held by this process
        self._queue: deque[Any] = deque()  # events, or the StreamKey of a pending md slot
        self._pending_md: dict[StreamKey, MarketData] = {}
        # pipelined market-data publishes: (event, bus index, future of the bus's ack)
        self._inflight: deque[tuple[Any, int, asyncio.Future[Any]]] = deque()
        self._seeded: set[StreamKey] = set()
        self._held: dict[StreamKey, Subscription[Any]] = {}
        self._wake = asyncio.Event()
        self._serial = 0

    def __repr__(self) -> str:
        role = f"leader token={self.lease.token}" if self.lease.token else "standby"
        return f"<Bridge {self.config.node} {role}>"

    def metrics(self) -> dict[str, Any]:
        return {
            "node": self.config.node,
            "leader": self.lease.token is not None,
            "token": self.lease.token,
            "terms": self.terms,
            "queue": len(self._queue),
            "demand": {str(k): self.demand.consumers(k) for k in self.demand.wanted()},
            **dict(self.counts),
        }

    # -- the run loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by, lead when elected, until ``stop`` is set."""
        for bus in self.buses:
            await bus.start()
            await bus.provision()
        listeners = [asyncio.create_task(self._listen_demand(b)) for b in self.buses]
        try:
            while not stop.is_set():
                token = await self._stand_by(stop)
                if token is None:
                    break
                await self._lead(token, stop)
        finally:
            await cancel_and_wait(listeners)
            for bus in self.buses:
                await bus.close()

    async def _stand_by(self, stop: asyncio.Event) -> int | None:
        cfg = self.config
        elector = self.buses[0]
        while not stop.is_set():
            sent = time.monotonic()
            try:
                token = await asyncio.wait_for(elector.acquire(cfg.node, cfg.lease_ttl), cfg.margin)
            except (OSError, TimeoutError, IBStreamError, Exception) as exc:  # bus unreachable
                log.warning("lease: acquire failed: %s", exc)
                token = None
            if token is not None:
                self.lease.granted(token, sent)
                return token
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), cfg.standby_poll)
        return None

    async def _lead(self, token: int, stop: asyncio.Event) -> None:
        cfg = self.config
        self.terms += 1
        self._seeded.clear()
        self.mirror = StateMirror()
        print(f"bridge: leader token={token} node={cfg.node}", flush=True)
        log.info("leader with token %d", token)
        client = StreamClient(cfg.url, verify=cfg.verify, cacert=cfg.cacert, config=cfg.client)
        self.client = client
        # the lease is kept from the first moment: starting the session may take a while
        keeper = asyncio.create_task(self._keep_lease(stop), name="bridge-lease")
        tasks: list[asyncio.Task[Any]] = [keeper]
        remove = client.on(None, self._on_event)
        try:
            starting = asyncio.create_task(client.start(), name="bridge-start")
            tasks.append(starting)
            await asyncio.wait([keeper, starting], return_when=asyncio.FIRST_COMPLETED)
            if keeper.done():
                return  # lost the lease (or asked to stop) before the session was up
            await starting
            for spec in cfg.baseline:
                self._held[spec.key] = client.subscribe(spec, buffer=False)
            tasks += [
                asyncio.create_task(self._publisher(), name="bridge-publish"),
                asyncio.create_task(self._flusher(), name="bridge-state"),
                asyncio.create_task(self._follow_demand(), name="bridge-demand"),
                asyncio.create_task(self._reconcile_orders(), name="bridge-reconcile"),
                asyncio.create_task(
                    publish_positions(client.positions, self.mirror, self._seed, self._on_event),
                    name="bridge-positions",
                ),
            ]
            watch = asyncio.create_task(self._watch_session(client), name="bridge-session")
            tasks.append(watch)
            await asyncio.wait([keeper, watch], return_when=asyncio.FIRST_COMPLETED)
        except Exception as exc:  # the session could not start: give standbys their chance
            log.error("leader term ended: %s", exc)
            self.counts["session_failures"] += 1
        finally:
            remove()
            lost = not stop.is_set()
            self.lease.lost()  # publishing stops here, whatever else is still running
            self._wake.set()  # the publisher sees the term is over
            await cancel_and_wait(tasks)
            self._held.clear()
            self._queue.clear()
            self._pending_md.clear()
            self._inflight.clear()
            await client.stop()  # the gateway session ends before any standby may lead
            self.client = None
            # releasing a lease another bridge holds is a no-op (both buses compare the holder)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.buses[0].release(cfg.node, token), 1.0)
            print(
                f"bridge: standby node={cfg.node} (lease {'lost' if lost else 'released'})",
                flush=True,
            )

    async def _watch_session(self, client: StreamClient) -> None:
        """Return when the session failed for good (the term ends, the lease is released)."""
        # the client reports a fatal error through its ``error`` property only: poll it
        while client.error is None:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        self.counts["session_failures"] += 1
        log.error("gateway session failed: %s; stepping down", client.error)

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        """Renew the lease; return (ending the term) when it is lost or ``stop`` is set."""
        cfg = self.config
        elector = self.buses[0]
        token = self.lease.token
        assert token is not None
        while not stop.is_set():
            now = time.monotonic()
            if not self.lease.valid(now):
                self.counts["lease_lost"] += 1
                self.lease.lost()  # no publish from here on, even before the term is torn down
                log.error("lease expired before it could be renewed: stepping down")
                return
            wait = min(cfg.renew_every, self.lease.valid_until - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, wait))
            if stop.is_set() or not self.lease.valid(time.monotonic()):
                continue
            sent = time.monotonic()
            try:
                left = max(0.01, self.lease.valid_until - sent)
                ok = await asyncio.wait_for(elector.renew(cfg.node, token, cfg.lease_ttl), left)
            except Exception as exc:
                log.warning("lease: renew failed: %s", exc)
                continue  # retried until valid_until
            if not ok:
                self.counts["lease_lost"] += 1
                self.lease.lost()  # at once: the publisher must not slip one more message in
                log.error("lease taken by another bridge: stepping down")
                return
            self.lease.renewed(sent)

    # -- events in ---------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        cls = event.__class__
        if cls is MarketData:
            key = event.key
            pending = self._pending_md.get(key)
            if pending is not None:
                self._pending_md[key] = event._replace(
                    values={**pending.values, **event.values}, raw={**pending.raw, **event.raw}
                )
                self.counts["conflated"] += 1
                return
            self._pending_md[key] = event
            self._queue.append(key)
        elif isinstance(event, _SKIP):
            return
        else:
            self._queue.append(event)
        self._wake.set()

    # -- publishing ----------------------------------------------------------------------------

    async def _publisher(self) -> None:
        while self.lease.token is not None:  # until the term ends
            if not self._queue:
                await self._settle()
                if self._queue:
                    continue
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._queue.popleft()
            event = self._pending_md.pop(item) if isinstance(item, StreamKey) else item
            if not isinstance(item, StreamKey):
                await self._settle()  # a reliable event waits for the market data before it
            await self._publish(event)

    async def _settle(self, keep: int = 0) -> None:
        """Wait for pipelined market-data publishes, oldest first, until ``keep`` are left."""
        inflight = self._inflight
        while len(inflight) > keep:
            event, index, future = inflight.popleft()
            try:
                ack = await asyncio.wait_for(future, self.config.publish_timeout)
            except Exception as exc:
                self.counts["md_dropped"] += 1
                log.debug("market data not stored: %s", exc)
                continue
            pos, dup = self.buses[index].ack_result(ack)  # type: ignore[attr-defined]
            self.counts["duplicates" if dup else "published"] += 1
            if not dup:
                self.mirror.applied(event, index, pos)

    async def _publish(self, event: Any) -> bool:
        key: StreamKey | None = getattr(event, "key", None)
        token = self.lease.token
        if token is None or not self.lease.valid(time.monotonic()):
            self.counts["not_leader"] += 1
            return False
        if key is not None and key not in self._seeded:
            await self._seed(key)
        body = event_to_json(event)
        self._serial += 1
        msg_id = message_id(event, body, token, self._serial)  # kept by every retry below
        reliable = key is None or key.topic not in _BEST_EFFORT
        for index, bus in enumerate(self.buses):
            delay = 0.05
            while True:
                if self.lease.token != token or not self.lease.valid(time.monotonic()):
                    self.counts["not_leader"] += 1
                    return False  # stop at once: the next leader reconciles
                sent_ms = int(time.time() * 1000)
                if not reliable and hasattr(bus, "submit"):  # pipelined: acks settle in order
                    try:
                        future = await bus.submit(
                            key, "MarketData", body, msg_id=msg_id, fence=token, sent_ms=sent_ms
                        )
                    except Exception:
                        self.counts["md_dropped"] += 1
                        break
                    self._inflight.append((event, index, future))
                    if len(self._inflight) > self.config.max_inflight:
                        await self._settle(keep=self.config.max_inflight // 2)
                    break
                try:
                    pos, dup = await bus.publish(
                        key,
                        event.__class__.__name__,
                        body,
                        msg_id=msg_id,
                        fence=token,
                        sent_ms=sent_ms,
                    )
                except Fenced:
                    self.counts["fenced"] += 1
                    self.lease.lost()
                    return False
                except Exception as exc:
                    if not reliable:
                        self.counts["md_dropped"] += 1
                        break
                    self.counts["retries"] += 1
                    log.warning("publish to %r failed (%s): retrying", bus, exc)
                    await asyncio.sleep(delay)
                    delay = min(1.0, delay * 2)
                    continue
                self.counts["duplicates" if dup else "published"] += 1
                if not dup:
                    self.mirror.applied(event, index, pos)
                break
        return True

    async def _seed(self, key: StreamKey) -> None:
        """Continue from the state the last leader left (so merges start from full entities)."""
        self._seeded.add(key)
        for index, bus in enumerate(self.buses):
            try:
                _, entries = await bus.state(key)
            except Exception as exc:
                log.warning("could not read state of %s from %r: %s", key, bus, exc)
                continue
            for entity, data in entries.items():
                with contextlib.suppress(IBStreamError):
                    ev = event_from_dict(StateEntry.from_json(data).event)
                    if getattr(ev, "key", None) == key:
                        self.mirror.seed(index, key, entity, ev)

    async def _flusher(self) -> None:
        last_md = 0.0
        while True:
            await asyncio.sleep(self.config.flush_interval)
            token = self.lease.token
            now = time.monotonic()
            if token is None:
                return  # the term is over
            if not self.lease.valid(now):
                continue
            md = now - last_md >= self.config.md_state_interval
            if md:
                last_md = now
            for index, bus in enumerate(self.buses):
                for key, entries, watermark in self.mirror.take(index, token, market_data=md):
                    try:
                        await bus.put_state(key, entries, watermark)
                        self.counts["state_writes"] += len(entries)
                    except Exception as exc:
                        self.counts["state_errors"] += 1
                        log.warning("state write failed: %s", exc)

    async def _reconcile_orders(self) -> None:
        """Publish what REST shows of every order that the bus state does not (fills, cancels
        that happened while no bridge led). Runs once per term; an update it publishes that a
        consumer already has applies as a no-op (order updates carry term-and-serial ids, not
        content ids, so the bus stores each)."""
        client = self.client
        assert client is not None
        try:
            rows = await client.rest.orders(force=True)
        except IBStreamError as exc:
            log.warning("order reconciliation skipped: %s", exc)
            return
        book = OrderBook(max_terminal=None)  # every order REST lists
        book.load_rest(rows)
        if _ORDERS_KEY not in self._seeded:
            await self._seed(_ORDERS_KEY)
        for order in book.values():
            prior = self.mirror.entity(0, _ORDERS_KEY, str(order.order_id))
            fields = dict(order.fields)
            if prior is not None and all(prior.changes.get(k) == v for k, v in fields.items()):
                continue
            status = fields.get("status")
            self.counts["reconciled"] += 1
            self._queue.append(
                OrderUpdate(
                    key=_ORDERS_KEY,
                    account=order.account,
                    order_id=order.order_id,
                    conid=order.conid,
                    status=status if isinstance(status, str) else None,
                    changes=fields,
                    raw={},
                )
            )
            self._wake.set()

    # -- demand ----------------------------------------------------------------------------------

    async def _listen_demand(self, bus: Bus) -> None:
        while True:
            try:
                async for payload in bus.demands():
                    self._on_demand(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("demand listener on %r: %s", bus, exc)
                await asyncio.sleep(0.5)

    def _on_demand(self, payload: bytes) -> None:
        try:
            d = orjson.loads(payload)
            consumer = str(d["consumer"])
            ttl = min(float(d["ttl"]), self.config.max_demand_ttl)
            specs = [spec_from_json(s) for s in d["specs"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IBStreamError) as exc:
            self.counts["bad_demand"] += 1
            log.warning("ignoring a bad demand message: %s", exc)
            return
        now = time.monotonic()
        for spec in specs:
            self.demand.renew(consumer, spec, ttl, now)
        self._wake.set()

    async def _follow_demand(self) -> None:
        """Hold upstream exactly the streams with a live lease (plus the baseline)."""
        baseline = {s.key for s in self.config.baseline}
        client = self.client
        assert client is not None
        while True:
            self.demand.expire(time.monotonic())
            wanted = self.demand.wanted()
            for key, spec in wanted.items():
                if key not in self._held:
                    try:
                        self._held[key] = client.subscribe(spec, buffer=False)
                        self.counts["demand_subscribed"] += 1
                    except IBStreamError as exc:
                        self.counts["demand_refused"] += 1
                        log.warning("demand for %s refused: %s", key, exc)
            for key in [k for k in self._held if k not in wanted and k not in baseline]:
                self._held.pop(key).close()
                self.counts["demand_released"] += 1
            await asyncio.sleep(0.1)


def bridge_config(
    url: str,
    buses: Sequence[str],
    *,
    verify: bool = True,
    cacert: str | None = None,
    **changes: Any,
) -> BridgeConfig:
    """A checked :class:`BridgeConfig` (the CLI's way in)."""
    config = BridgeConfig(url=url, buses=tuple(buses), verify=verify, cacert=cacert, **changes)
    config.check()
    return config
