"""Arrow tables and pandas DataFrames from events, live state, bars and recordings.

Columns are named, typed and in UTC: times are ``timestamp[ms, UTC]`` (``datetime64[ns, UTC]`` in
pandas), prices and sizes ``float64``, ids ``int64``, repeated strings (symbols, sides, statuses,
event types) dictionary-encoded (``category`` in pandas). Market-data columns carry the canonical
field names (``last``, ``bid``, ``ask``, ``bid_size``...; see :mod:`ibstream.protocol.fields`).
polars reads any of these tables with ``polars.from_arrow(table)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ibstream.aio.recorder import read_recording
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData
from ibstream.protocol.fields import FIELDS, Availability, FieldKind, field_name
from ibstream.protocol.once import CountOnce
from ibstream.protocol.specs import StreamKey
from ibstream.state.bars import OHLCV

__all__ = [
    "bars_table",
    "events_tables",
    "market_data_table",
    "objects_table",
    "recording_market_data",
    "tickers_table",
    "to_pandas",
]

_TS = pa.timestamp("ms", tz="UTC")
_TEXT_KINDS = (FieldKind.TEXT,)
_CATEGORY_COLUMNS = frozenset(
    {
        "type",
        "key",
        "symbol",
        "side",
        "order_type",
        "status",
        "time_in_force",
        "account",
        "exchange",
        "sec_type",
        "currency",
        "direction",
        "topic",
    }
)


def _field_type(fid: int) -> pa.DataType:
    info = FIELDS.get(fid)
    if info is None:
        return pa.float64()
    if info.kind in _TEXT_KINDS or info.kind is FieldKind.AVAILABILITY:
        return pa.string()
    if info.kind is FieldKind.FLAG:
        return pa.bool_()
    if info.kind is FieldKind.INTEGER:
        return pa.int64()
    return pa.float64()


def _cell(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if isinstance(value, Availability):
        return value.code
    if pa.types.is_floating(kind):
        return float(value) if isinstance(value, int | float) else None
    if pa.types.is_integer(kind):
        return value if isinstance(value, int) and -(2**63) <= value < 2**63 else None
    if pa.types.is_boolean(kind):  # text a decoder could not read is unknown, not True
        return value if isinstance(value, bool) else None
    return str(value)


def market_data_table(
    events: Iterable[MarketData],
    *,
    times: Iterable[float] | None = None,
    fields: Iterable[int | str] | None = None,
) -> pa.Table:
    """One row per ``MarketData`` event: ``time`` (``_updated``, else the matching entry of
    ``times`` in epoch seconds), ``conid``, ``server_id``, then one column per field (only the
    ``fields`` asked for, by id or name; by default every field seen). A field absent from a
    frame (unchanged) is null: forward-fill per conid for a state view."""
    from ibstream.protocol.fields import resolve_field

    rows = list(events)
    stamps = list(times) if times is not None else None
    if stamps is not None and len(stamps) != len(rows):
        raise ValueError(f"times has {len(stamps)} entries for {len(rows)} events")
    n = len(rows)
    wanted: set[int] | None = None if fields is None else {resolve_field(f) for f in fields}
    # one pass: each event touches only the fields it carries (frames are deltas)
    columns: dict[int, list[Any]] = {}
    if fields is not None:
        for fid in (resolve_field(f) for f in fields):
            columns.setdefault(fid, [None] * n)
    time_col: list[int | None] = [None] * n
    conids: list[int] = [0] * n
    servers: list[str | None] = [None] * n
    for i, ev in enumerate(rows):
        conids[i] = ev.conid
        servers[i] = ev.server_id
        if ev.updated_ms is not None:
            time_col[i] = ev.updated_ms
        elif stamps is not None:
            time_col[i] = round(stamps[i] * 1000)
        for fid, value in ev.values.items():
            col = columns.get(fid)
            if col is None:
                if wanted is not None:
                    continue
                col = columns[fid] = [None] * n
            col[i] = value
    arrays: dict[str, pa.Array] = {
        "time": pa.array(time_col, type=_TS),
        "conid": pa.array(conids, type=pa.int64()),
        "server_id": pa.array(servers, type=pa.string()).dictionary_encode(),
    }
    for fid, values in columns.items():
        kind = _field_type(fid)
        try:
            array = pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            array = pa.array([_cell(v, kind) for v in values], type=kind)
        arrays[field_name(fid)] = array
    return pa.table(arrays)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, StreamKey):
        return str(value)
    if isinstance(value, Availability):
        return value.code
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return None
    return value


def _rows(objs: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for obj in objs:
        if hasattr(obj, "_asdict"):
            data = dict(obj._asdict())
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            data = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        elif isinstance(obj, Mapping):
            data = dict(obj)
        else:
            raise TypeError(f"cannot tabulate {type(obj).__name__}: not a dataclass or mapping")
        # nested mappings and lists (raw frames, merged order fields) stay out of flat tables
        out.append(
            {
                k: _plain(v)
                for k, v in data.items()
                if k != "raw" and not isinstance(v, Mapping | list | tuple)
            }
        )
    return out


def _typed(table: pa.Table) -> pa.Table:
    """``*_ms`` integer columns as UTC timestamps (renamed without ``_ms``); the repeated strings
    as dictionaries; an all-null column as float64."""
    cols: dict[str, pa.Array] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_null(col.type):
            col = col.cast(pa.float64())
        if name.endswith("_ms") and pa.types.is_integer(col.type):
            cols[name[: -len("_ms")] or name] = col.cast(_TS)
            continue
        if name in ("time", "t", "start", "end") and pa.types.is_floating(col.type):
            # epoch seconds from a clock carry sub-ms digits: round to the ms, as recordings do
            col = pc.round(pc.multiply(col, 1000)).cast(pa.int64()).cast(_TS)
        if name in _CATEGORY_COLUMNS and pa.types.is_string(col.type):
            col = col.dictionary_encode()
        cols[name] = col
    return pa.table(cols)


def objects_table(objs: Iterable[Any]) -> pa.Table:
    """A table from dataclasses or named tuples of one kind (``Order``, ``TradeChange``,
    ``Position``, ``Pnl`` rows, any event type...): one column per field, nested mappings left
    out, enums by name, ``*_ms`` times as UTC timestamps. Like ib_async's ``util.df``."""
    rows = _rows(objs)
    if not rows:
        return pa.table({})
    return _typed(pa.Table.from_pylist(rows))


