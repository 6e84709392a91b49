"""Arrow/pandas tables and Parquet recordings: typed columns, round trips, bars offline."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from ibstream.aio.recorder import FrameRecorder, ParquetFrameRecorder, read_recording
from ibstream.data import (
    bars_from_recording,
    bars_table,
    events_tables,
    market_data_table,
    objects_table,
    recording_market_data,
    tickers_table,
    to_pandas,
)
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData, OrderUpdate
from ibstream.state import OrderBook, Tickers

T0 = 1_764_400_000.0  # epoch s


def _frames() -> list[bytes]:
    md = [
        {
            "topic": "smd+265598",
            "conid": 265598,
            "_updated": 1_764_400_000_000,
            "server_id": "q0",
            "31": "271.50",
            "84": "271.40",
            "86": "271.60",
            "88": "3",
            "85": "5",
            "7059": "100",
            "55": "AAPL",
            "6509": "RpB",
        },
        {
            "topic": "smd+265598",
            "conid": 265598,
            "_updated": 1_764_400_001_000,
            "31": "271.70",
            "7059": "50",
        },
        {
            "topic": "smd+12087792",
            "conid": 12087792,
            "_updated": 1_764_400_002_000,
            "31": "1.0861",
            "84": "1.0860",
            "86": "1.0862",
        },
        {
            "topic": "smd+265598",
            "conid": 265598,
            "_updated": 1_764_400_006_000,
            "31": "271.20",
            "7059": "25",
        },
    ]
    sor = {
        "topic": "sor",
        "args": [
            {
                "acct": "DU1234567",
                "orderId": 7,
                "conid": 265598,
                "ticker": "AAPL",
                "side": "BUY",
                "orderType": "Limit",
                "status": "Submitted",
                "totalSize": "10",
                "price": "270",
                "timeInForce": "DAY",
            }
        ],
    }
    return [orjson.dumps(f) for f in [*md, sor]] + [b'{"topic":"smd+1","31":']  # one malformed


def _events() -> list[object]:
    return [ev for data in _frames() for ev in decode(data)]


def test_market_data_table_types_and_names() -> None:
    md = [ev for ev in _events() if isinstance(ev, MarketData)]
    table = market_data_table(md)
    assert table.num_rows == 4
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("conid").type == pa.int64()
    for name in ("last", "bid", "ask", "bid_size", "ask_size", "last_size"):
        assert table.schema.field(name).type == pa.float64(), name
    assert table.schema.field("symbol").type == pa.string()
    assert table.column("last").to_pylist() == [271.5, 271.7, 1.0861, 271.2]
    assert table.column("bid").to_pylist()[1] is None  # unchanged fields are null
    df = to_pandas(table)
    assert str(df["time"].dtype) == "datetime64[ms, UTC]" or str(df["time"].dtype).endswith(
        ", UTC]"
    )
    assert df["time"].iloc[0] == pd.Timestamp("2025-11-29 07:06:40", tz="UTC")
    assert str(df["server_id"].dtype) == "category"
    only = market_data_table(md, fields=["last", 84])
    assert only.column_names == ["time", "conid", "server_id", "last", "bid"]


def test_events_tables_split_by_type() -> None:
    tables = events_tables(_events())
    assert set(tables) == {"MarketData", "OrderUpdate", "Malformed"}
    orders = to_pandas(tables["OrderUpdate"])
    assert list(orders["order_id"]) == [7]
    assert str(orders["key"].dtype) == "category"
    assert "raw" not in orders.columns and "changes" not in orders.columns


def test_live_state_tables() -> None:
    tickers = Tickers()
    book = OrderBook()
    for ev in _events():
        if isinstance(ev, MarketData):
            tickers.apply(ev)
        elif isinstance(ev, OrderUpdate):
            book.apply(ev)
    t = to_pandas(
        tickers_table(
            tickers.snapshot() if hasattr(tickers, "snapshot") else list(tickers.values())
        )
    )
    aapl = t[t["conid"] == 265598].iloc[0]
    assert aapl["last"] == 271.2 and aapl["symbol"] == "AAPL"
    assert aapl["market_price"] == pytest.approx(271.5)  # last outside the spread: the mid
    o = to_pandas(objects_table(book.orders()))
    assert list(o["order_id"]) == [7] and o["total_size"].iloc[0] == 10.0
    assert str(o["status"].dtype) == "category" and o["status"].iloc[0] == "SUBMITTED"
    assert objects_table([]).num_rows == 0
    with pytest.raises(TypeError, match="cannot tabulate"):
        objects_table([object()])


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_recording_round_trip(tmp_path: Path, suffix: str) -> None:
    """frames -> file -> frames are equal, and decode to the same events, in both formats."""
    path = tmp_path / f"rec{suffix}"
    rec = ParquetFrameRecorder(path, batch=2) if suffix == ".parquet" else FrameRecorder(path)
    frames = _frames()
    for i, data in enumerate(frames):
        rec("in", data, T0 + i * 0.25, i == 0)
    rec("out", "smd+265598+{}", T0 + 5, False)
    rec.close()
    back = list(read_recording(path))
    assert [f.data for f in back[:-1]] == frames
    assert [round(f.t, 6) for f in back] == [
        round(T0 + i * 0.25, 6) for i in range(len(frames))
    ] + [T0 + 5]
    assert back[0].binary and not back[1].binary and back[-1].direction == "out"
    decoded = [ev for f in back if f.direction == "in" for ev in decode(f.data)]
    assert [type(e).__name__ for e in decoded] == [type(e).__name__ for e in _events()]
    assert decoded[0] == _events()[0]


def test_parquet_rolls_and_reads_the_set(tmp_path: Path) -> None:
    rec = ParquetFrameRecorder(tmp_path / "day.parquet", roll_bytes=300, batch=1)
    for i in range(10):
        rec("in", _frames()[0], T0 + i, False)
    rec.close()
    assert len(rec.paths) >= 3 and all(p.name.startswith("day-") for p in rec.paths)
    assert len(list(read_recording(tmp_path / "day.parquet"))) == 10
    assert len(list(read_recording(tmp_path))) == 10  # a directory reads every file in order
    with pytest.raises(InvalidArgument, match="no such Parquet recording"):
        list(read_recording(tmp_path / "other.parquet"))
    with pytest.raises(InvalidArgument, match="roll_bytes"):
        ParquetFrameRecorder(tmp_path / "x.parquet", roll_bytes=0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), foreign / "a.parquet")
    with pytest.raises(InvalidArgument, match="not an ibstream frame recording"):
        list(read_recording(foreign))


def test_recording_market_data_and_offline_bars(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    with ParquetFrameRecorder(path) as rec:
        for i, data in enumerate(_frames()):
            rec("in", data, T0 + i, False)
    table = recording_market_data(path, conid=265598)
    assert table.column("last").to_pylist() == [271.5, 271.7, 271.2]
    bars = bars_from_recording(path, 265598, "5s", gaps=[(T0 + 0.5, T0 + 1.5)])
    # by hand: [0 s, 5 s): 271.5, 271.7 (vol 150, spans the gap) | [5 s, 10 s): 271.2 (forming)
    assert [(b.open, b.high, b.low, b.close, b.volume, b.gap, b.complete) for b in bars] == [
        (271.5, 271.7, 271.5, 271.7, 150.0, True, True),
        (271.2, 271.2, 271.2, 271.2, 25.0, False, False),
    ]
    df = to_pandas(bars_table(bars))
    assert str(df["start"].dtype).endswith(", UTC]") and list(df["ticks"]) == [2, 1]
