"""``RecorderSink`` (``client.record(path)``) writes the format its file name asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibstream.aio.recorder import read_recording
from ibstream.sinks import RawFrame, RecorderSink

T0 = 1_764_400_000.0  # epoch s


@pytest.mark.parametrize("name", ["s.jsonl", "s.jsonl.gz", "s.parquet"])
def test_record_to_each_format_reads_back(tmp_path: Path, name: str) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    sink = RecorderSink(tmp_path / name)
    sent = [
        RawFrame(direction="in", data=b'{"topic":"system","hb":1}', t=T0),
        RawFrame(direction="out", data="smd+265598+{}", t=T0 + 0.5),
        RawFrame(direction="in", data=b"\xff\xfe", t=T0 + 1, binary=True),
    ]
    for frame in sent:
        sink.emit(frame)
    sink.flush()
    sink.close()
    assert sink.frames == 3
    back = list(read_recording(tmp_path / name))
    assert [(f.direction, f.data, f.t, f.binary) for f in back] == [
        (f.direction, f.data if isinstance(f.data, bytes) else f.data.encode(), f.t, f.binary)
        for f in sent
    ]
