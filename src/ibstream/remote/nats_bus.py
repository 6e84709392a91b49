"""The bus on NATS: JetStream streams for events, KV buckets for live state and the leader lease.

* Streams (``Layout.stream_subjects``): ``IBS_MD`` (market data, history, ladders: a bounded
  number of messages per subject and a maximum age), ``IBS_ORDERS``, ``IBS_TRADES``,
  ``IBS_ACCOUNT`` (days), ``IBS_EVENTS`` (keyless events). Each has a duplicate window, and every
  message carries ``Nats-Msg-Id``, so JetStream stores a republished event once.
* KV ``ibs_state``: live state entities and per-stream watermarks; KV ``ibs_leader``: one key
  whose creation revision is the fencing token, expiring (bucket TTL) unless renewed.
* Demand leases go over core NATS (``ibs.ctl.demand``): they are renewed, not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.js import api
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyValueError, NotFoundError
from nats.js.kv import KeyValue

from ibstream.exceptions import InvalidState
from ibstream.protocol.specs import StreamKey
from ibstream.remote.bus import Message, Retention
from ibstream.remote.wire import Layout, Position

__all__ = ["NatsBus"]

log = logging.getLogger("ibstream.remote.nats")

_LEADER = "leader"


class NatsBus:
    """:class:`~ibstream.remote.bus.Bus` on NATS JetStream (see the module docstring)."""

    def __init__(self, url: str, layout: Layout, retention: Retention) -> None:
        self.url = url
        self.layout = layout
        self.retention = retention
        self._nc: Any = None
        self._js: Any = None
        self._state: KeyValue | None = None
        self._leader: KeyValue | None = None
        self._leader_ttl: float | None = None
        self._revision: dict[int, int] = {}  # fencing token -> last revision of our lease key

    def __repr__(self) -> str:
        return f"<NatsBus {self.url} prefix={self.layout.prefix}>"

    async def start(self) -> None:
        self._nc = await nats.connect(
            self.url,
            connect_timeout=2,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
            error_cb=self._on_error,
        )
        self._js = self._nc.jetstream(timeout=3)

    async def provision(self) -> None:
        """Create (or update) the streams and the state bucket: the bridge does this."""
        r = self.retention
        for name, subjects in self.layout.stream_subjects().items():
            group = name.rsplit("_", 1)[1]
            reliable = group in ("ORDERS", "TRADES", "ACCOUNT")
            if group == "EVENTS":
                age, per_subject, total = r.events_age, -1, r.events_max
            elif reliable:
                age, per_subject, total = r.reliable_age, r.reliable_per_key, -1
            else:
                age, per_subject, total = r.market_data_age, r.market_data_per_key, -1
            config = api.StreamConfig(
                name=name,
                subjects=subjects,
                retention=api.RetentionPolicy.LIMITS,
                discard=api.DiscardPolicy.OLD,
                max_age=age,
                max_msgs_per_subject=per_subject,
                max_msgs=total,
                storage=api.StorageType.FILE,
                duplicate_window=min(r.dedupe_window, age),
            )
            try:
                await self._js.add_stream(config)
            except BadRequestError:  # exists with other settings: ours win
                await self._js.update_stream(config)
        self._state = await self._js.create_key_value(
            api.KeyValueConfig(bucket=self.layout.state_bucket, history=1)
        )

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats %s: %s", self.url, exc or type(exc).__name__)

    def _need(self) -> Any:
        if self._js is None:
            raise InvalidState("bus not started")
        return self._js

    # -- publishing -----------------------------------------------------------------------

    async def publish(
        self,
        key: StreamKey | None,
        event_type: str,
        body: bytes,
        *,
        msg_id: str,
        fence: int,
        sent_ms: int,
    ) -> tuple[Position, bool]:
        js = self._need()
        headers = {"Nats-Msg-Id": msg_id, "Ibs-Fence": str(fence), "Ibs-Ms": str(sent_ms)}
        ack = await js.publish(self.layout.subject(key, event_type), body, headers=headers)
        return (int(ack.seq), 0), bool(ack.duplicate)

    async def submit(
        self,
        key: StreamKey | None,
        event_type: str,
        body: bytes,
        *,
        msg_id: str,
        fence: int,
        sent_ms: int,
    ) -> asyncio.Future[Any]:
        """Like ``publish`` without waiting: the message is written now, the future resolves to
        the ack (``ack_result`` reads it). Messages are stored in the order submitted."""
        js = self._need()
        headers = {"Nats-Msg-Id": msg_id, "Ibs-Fence": str(fence), "Ibs-Ms": str(sent_ms)}
        future: asyncio.Future[Any] = await js.publish_async(
            self.layout.subject(key, event_type), body, headers=headers
        )
        return future

    @staticmethod
    def ack_result(ack: Any) -> tuple[Position, bool]:
        return (int(ack.seq), 0), bool(ack.duplicate)

    async def put_state(
        self, key: StreamKey, entries: dict[str, bytes], watermark: Position
    ) -> None:
        kv = await self._state_kv()
        if kv is None:
            raise InvalidState("state bucket missing: provision() first")
        for entity, data in entries.items():
            await kv.put(self.layout.state_key(key, entity), data)
        await kv.put(self.layout.state_key(key, "_w"), str(watermark[0]).encode())

    # -- reading --------------------------------------------------------------------------

    async def _state_kv(self) -> KeyValue | None:
        if self._state is None:
            try:
                self._state = await self._need().key_value(self.layout.state_bucket)
            except (BucketNotFoundError, NotFoundError):
                return None
        return self._state

    async def state(self, key: StreamKey) -> tuple[Position | None, dict[str, bytes]]:
        kv = await self._state_kv()
        if kv is None:
            return None, {}
        wkey = self.layout.state_key(key, "_w")
        try:
            entry = await kv.get(wkey)
        except KeyValueError:
            return None, {}
        watermark = (int(entry.value or b"0"), 0)
        out: dict[str, bytes] = {}
        prefix = wkey[: -len("_w")]
        watcher = await kv.watch(prefix + "*")
        try:
            async for e in watcher:
                if e is None:
                    break
                if e.key != wkey and e.value and e.operation is None:
                    out[e.key[len(prefix) :]] = e.value
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return watermark, out

    async def first_position(self, key: StreamKey) -> Position | None:
        try:
            msg = await self._need().get_msg(
                self.layout.stream(key.topic), seq=1, subject=self.layout.subject(key), next=True
            )
        except NotFoundError:
            return None
        return (int(msg.seq), 0)

    async def read(self, key: StreamKey | None, after: Position | None) -> AsyncIterator[Message]:
        js = self._need()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def on_msg(msg: Any) -> None:
            queue.put_nowait(msg)

        subs = []
        targets: list[tuple[str, str, api.DeliverPolicy, int | None]]
        if key is None:
            targets = [
                (stream, subject, api.DeliverPolicy.NEW, None)
                for stream, subjects in self.layout.stream_subjects().items()
                for subject in subjects
            ]
        elif after is None:
            stream = self.layout.stream(key.topic)
            targets = [(stream, self.layout.subject(key), api.DeliverPolicy.ALL, None)]
        else:
            stream = self.layout.stream(key.topic)
            policy = api.DeliverPolicy.BY_START_SEQUENCE
            targets = [(stream, self.layout.subject(key), policy, after[0] + 1)]
        try:
            for stream, subject, policy, start in targets:
                config = api.ConsumerConfig(deliver_policy=policy, opt_start_seq=start)
                subs.append(
                    await js.subscribe(
                        subject, stream=stream, cb=on_msg, ordered_consumer=True, config=config
                    )
                )
            while True:
                msg = await queue.get()
                headers = msg.headers or {}
                yield Message(
                    position=(int(msg.metadata.sequence.stream), 0),
                    fence=int(headers.get("Ibs-Fence", 0)),
                    msg_id=headers.get("Nats-Msg-Id", ""),
                    sent_ms=int(headers.get("Ibs-Ms", 0)),
                    body=msg.data,
                )
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    # -- demand ---------------------------------------------------------------------------

    async def send_demand(self, payload: bytes) -> None:
        await self._nc.publish(self.layout.demand_subject, payload)

    async def demands(self) -> AsyncIterator[bytes]:
        sub = await self._nc.subscribe(self.layout.demand_subject)
        try:
            async for msg in sub.messages:
                yield msg.data
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # -- election -------------------------------------------------------------------------

    async def _leader_kv(self, ttl: float) -> KeyValue:
        if self._leader is None or self._leader_ttl != ttl:
            js = self._need()
            try:
                self._leader = await js.create_key_value(
                    api.KeyValueConfig(bucket=self.layout.leader_bucket, history=1, ttl=ttl)
                )
            except BadRequestError:  # exists with another TTL. Raise it to ours when shorter
                # (a leader must never outlive its key); never lower it, or a bridge with a
                # short TTL would let a standby take the key while a long-TTL leader still leads
                stream = f"KV_{self.layout.leader_bucket}"
                info = await js.stream_info(stream)
                if (info.config.max_age or 0) < ttl:
                    info.config.max_age = ttl
                    info.config.duplicate_window = min(info.config.duplicate_window or ttl, ttl)
                    await js.update_stream(info.config)
                self._leader = await js.key_value(self.layout.leader_bucket)
            self._leader_ttl = ttl
        return self._leader

    async def acquire(self, node: str, ttl: float) -> int | None:
        kv = await self._leader_kv(ttl)
        try:
            revision = await kv.create(_LEADER, node.encode())
        except KeyValueError:
            return None
        except BadRequestError:
            return None
        self._revision = {revision: revision}
        return int(revision)

    async def renew(self, node: str, token: int, ttl: float) -> bool:
        kv = await self._leader_kv(ttl)
        last = self._revision.get(token)
        if last is None:
            return False
        try:
            self._revision[token] = await kv.update(_LEADER, node.encode(), last=last)
        except (KeyValueError, BadRequestError):
            self._revision.pop(token, None)
            return False
        return True

    async def release(self, node: str, token: int) -> None:
        last = self._revision.pop(token, None)
        if last is None or self._leader is None:
            return
        with contextlib.suppress(Exception):
            await self._leader.delete(_LEADER, last=last)
