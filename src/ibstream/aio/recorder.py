"""Record raw frames: JSON lines (the format ``ibstream sim --replay`` serves) or Parquet.

JSON lines: one object per line, ``{"t": <epoch s>, "dir": "in"|"out", "frame": "<text>"}``; a
frame that is not valid UTF-8 is stored as ``"enc": "b64"`` with base64 bytes, a binary frame
gets ``"binary": true``. A path ending in ``.gz`` is gzip-compressed.

Parquet (:class:`ParquetFrameRecorder`, a path ending in ``.parquet``; needs ``pyarrow``, the
``data`` extra): the same frames, nothing lost to a schema, columnar and zstd-compressed, in
rolling files when asked. Schema (one row per frame): ``t`` ``timestamp[us, UTC]`` (receive
time), ``dir`` ``dictionary<string>`` (``"in"``/``"out"``), ``binary`` ``bool``, ``data``
``binary`` (the frame's bytes as received). :func:`read_recording` reads both formats; for
Parquet it also takes a directory or a rolled set (``day.parquet`` finds ``day-00000.parquet``,
``day-00001.parquet``, ...). Attach a recorder with ``client.on_frame(recorder)``.
"""

from __future__ import annotations

import base64
import glob
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self, cast

import orjson

from ibstream.exceptions import InvalidArgument

__all__ = [
    "PARQUET_SCHEMA_VERSION",
    "FrameRecorder",
    "ParquetFrameRecorder",
    "RecordedFrame",
    "is_parquet_recording",
    "read_recording",
]

#: stored in each Parquet file's metadata (``ibstream.recording``) so a reader can refuse a
#: layout it does not know
PARQUET_SCHEMA_VERSION = "1"


