"""Market data over REST through the session: ``client.marketdata`` (asyncio).

* :meth:`MarketDataRest.snapshot` - ``/iserver/marketdata/snapshot`` with the gateway's
  pre-flight handled: ``/iserver/accounts`` is called once first, and the first request for a
  conid only starts the gateway's stream and returns no fields (protocol.md §2.8), so the call
  is repeated (paced by the limiter) until every conid carries data or ``timeout`` passes.
  Entries are parsed by the stream's own decoder into :class:`~ibstream.state.TickerSnapshot`:
  the same field ids, names and parsed values as ``smd``.
* :meth:`MarketDataRest.history` - ``/iserver/marketdata/history`` parsed by the stream's decoder
  into :class:`~ibstream.protocol.events.MarketHistory` with typed :class:`Bar` s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

import orjson

from ibstream.aio.transport import Transport
from ibstream.exceptions import HTTPStatusError, InvalidArgument, NotFound, ProtocolError
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData, MarketHistory
from ibstream.protocol.specs import DEFAULT_FIELDS, MarketHistorySpec
from ibstream.state.ticker import Ticker, TickerSnapshot, field_id

__all__ = ["SNAPSHOT_BATCH", "MarketDataRest"]

SNAPSHOT_BATCH = 100
"""Conids per snapshot request (IBKR accepts up to 100 per call)."""

_META = frozenset({"conid", "conidEx", "_updated", "server_id", "6119", "6509", "6508"})


def _conid_of(item: int | str) -> tuple[int, str]:
    if isinstance(item, bool):
        raise InvalidArgument("conids", f"a conid, got {item!r}")
    if isinstance(item, int):
        if item <= 0:
            raise InvalidArgument("conids", f"a positive conid, got {item}")
        return item, str(item)
    text = str(item).strip()
    head = text.split("@", 1)[0].split(";", 1)[0]
    if not head.isdigit() or int(head) <= 0:
        raise InvalidArgument("conids", f"a conid or conidex string, got {item!r}")
    return int(head), text


def _snapshot_of(conid: int, entry: dict[str, Any]) -> TickerSnapshot:
    ticker = Ticker(conid)
    frame = dict(entry)
    frame["topic"] = f"smd+{conid}"
    frame["conid"] = conid
    for event in decode(orjson.dumps(frame)):
        if isinstance(event, MarketData):
            ticker.merge(event)
    return ticker.snapshot()


class MarketDataRest:
    """Snapshots and historical bars over REST (see the module docstring)."""

    def __init__(self, rest: Transport) -> None:
        self._rest = rest
        self._accounts: asyncio.Task[Any] | None = None

    def __repr__(self) -> str:
        return "<MarketDataRest>"

    async def _preflight_accounts(self) -> None:
        """IBKR: call ``/iserver/accounts`` before snapshots - once, shared by concurrent calls
        (a failed call is retried by the next snapshot)."""
        task = self._accounts
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._accounts = asyncio.ensure_future(self._rest.accounts())
        await asyncio.shield(task)

    async def snapshot(
        self,
        conids: Iterable[int | str] | int | str,
        fields: Iterable[str | int] | int | str = DEFAULT_FIELDS,
        *,
        timeout: float = 5.0,
        interval: float = 0.2,
    ) -> dict[int, TickerSnapshot]:
        """Current values of ``conids``: ``{conid: TickerSnapshot}``.

        ``fields`` are ids (``31``, ``"84"``) or names (``"last"``, ``"bid_price"``), or one
        of them alone.
        Conids whose data never arrived within ``timeout`` are returned with no values
        (``snapshot.values`` empty). An unknown conid comes back as the gateway sends it
        (symbol ``"-"``, last ``N/A`` -> ``None``).
        """
        if not (isinstance(timeout, int | float) and timeout >= 0):
            raise InvalidArgument("timeout", f"seconds >= 0, got {timeout!r}")
        if not (isinstance(interval, int | float) and interval > 0):
            raise InvalidArgument("interval", f"seconds > 0, got {interval!r}")
        items = [conids] if isinstance(conids, int | str) else list(conids)
        if not items:
            raise InvalidArgument("conids", "at least one conid")
        ids = dict(_conid_of(i) for i in items)
        given = [fields] if isinstance(fields, int | str) else list(fields)  # "31": not 3, 1
        wanted = list(dict.fromkeys(str(field_id(f.strip() if isinstance(f, str) else f))
                                    for f in given))  # fmt: skip
        if not wanted:
            raise InvalidArgument("fields", "field ids or names such as 31, 'bid', 'ask'")
        await self._preflight_accounts()
        found: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        pending = dict(ids)
        while True:
            batch = list(pending.items())
            for start in range(0, len(batch), SNAPSHOT_BATCH):
                chunk = batch[start : start + SNAPSHOT_BATCH]
                params = {"conids": ",".join(t for _, t in chunk), "fields": ",".join(wanted)}
                _, body = await self._rest.request(
                    "GET", "/iserver/marketdata/snapshot", params=params
                )
                for entry in body if isinstance(body, list) else ():
                    if not isinstance(entry, dict):
                        continue
                    conid = entry.get("conid")
                    if not isinstance(conid, int) or conid not in pending:
                        continue
                    if any(k not in _META for k in entry):
                        found[conid] = entry
                        pending.pop(conid, None)
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                break
            await asyncio.sleep(min(interval, left))  # a last call at the deadline
        return {c: _snapshot_of(c, found.get(c, {})) for c in ids}

    async def history(
        self,
        conid: int,
        *,
        period: str = "1d",
        bar: str = "5min",
        outside_rth: bool = False,
        exchange: str | None = None,
        start: dt.datetime | None = None,
    ) -> MarketHistory:
        """Historical bars of ``conid`` (``period`` e.g. ``1d``, ``bar`` e.g. ``5min``).

        ``start`` is IBKR's ``startTime``: the moment the bars count back from (default: now).
        Invalid ``period``/``bar`` raise ``InvalidArgument`` before anything is sent; an unknown
        conid raises ``NotFound``.
        """
        MarketHistorySpec(  # validates
            conid, period=period, bar=bar, exchange=exchange, outside_rth=outside_rth
        )
        if start is not None and not isinstance(start, dt.datetime):
            raise InvalidArgument("start", f"a datetime, got {start!r}")
        params = {"conid": str(conid), "period": period, "bar": bar}
        params["outsideRth"] = "true" if outside_rth else "false"
        if exchange:
            params["exchange"] = exchange
        if start is not None:
            params["startTime"] = start.astimezone(dt.UTC).strftime("%Y%m%d-%H:%M:%S")
        path = "/iserver/marketdata/history"
        try:
            _, body = await self._rest.request("GET", path, params=params)
        except HTTPStatusError as exc:
            if exc.status in (400, 404) and not isinstance(exc, NotFound):
                raise NotFound(exc.method, exc.path, exc.status, exc.body) from None
            raise
        if not isinstance(body, dict) or "data" not in body:
            message = body.get("error") if isinstance(body, dict) else None
            if message:
                raise NotFound("GET", path, 200, orjson.dumps(body).decode())
            raise ProtocolError(f"GET {path}: unexpected answer {str(body)[:120]}")
        frame = dict(body)
        frame["topic"] = f"smh+{conid}"
        for event in decode(orjson.dumps(frame)):
            if isinstance(event, MarketHistory):
                return event
        raise ProtocolError(f"GET {path}: the answer could not be parsed: {str(body)[:120]}")
