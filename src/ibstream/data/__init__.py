"""Notebook and analysis helpers (the ``data`` extra: ``pip install 'ibstream[data]'``).

Arrow tables and pandas DataFrames from events, live state, bars and recordings, with named,
typed, UTC columns; Parquet frame recordings are in :mod:`ibstream.aio.recorder`. See
``docs/data.md``.

::

    from ibstream.data import events_tables, market_data_table, tickers_table, to_pandas

    df = to_pandas(tickers_table(client.tickers))      # one row per live ticker
    quotes = to_pandas(market_data_table(events))       # one row per market-data event
"""

from __future__ import annotations

from ibstream._deps import DependencyError

try:
    import pyarrow  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised without the extra
    raise DependencyError(
        "ibstream.data needs pyarrow (and pandas for DataFrames): pip install 'ibstream[data]'"
    ) from _exc

from ibstream.bars import bars_from_recording
from ibstream.data.tables import (
    bars_table,
    events_tables,
    market_data_table,
    objects_table,
    recording_market_data,
    tickers_table,
    to_pandas,
)

__all__ = [
    "bars_from_recording",
    "bars_table",
    "events_tables",
    "market_data_table",
    "objects_table",
    "recording_market_data",
    "tickers_table",
    "to_pandas",
]