def _open(path: Path, mode: str) -> IO[bytes]:
    """A binary file, gzip-compressed when the name ends in ``.gz``."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, mode))
    return cast(IO[bytes], open(path, mode))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedFrame:
    """One line of a recording."""

    t: float
    direction: str
    data: bytes
    binary: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class _Recorder:
    """What both recorders share: the frames they take, their counts (frames, bytes, the
    receive-time span, for progress lines) and ``with``."""

    def __init__(self, path: str | Path, include_outgoing: bool) -> None:
        self.path = Path(path)
        self.include_outgoing = include_outgoing
        self.frames = 0
        self.bytes = 0
        self.first_t: float | None = None
        self.last_t: float | None = None

    def _payload(self, direction: str, data: bytes | str) -> bytes | None:
        """The frame's bytes, or ``None`` for an outgoing frame not recorded."""
        if direction == "out" and not self.include_outgoing:
            return None
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def _count(self, payload: bytes, now: float) -> None:
        self.frames += 1
        self.bytes += len(payload)
        if self.first_t is None:
            self.first_t = now
        self.last_t = now

    @property
    def duration(self) -> float:
        if self.first_t is None or self.last_t is None:
            return 0.0
        return self.last_t - self.first_t

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameRecorder(_Recorder):
    """Writes frames to a JSON-lines file; counts frames and bytes for progress lines."""

    def __init__(self, path: str | Path, *, include_outgoing: bool = True) -> None:
        super().__init__(path, include_outgoing)
        try:
            self._fh: IO[bytes] = _open(self.path, "wb")
        except OSError as exc:
            raise InvalidArgument("path", f"cannot write {str(path)!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<FrameRecorder {self.path} frames={self.frames} bytes={self.bytes}>"

    def __call__(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        payload = self._payload(direction, data)
        if payload is None:
            return
        line: dict[str, Any] = {"t": round(now, 6), "dir": direction}
        try:
            line["frame"] = payload.decode("utf-8")
        except UnicodeDecodeError:
            line["frame"] = base64.b64encode(payload).decode("ascii")
            line["enc"] = "b64"
        if binary:
            line["binary"] = True
        self._fh.write(orjson.dumps(line) + b"\n")
        self._count(payload, now)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_recording(path: str | Path) -> Iterator[RecordedFrame]:
    """Read a recording (JSON lines, ``.gz``, or Parquet: a file, a rolled set or a directory);
    raises ``InvalidArgument`` naming the line or file for a malformed recording."""
    p = Path(path)
    if is_parquet_recording(p):
        yield from _read_parquet(p)
        return
    try:
        fh = _open(p, "rb")
    except OSError as exc:
        raise InvalidArgument("file", f"cannot read {str(path)!r}: {exc}") from exc
    with fh:
        try:  # reading, not parsing, fails for a .gz cut off by a crash or not gzip at all
            for number, line in enumerate(fh, 1):
                stripped = line.strip()
                if not stripped or stripped.startswith(b"#"):
                    continue
                try:
                    obj = orjson.loads(stripped)
                    frame = obj["frame"]
                    data = (
                        base64.b64decode(frame)
                        if obj.get("enc") == "b64"
                        else frame.encode("utf-8")
                    )
                    yield RecordedFrame(
                        t=float(obj["t"]),
                        direction=str(obj.get("dir", "in")),
                        data=data,
                        binary=bool(obj.get("binary", False)),
                    )
                except (
                    orjson.JSONDecodeError,
                    KeyError,
                    TypeError,
                    ValueError,
                    AttributeError,
                ) as exc:
                    raise InvalidArgument(
                        "file", f"{p.name} line {number} is not a recorded frame: {exc}"
                    ) from exc
        except (OSError, EOFError) as exc:
            raise InvalidArgument("file", f"{p.name}: unreadable recording ({exc})") from exc


# -- Parquet ---------------------------------------------------------------------------------


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        from ibstream._deps import DependencyError

        raise DependencyError(
            "Parquet recordings need pyarrow: pip install 'ibstream[data]'"
        ) from exc
    return pa, pq


class ParquetFrameRecorder(_Recorder):
    """Writes frames to Parquet (schema in the module docstring), ``FrameRecorder``'s interface.

    Rows are buffered and written as one row group per ``batch`` frames (and on ``flush``).
    ``roll_bytes`` / ``roll_seconds`` start a new file once the current one holds that many
    frame bytes or spans that much receive time: files are then named ``<stem>-00000.parquet``,
    ``<stem>-00001.parquet``... next to ``path`` (``paths`` lists them).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        include_outgoing: bool = True,
        roll_bytes: int | None = None,
        roll_seconds: float | None = None,
        batch: int = 10_000,
        compression: str = "zstd",
    ) -> None:
        self._pa, self._pq = _pyarrow()
        for name, value in (("roll_bytes", roll_bytes), ("roll_seconds", roll_seconds)):
            if value is not None and not value > 0:
                raise InvalidArgument(name, f"must be positive, got {value!r}")
        if not (isinstance(batch, int) and batch > 0):
            raise InvalidArgument("batch", f"must be a positive int, got {batch!r}")
        super().__init__(path, include_outgoing)
        self.roll_bytes = roll_bytes
        self.roll_seconds = roll_seconds
        self.batch = batch
        self.compression = compression
        self.paths: list[Path] = []
        self._rolling = roll_bytes is not None or roll_seconds is not None
        self._writer: Any = None
        self._file_bytes = 0
        self._file_t0: float | None = None
        self._rows: tuple[list[int], list[str], list[bool], list[bytes]] = ([], [], [], [])
        self._schema = self._pa.schema(
            [
                ("t", self._pa.timestamp("us", tz="UTC")),
                ("dir", self._pa.dictionary(self._pa.int8(), self._pa.string())),
                ("binary", self._pa.bool_()),
                ("data", self._pa.binary()),
            ],
            metadata={"ibstream.recording": PARQUET_SCHEMA_VERSION},
        )
        if self._rolling:
            self._remove_earlier_set()
        self._open_file()

    def __repr__(self) -> str:
        return f"<ParquetFrameRecorder {self.path} frames={self.frames} files={len(self.paths)}>"

    def _remove_earlier_set(self) -> None:
        """A new rolled set replaces an earlier recording at the same path, as a new single file
        does: its leftover files would otherwise be read back as part of this one."""
        for stale in [self.path, *_rolled_files(self.path)]:
            try:
                stale.unlink(missing_ok=True)
            except OSError as exc:
                raise InvalidArgument("path", f"cannot replace {str(stale)!r}: {exc}") from exc

    def _open_file(self) -> None:
        if self._rolling:
            target = self.path.with_name(f"{self.path.stem}-{len(self.paths):05d}.parquet")
        else:
            target = self.path
        try:
            self._writer = self._pq.ParquetWriter(
                str(target), self._schema, compression=self.compression
            )
        except OSError as exc:
            raise InvalidArgument("path", f"cannot write {str(target)!r}: {exc}") from exc
        self.paths.append(target)
        self._file_bytes = 0
        self._file_t0 = None

    def __call__(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        payload = self._payload(direction, data)
        if payload is None:
            return
        if self._rolling and self._due(now):
            self._write_rows()
            self._writer.close()
            self._open_file()
        times, dirs, bins, datas = self._rows
        times.append(round(now * 1_000_000))
        dirs.append(direction)
        bins.append(bool(binary))
        datas.append(payload)
        self._count(payload, now)
        self._file_bytes += len(payload)
        if self._file_t0 is None:
            self._file_t0 = now
        if len(times) >= self.batch:
            self._write_rows()

    def _due(self, now: float) -> bool:
        if self._file_t0 is None:
            return False
        if self.roll_bytes is not None and self._file_bytes >= self.roll_bytes:
            return True
        return self.roll_seconds is not None and now - self._file_t0 >= self.roll_seconds

    def _write_rows(self) -> None:
        times, dirs, bins, datas = self._rows
        if not times or self._writer is None:
            return
        pa = self._pa
        table = pa.Table.from_arrays(
            [
                pa.array(times, type=pa.timestamp("us", tz="UTC")),
                pa.array(dirs, type=pa.string())
                .dictionary_encode()
                .cast(self._schema.field("dir").type),
                pa.array(bins, type=pa.bool_()),
                pa.array(datas, type=pa.binary()),
            ],
            schema=self._schema,
        )
        self._writer.write_table(table)
        self._rows = ([], [], [], [])

    def flush(self) -> None:
        self._write_rows()

    def close(self) -> None:
        if self._writer is not None:
            self._write_rows()
            self._writer.close()
            self._writer = None


def _rolled_files(p: Path) -> list[Path]:
    """The files of the rolled set ``p`` names (``<stem>-00000.parquet``, ... past
    ``-99999`` too), in order."""
    prefix = f"{p.stem}-"
    numbered: list[tuple[int, Path]] = []
    for file in p.parent.glob(f"{glob.escape(prefix)}[0-9][0-9][0-9][0-9][0-9]*.parquet"):
        digits = file.name[len(prefix) : -len(".parquet")]
        if digits.isascii() and digits.isdigit():
            numbered.append((int(digits), file))
    return [file for _, file in sorted(numbered)]


def is_parquet_recording(p: Path) -> bool:
    """Whether ``p`` is a Parquet recording: by name, a directory, a file starting with
    Parquet's magic (``--format parquet`` under another name) or a rolled set's name."""
    if p.suffix == ".parquet" or p.is_dir():
        return True
    if p.is_file():
        try:
            with open(p, "rb") as fh:
                return fh.read(4) == b"PAR1"
        except OSError:
            return False
    return not p.exists() and bool(_rolled_files(p))


def _natural(file: Path) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", file.name)]


def _parquet_files(p: Path) -> list[Path]:
    if p.is_dir():  # day-99999 before day-100000: numbers in names sort as numbers
        return sorted(p.glob("*.parquet"), key=_natural)
    if p.exists():
        return [p]
    return _rolled_files(p)


def _read_parquet(p: Path) -> Iterator[RecordedFrame]:
    _, pq = _pyarrow()
    files = _parquet_files(p)
    if not files:
        raise InvalidArgument("file", f"cannot read {str(p)!r}: no such Parquet recording")
    for file in files:
        try:
            pf = pq.ParquetFile(str(file))
            meta = pf.schema_arrow.metadata or {}
            version = meta.get(b"ibstream.recording")
            if version != PARQUET_SCHEMA_VERSION.encode():
                raise InvalidArgument(
                    "file", f"{file.name} is not an ibstream frame recording (version {version!r})"
                )
            pa = _pyarrow()[0]
            for batch in pf.iter_batches(columns=["t", "dir", "binary", "data"]):
                micros = batch.column(0).cast(pa.int64()).to_pylist()
                dirs = batch.column(1).cast(pa.string()).to_pylist()
                bins = batch.column(2).to_pylist()
                datas = batch.column(3).to_pylist()
                for t, d, b, data in zip(micros, dirs, bins, datas, strict=True):
                    yield RecordedFrame(t=t / 1e6, direction=d, data=data, binary=bool(b))
        except InvalidArgument:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(
                "file", f"{file.name}: unreadable Parquet recording ({exc})"
            ) from exc
