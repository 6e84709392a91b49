"""The bus on Redis: one stream per topic/key, hashes for live state, ``SET NX PX`` for the lease.

* Streams ``{ibs}:s:<key>`` (``{ibs}:s:md:265598``, ``{ibs}:s:or``, ``{ibs}:s:ev``...), trimmed
  by count (``MAXLEN ~``) and by age (``XTRIM MINID ~``, Redis >= 6.2) per kind
  (:class:`~ibstream.remote.bus.Retention`). Entries carry ``i`` (the
  dedupe id), ``f`` (fencing token), ``t`` (publish time, epoch ms) and ``e`` (the event's JSON),
  so consumer groups can read them as they are.
* Every write goes through one Lua script that (1) refuses a token lower than the highest that
  ever wrote (``{ibs}:fence``): a deposed leader is fenced by Redis itself; (2) drops an id seen
  within the dedupe window (``{ibs}:dd:<id>`` markers); (3) appends and records the stream in
  ``{ibs}:streams``.
* Live state: hash ``{ibs}:state:<key>`` of entity -> entry, plus ``_w`` (the watermark), written
  in one transaction. The lease: ``{ibs}:leader`` = ``"<token>:<node>"`` set with ``NX PX``; the
  token comes from ``INCR {ibs}:term``. Demand leases use pub/sub (renewed, not stored).

All keys share the ``{prefix}`` hash tag, so the scripts also run on a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ibstream.protocol.specs import StreamKey
from ibstream.remote.bus import Fenced, Message, Retention
from ibstream.remote.wire import (
    RELIABLE_TOPICS,
    Layout,
    Position,
    format_position,
    parse_position,
)

__all__ = ["RedisBus"]

_PUBLISH = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local tok = tonumber(ARGV[1])
if tok < cur then return redis.error_reply('FENCED token ' .. ARGV[1] .. ' < ' .. cur) end
if tok > cur then redis.call('SET', KEYS[1], ARGV[1]) end
local prior = redis.call('GET', KEYS[3])
if prior then return {prior, 1} end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
                      'i', ARGV[2], 'f', ARGV[1], 't', ARGV[6], 'e', ARGV[3])
local t = redis.call('TIME')
local oldest = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[7])
if oldest > 0 then redis.call('XTRIM', KEYS[2], 'MINID', '~', oldest .. '-0') end
redis.call('SET', KEYS[3], id, 'PX', ARGV[5])
redis.call('SADD', KEYS[4], KEYS[2])
return {id, 0}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBus:
    """:class:`~ibstream.remote.bus.Bus` on Redis Streams (see the module docstring)."""

    def __init__(self, url: str, layout: Layout, retention: Retention) -> None:
        self.url = url
        self.layout = layout
        self.retention = retention
        self._r: Any = None
        self._publish: Any = None
        self._renew: Any = None
        self._release: Any = None

    def __repr__(self) -> str:
        return f"<RedisBus prefix={self.layout.prefix}>"

    async def start(self) -> None:
        self._r = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=None)
        await self._r.ping()
        self._publish = self._r.register_script(_PUBLISH)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)

    async def provision(self) -> None:
        """Nothing to create ahead: streams and hashes appear on first write."""

    async def close(self) -> None:
        if self._r is not None:
            with contextlib.suppress(Exception):
                await self._r.aclose()

    def _limits(self, key: StreamKey | None) -> tuple[int, float]:
        """Entries kept and their maximum age (seconds) for the stream of ``key``."""
        r = self.retention
        if key is None:
            return r.events_max, r.events_age
        if key.topic in RELIABLE_TOPICS:
            return r.reliable_per_key, r.reliable_age
        return r.market_data_per_key, r.market_data_age

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
        lay = self.layout
        maxlen, age = self._limits(key)
        try:
            pos, dup = await self._publish(
                keys=[
                    lay.redis_fence,
                    lay.redis_stream(key),
                    lay.redis_dedupe(msg_id),
                    lay.redis_streams,
                ],
                args=[
                    fence,
                    msg_id,
                    body,
                    maxlen,
                    int(self.retention.dedupe_window * 1000),
                    sent_ms,
                    int(age * 1000),
                ],
            )
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(str(exc)) from None
            raise
        return parse_position(pos), bool(dup)

    async def put_state(
        self, key: StreamKey, entries: dict[str, bytes], watermark: Position
    ) -> None:
        mapping: dict[str, bytes | str] = dict(entries)
        mapping["_w"] = format_position(watermark)
        await self._r.hset(self.layout.redis_state(key), mapping=mapping)

    # -- reading --------------------------------------------------------------------------

    async def state(self, key: StreamKey) -> tuple[Position | None, dict[str, bytes]]:
        data = await self._r.hgetall(self.layout.redis_state(key))
        raw = data.pop(b"_w", None)
        if raw is None:
            return None, {}
        return parse_position(raw), {k.decode(): v for k, v in data.items()}

    async def _last_id(self, stream: str) -> str:
        last = await self._r.xrevrange(stream, count=1)
        return last[0][0].decode() if last else "0-0"

    async def first_position(self, key: StreamKey) -> Position | None:
        first = await self._r.xrange(self.layout.redis_stream(key), count=1)
        return parse_position(first[0][0]) if first else None

    async def read(self, key: StreamKey | None, after: Position | None) -> AsyncIterator[Message]:
        lay = self.layout
        ids: dict[str, str] = {}
        if key is not None:
            ids[lay.redis_stream(key)] = "0-0" if after is None else format_position_id(after)
        else:
            for name in await self._r.smembers(lay.redis_streams):
                ids[name.decode()] = await self._last_id(name.decode())
        loop = asyncio.get_running_loop()
        refreshed = loop.time()
        while True:
            if key is None and loop.time() - refreshed > 0.5:  # streams created since
                refreshed = loop.time()
                for name in await self._r.smembers(lay.redis_streams):
                    ids.setdefault(name.decode(), "0-0")
            if not ids:
                await asyncio.sleep(0.2)
                continue
            reply = await self._r.xread(ids, count=500, block=250)
            for stream, entries in reply or ():
                sname = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    eid = entry_id.decode()
                    ids[sname] = eid
                    yield Message(
                        position=parse_position(eid),
                        fence=int(fields.get(b"f", 0)),
                        msg_id=fields.get(b"i", b"").decode(),
                        sent_ms=int(fields.get(b"t", 0)),
                        body=fields.get(b"e", b""),
                    )

    # -- demand ---------------------------------------------------------------------------

    async def send_demand(self, payload: bytes) -> None:
        await self._r.publish(self.layout.redis_demand, payload)

    async def demands(self) -> AsyncIterator[bytes]:
        pubsub = self._r.pubsub()
        await pubsub.subscribe(self.layout.redis_demand)
        try:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None and msg.get("type") == "message":
                    yield msg["data"]
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- election -------------------------------------------------------------------------

    async def acquire(self, node: str, ttl: float) -> int | None:
        lay = self.layout
        if await self._r.exists(lay.redis_leader):
            return None
        token = int(await self._r.incr(lay.redis_term))
        ok = await self._r.set(lay.redis_leader, f"{token}:{node}", nx=True, px=int(ttl * 1000))
        return token if ok else None

    async def renew(self, node: str, token: int, ttl: float) -> bool:
        done = await self._renew(
            keys=[self.layout.redis_leader], args=[f"{token}:{node}", int(ttl * 1000)]
        )
        return bool(done)

    async def release(self, node: str, token: int) -> None:
        await self._release(keys=[self.layout.redis_leader], args=[f"{token}:{node}"])


def format_position_id(pos: Position) -> str:
    """A Redis stream id (``"ms-n"``) for ``pos``."""
    return f"{pos[0]}-{pos[1]}"
