"""Export of events whose times are float epoch seconds (``Gap.start``/``end``, ``t``)."""

from __future__ import annotations

import pyarrow as pa

from ibstream.data import events_tables, objects_table, to_pandas
from ibstream.protocol.lifecycle import Gap
from ibstream.protocol.specs import StreamKey, Topic

T0 = 1_764_400_000.0  # epoch s


def test_float_epoch_times_with_sub_millisecond_digits() -> None:
    # Gap times come from the wall clock: microseconds and float noise, never whole ms
    key = StreamKey(Topic.MARKET_DATA, "265598")
    gap = Gap(key=key, start=T0 + 0.1234567, end=T0 + 2.0009999)
    table = events_tables([gap])["Gap"]
    assert table.schema.field("start").type == pa.timestamp("ms", tz="UTC")
    ms = (
        table.column("start").cast(pa.int64()).to_pylist()
        + table.column("end").cast(pa.int64()).to_pylist()
    )
    assert ms == [round((T0 + 0.1234567) * 1000), round((T0 + 2.0009999) * 1000)]
    df = to_pandas(objects_table([{"t": T0 + 0.0005001}, {"t": None}]))
    assert df["t"].iloc[0].value // 1_000_000 == round((T0 + 0.0005001) * 1000)
    assert df["t"].isna().iloc[1]


def test_a_flag_field_sent_as_unparsed_text_is_null_not_true() -> None:
    """A flag the decoder could not read stays text (``"false"``); in the bool column it is
    unknown (null), never ``bool("false") == True``."""
    import orjson

    from ibstream.data import market_data_table
    from ibstream.protocol.decoding import decode

    frames = [{"topic": "smd+1", "conid": 1, "7184": v} for v in ("0", "1", "false", "no")]
    events = [e for f in frames for e in decode(orjson.dumps(f))]
    table = market_data_table(events)
    assert table.column("can_be_traded").to_pylist() == [False, True, None, None]