def events_tables(events: Iterable[Any]) -> dict[str, pa.Table]:
    """Events of any mix of types -> one table per event type (``{"MarketData": ..., "Trade":
    ...}``); market data uses :func:`market_data_table`'s field columns."""
    groups: dict[str, list[Any]] = {}
    for ev in events:
        groups.setdefault(type(ev).__name__, []).append(ev)
    out: dict[str, pa.Table] = {}
    for name, group in groups.items():
        out[name] = market_data_table(group) if name == "MarketData" else objects_table(group)
    return out


def tickers_table(tickers: Iterable[Any]) -> pa.Table:
    """Live tickers (``client.tickers``, ``Ticker`` or ``TickerSnapshot``): one row each with
    ``conid``, ``updated``, ``market_price`` and every field by name."""
    rows = list(tickers.values() if isinstance(tickers, Mapping) else tickers)
    ids: list[int] = []
    seen: set[int] = set()
    for t in rows:
        for fid in t.values:
            if fid not in seen:
                seen.add(fid)
                ids.append(fid)
    arrays: dict[str, pa.Array] = {
        "conid": pa.array([t.conid for t in rows], type=pa.int64()),
        "updated": pa.array([t.updated_ms for t in rows], type=_TS),
        "market_price": pa.array([t.market_price() for t in rows], type=pa.float64()),
    }
    for fid in ids:
        kind = _field_type(fid)
        arrays[field_name(fid)] = pa.array([_cell(t.values.get(fid), kind) for t in rows], kind)
    return pa.table(arrays)


def bars_table(bars: Iterable[OHLCV]) -> pa.Table:
    """Bars (:class:`~ibstream.state.bars.OHLCV`) with ``start``/``end`` as UTC timestamps."""
    return objects_table(bars)


def recording_market_data(path: str | Path, *, conid: int | None = None) -> pa.Table:
    """The market data of a recording (JSON lines or Parquet) as a table, frame receive time
    where ``_updated`` is missing; a stream's duplicated opening snapshot is one row, as live."""
    events: list[MarketData] = []
    times: list[float] = []
    once = CountOnce()  # as live: the duplicated opening snapshot is one row, not two
    for frame in read_recording(path):
        if frame.direction != "in":
            once.sent(frame.text)
            continue
        for ev in once.received(decode(frame.data)):
            if isinstance(ev, MarketData) and (conid is None or ev.conid == conid):
                events.append(ev)
                times.append(frame.t)
    return market_data_table(events, times=times)


def to_pandas(table: pa.Table) -> Any:
    """A pandas DataFrame: dictionaries as ``category``, timestamps ``datetime64[ns, UTC]``,
    nullable numbers as ``float64`` with NaN."""
    try:
        import pandas  # noqa: F401
    except ImportError as exc:
        from ibstream._deps import DependencyError

        raise DependencyError("DataFrames need pandas: pip install 'ibstream[data]'") from exc
    return table.to_pandas(timestamp_as_object=False)
