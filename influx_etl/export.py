"""Writes the dataset files and their manifest.

One export is five files in one folder:

* ``latest.jsonl`` — one record per line, in rank order (score desc, followers desc, handle, id);
* ``latest.jsonl.gz`` — the same bytes, gzipped with no file name and mtime 0;
* ``latest.parquet`` — the same records as typed nested columns (``meta`` and ``ext`` are structs),
  the types derived from the record schema;
* ``latest.csv`` — flat: one column per scalar field, named by its path (``meta.score``,
  ``ext.verified_type``); a list is joined with ``|`` (a list of objects gives one joined column
  per field: ``meta.sources.method``); absent values are empty. It is the one file meant for a
  spreadsheet, so a text cell a spreadsheet would evaluate as a formula gets a leading ``'`` and
  text cells are quoted (:func:`influx_etl.safe_text.spreadsheet_csv`) unless ``raw_csv``;
* ``manifest.json`` — schema version, record count, and every file's name, size and SHA-256
  (``sha256`` and ``file`` at the top describe ``latest.jsonl``, as in the original manifest).

Byte-identical when nothing changed: records have a fixed key order and carry no wall-clock time
of their own (``meta.last_refresh_at`` changes only when the looked-up data does); gzip and Parquet
output depend on the bytes alone (tested). ``generated_at`` is the one time in the manifest: it is
*when this content was first exported* — kept from the manifest already in the folder when that
one describes the same files, now otherwise — so an unchanged dataset gives an unchanged manifest
too. A file whose bytes would not change is not rewritten at all.

Every file is replaced atomically (written to a temporary file in the same directory, flushed to
disk, then ``os.replace``d), data files first and the manifest last, so a reader sees each file
either old or new, never half-written, and a manifest never describes files older than itself.

Bounded memory: the dataset is ranked on a few columns of every author
(:func:`influx_etl.score.rank_columns`), then scored, rendered, validated and appended to the four
temporary files :data:`EXPORT_SLICE_RECORDS` records at a time, each file's size and SHA-256 taken
as it is written. The JSONL, gzip and CSV bytes do not depend on the slice size (tested); the
Parquet file holds one row group per slice, so its bytes depend on the data and the slice size.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Protocol

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from jsonschema import Draft7Validator

from influx_etl import safe_text, score, timing, transform, validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ExportError
from influx_etl.score import in_rank_order

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

log = logging.getLogger(__name__)

DATASET_FILE: Final = "latest.jsonl"
GZIP_FILE: Final = "latest.jsonl.gz"
PARQUET_FILE: Final = "latest.parquet"
CSV_FILE: Final = "latest.csv"
MANIFEST_FILE: Final = "manifest.json"
EXPORT_FILES: Final = (DATASET_FILE, GZIP_FILE, PARQUET_FILE, CSV_FILE)
"""The data files of an export, in the order the manifest lists them."""

CSV_LIST_SEPARATOR: Final = "|"

EXPORT_SLICE_RECORDS: Final = 50_000
"""Records scored, rendered, validated and written at a time. The export holds about two slices
(one being written while the next is rendered) besides the ranking columns of every author."""


@dataclass(frozen=True)
class ExportedFile:
    name: str
    """File name, relative to the manifest."""
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says about an export."""

    schema_version: str
    count: int
    sha256: str
    """SHA-256 hex of the bytes of ``latest.jsonl``."""
    generated_at: str
    """ISO-8601 UTC with ``Z``: when this content was first exported."""
    file: str
    """Name of the JSONL file, relative to the manifest."""
    files: tuple[ExportedFile, ...] = field(default=())
    """Every data file of the export with its size and SHA-256."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    def describes_same_files(self, other: Mapping[str, Any]) -> bool:
        """Whether a parsed manifest describes the same export, whenever it was generated."""
        mine = json.loads(self.to_json())
        theirs = dict(other)
        mine.pop("generated_at")
        theirs.pop("generated_at", None)
        return bool(mine == theirs)


# -- record layout --------------------------------------------------------------------------------

_JSON_TYPES: Final[dict[str, pl.DataType]] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
}


def record_dtype(schema: dict[str, Any], where: str = "$") -> pl.DataType:
    """The Polars type of the values a JSON schema describes: objects become structs (fields in
    the schema's ``properties`` order, which is the records' key order), arrays lists."""
    kind = schema.get("type")
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        return pl.Struct(
            {name: record_dtype(sub, f"{where}.{name}") for name, sub in properties.items()}
        )
    if kind == "array":
        return pl.List(record_dtype(schema.get("items", {}), f"{where}[]"))
    if isinstance(kind, str) and kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    raise ExportError(f"record schema at {where}: no column type for JSON type {kind!r}")


RECORD_DTYPE: Final = record_dtype(validate.load_schema(DEFAULT_SCHEMA))
"""The records' structure as a Polars struct, from the bundled record schema."""
RECORD_SCHEMA: Final = pl.Schema(
    {member.name: member.dtype for member in RECORD_DTYPE.fields}
    if isinstance(RECORD_DTYPE, pl.Struct)
    else {}
)
"""The columns of :func:`record_frame`."""


def record_frame(documents: pl.DataFrame) -> pl.DataFrame:
    """The ``json`` column decoded into one typed column per top-level key (:data:`RECORD_DTYPE`);
    keys the schema does not know are left out, absent ones are null."""
    try:
        return documents.select(pl.col("json").str.json_decode(RECORD_DTYPE)).unnest("json")
    except pl.exceptions.PolarsError as error:
        raise ExportError(f"records do not match the record schema's types: {error}") from None


def flat_frame(records: pl.DataFrame) -> pl.DataFrame:
    """:func:`record_frame` flattened for CSV: one column per scalar field, named by its dotted
    path (``meta.score``); lists joined with :data:`CSV_LIST_SEPARATOR`, a list of objects as one
    joined column per field (``meta.sources.method``)."""
    columns: list[pl.Expr] = []
    for name, dtype in records.schema.items():
        columns += _flat_columns(pl.col(name), name, dtype)
    return records.select(columns)


def _flat_columns(value: pl.Expr, path: str, dtype: PolarsDataType) -> list[pl.Expr]:
    if isinstance(dtype, pl.Struct):
        columns: list[pl.Expr] = []
        for member in dtype.fields:
            columns += _flat_columns(
                value.struct.field(member.name), f"{path}.{member.name}", member.dtype
            )
        return columns
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if isinstance(inner, pl.Struct):
            return [
                _joined(value.list.eval(pl.element().struct.field(member.name))).alias(
                    f"{path}.{member.name}"
                )
                for member in inner.fields
            ]
        return [_joined(value).alias(path)]
    return [value.alias(path)]


def _joined(lists: pl.Expr) -> pl.Expr:
    return lists.list.eval(pl.element().cast(pl.String)).list.join(CSV_LIST_SEPARATOR)


# -- file contents --------------------------------------------------------------------------------


def in_export_order(documents: pl.DataFrame) -> pl.DataFrame:
    """Records in dataset order: score desc, followers desc, handle asc (then id): rank order.

    Works on any frame with ``score``, ``followers_count``, ``handle`` and ``id`` (the documents
    of :func:`influx_etl.transform.record_documents` or the authors frame).
    """
    return in_rank_order(documents)


def _jsonl_view(documents: pl.DataFrame) -> memoryview:
    """The ``json`` column as UTF-8 JSONL, one record per line, each ending in ``\\n`` (null
    texts left out): a view of the Arrow buffer, which it keeps alive, rather than a copy."""
    lines = (documents.get_column("json").drop_nulls() + "\n").to_arrow()
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return memoryview(b"")
    # The lines of an Arrow string array lie end to end in its data buffer: that buffer is the
    # file, copied once (docs/performance.md, "Design choices").
    lines = lines.cast(pa.large_string())
    _, offsets, data = lines.buffers()
    assert offsets is not None and data is not None
    bounds = memoryview(offsets).cast("q")
    start, end = bounds[lines.offset], bounds[lines.offset + len(lines)]
    return memoryview(data)[start:end]


GZIP_LEVEL: Final = 1
"""zlib's fastest: the gzip thread is the export's longest (the main thread waited for it at the
end), and a higher level costs more time than its smaller file is worth (docs/performance.md)."""


def gzip_compressor() -> zlib._Compress:
    """A gzip stream (``wbits`` 31) at :data:`GZIP_LEVEL`: zlib writes its header with neither a
    file name nor a time, as ``gzip.compress(..., mtime=0)`` does. zlib's output does not depend
    on how its input is cut, so a file compressed a slice at a time is the one-shot file
    (tested)."""
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzipped with neither a file name nor a time in the header: same bytes, same file."""
    compressor = gzip_compressor()
    return compressor.compress(data) + compressor.flush()


PARQUET_ZSTD_LEVEL: Final = 3
"""Polars' default level, which the Parquet file had while Polars wrote it in one piece."""


def parquet_bytes(records: pl.DataFrame) -> bytes:
    """A frame as Parquet in one piece (Polars' writer). Polars writes no time or random id into
    the file, so the same frame gives the same bytes (tested); the writer's version is in the
    footer. The export writes its file a slice at a time with pyarrow instead."""
    buffer = io.BytesIO()
    records.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def csv_bytes(records: pl.DataFrame, *, header: bool = True, raw: bool = False) -> bytes:
    """:func:`flat_frame` of ``records`` as CSV for a spreadsheet, formula cells neutralised
    (:func:`influx_etl.safe_text.spreadsheet_csv`; ``raw``: values as they are). Every value is
    written on its own, so slices written without their header one after the other make the
    whole frame's file (tested)."""
    return safe_text.spreadsheet_csv(flat_frame(records), header=header, raw=raw)


# -- where the authors come from ------------------------------------------------------------------


class AuthorSource(Protocol):
    """A dataset :func:`export_authors` reads a slice at a time (:class:`influx_etl.store.Store`
    is one; :class:`FrameAuthors` wraps a frame). Author ids are unique."""

    def author_columns(self, columns: tuple[str, ...]) -> pl.DataFrame:
        """These columns (of ``AUTHORS_SCHEMA``) of every author, rows in any order."""
        ...

    def authors_with_ids(self, ids: pl.Series) -> pl.DataFrame:
        """The ``AUTHORS_SCHEMA`` rows of the authors with these ids, in any order."""
        ...


@dataclass(frozen=True)
class FrameAuthors:
    """An ``AUTHORS_SCHEMA`` frame already in memory as an :class:`AuthorSource`."""

    authors: pl.DataFrame

    def author_columns(self, columns: tuple[str, ...]) -> pl.DataFrame:
        return self.authors.select(columns)

    def authors_with_ids(self, ids: pl.Series) -> pl.DataFrame:
        return self.authors.filter(pl.col("id").is_in(ids.implode()))


# -- writing --------------------------------------------------------------------------------------


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """OSError -> ExportError naming ``target``."""
    try:
        yield
    except OSError as error:
        raise ExportError(f"{target}: cannot write: {error.strerror or error}") from error


def _replace_atomically(target: Path, fill: Callable[[IO[bytes]], object]) -> None:
    """Replace ``target`` by what ``fill`` writes into a temporary file beside it, creating the
    directory; OSError -> ExportError."""
    temporary: Path | None = None
    try:
        with _writing(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
            ) as handle:
                temporary = Path(handle.name)
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            # a temporary file is private (0600); an export is for reading by others
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
            temporary = None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` by ``data`` atomically, creating its directory; OSError -> ExportError."""
    _replace_atomically(target, lambda handle: handle.write(data))


def _holds(target: Path, exported: ExportedFile) -> bool:
    """Whether ``target`` is a file of that size and SHA-256 (an unreadable one is not)."""
    try:
        if not target.is_file() or target.stat().st_size != exported.bytes:
            return False
        with target.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == exported.sha256
    except OSError:
        return False


def _write_if_changed(target: Path, data: bytes) -> None:
    """:func:`write_atomically` unless ``target`` already holds exactly ``data`` (its mtime then
    stays, so tools that watch files see no change)."""
    try:
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            return
    except OSError:
        pass  # unreadable: replace it
    write_atomically(target, data)


def _copy_if_changed(source: Path, target: Path, exported: ExportedFile) -> None:
    """``source`` (described by ``exported``) copied to ``target`` as :func:`_write_if_changed`
    writes bytes: atomically, and not at all when ``target`` holds them already."""
    if _holds(target, exported):
        return

    def copy(handle: IO[bytes]) -> None:
        with source.open("rb") as original:
            shutil.copyfileobj(original, handle, 1 << 20)

    _replace_atomically(target, copy)


class _TemporaryFile:
    """A temporary file beside ``target`` that learns its size and SHA-256 as it is written
    (pyarrow's Parquet writer uses it as a file object), then replaces ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target
        with _writing(target):
            descriptor, name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
        self.path = Path(name)
        self._file = os.fdopen(descriptor, "wb")
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        with _writing(self.target):
            self._file.write(view)
        self._sha256.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        with _writing(self.target):
            self._file.flush()

    def close(self) -> None:
        """Nothing: the file stays open until :meth:`install` or :meth:`discard`."""

    @property
    def closed(self) -> bool:
        return self._file.closed

    def exported(self) -> ExportedFile:
        return ExportedFile(name=self.target.name, sha256=self._sha256.hexdigest(), bytes=self.size)

    def install(self) -> None:
        """Replace ``target`` by this file atomically, unless it holds the same bytes already:
        then it is left untouched (its mtime stays, so tools that watch files see no change)."""
        with _writing(self.target):
            if _holds(self.target, self.exported()):
                self.discard()
                return
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            # a temporary file is private (0600); an export is for reading by others
            os.chmod(self.path, 0o644)
            os.replace(self.path, self.target)

    def discard(self) -> None:
        with suppress(OSError):
            self._file.close()
        self.path.unlink(missing_ok=True)


def _csv_header(raw: bool) -> bytes:
    return csv_bytes(pl.DataFrame(schema=RECORD_SCHEMA), raw=raw)


def _parquet_schema() -> pa.Schema:
    return pl.DataFrame(schema=RECORD_SCHEMA).to_arrow().schema


class _ExportWriter:
    """The data files of one export (:data:`EXPORT_FILES`) as temporary files in ``folder``,
    appended to a slice of documents at a time; :meth:`install` puts them in place. Used as a
    context manager: leaving it, the temporary files not installed are removed. ``raw_csv``:
    the CSV's cells as they are (:func:`csv_bytes`)."""

    def __init__(self, folder: Path, *, raw_csv: bool = False) -> None:
        with _writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self._raw_csv = raw_csv
        self._files: dict[str, _TemporaryFile] = {}
        self._parquet: pq.ParquetWriter | None = None
        # Two threads write a slice while the next one is rendered (zlib, hashlib, file writes
        # and pyarrow release the GIL): one gzips, the slowest part, one writes the other files;
        # a file's slices stay in order, each file having one thread. Waiting for both before
        # handing them the next slice keeps at most two slices in memory.
        self._pools = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-gzip"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-files"),
        )
        self._pending: list[Future[None]] = []
        try:
            for name in EXPORT_FILES:
                self._files[name] = _TemporaryFile(folder / name)
            self._gzip = gzip_compressor()
            self._parquet_schema = _parquet_schema()
            with _writing(folder / PARQUET_FILE):
                self._parquet = pq.ParquetWriter(
                    self._files[PARQUET_FILE],
                    self._parquet_schema,
                    compression="zstd",
                    compression_level=PARQUET_ZSTD_LEVEL,
                    # zstd compresses plain ids, names and texts better than their dictionaries
                    # (docs/performance.md, "Design choices")
                    use_dictionary=False,
                    write_statistics=True,
                )
            self._files[CSV_FILE].write(_csv_header(raw_csv))
        except BaseException:
            self.discard()
            raise

    def __enter__(self) -> _ExportWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()

    def append(self, documents: pl.DataFrame, records: pl.DataFrame | None = None) -> None:
        """Append documents (a ``json`` column) to every file. ``records``: :func:`record_frame`
        of them when the caller has it already (:attr:`influx_etl.validate.Validated.records`)."""
        if documents.height == 0:
            return
        with timing.stage("export.jsonl"):
            data = _jsonl_view(documents)
        with timing.stage("export.decode"):
            if records is None or records.schema != RECORD_SCHEMA:
                records = record_frame(documents)
            # one chunk: the Parquet pages must not depend on how Polars happened to chunk
            table = records.rechunk().to_arrow()
            if table.schema != self._parquet_schema:
                table = table.cast(self._parquet_schema)
        with timing.stage("export.csv"):
            csv = csv_bytes(records, header=False, raw=self._raw_csv)
        with timing.stage("export.writer_wait"):
            self._wait()
        gzipping, writing = self._pools
        self._pending = [
            gzipping.submit(self._write_gzip, data),
            writing.submit(self._write_files, data, table, csv),
        ]
        self.count += documents.height

    def _write_gzip(self, data: memoryview) -> None:
        self._files[GZIP_FILE].write(self._gzip.compress(data))

    def _write_files(self, data: memoryview, table: pa.Table, csv: bytes) -> None:
        self._files[DATASET_FILE].write(data)
        assert self._parquet is not None
        with _writing(self._files[PARQUET_FILE].target):
            self._parquet.write_table(table, row_group_size=table.num_rows)
        self._files[CSV_FILE].write(csv)

    def _wait(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def finish(self) -> tuple[ExportedFile, ...]:
        """Complete every file; their names, sizes and SHA-256 in :data:`EXPORT_FILES` order."""
        with timing.stage("export.writer_wait"):
            self._wait()
        self._files[GZIP_FILE].write(self._gzip.flush())
        assert self._parquet is not None
        with _writing(self._files[PARQUET_FILE].target):
            self._parquet.close()
        return tuple(self._files[name].exported() for name in EXPORT_FILES)

    def install(self) -> None:
        """Replace the files in the folder by the completed ones (:meth:`finish`), each atomically
        and only when its bytes changed."""
        for name in EXPORT_FILES:
            self._files[name].install()
            del self._files[name]

    def discard(self) -> None:
        """Remove the temporary files not installed (after the writing threads are done)."""
        for pool in self._pools:
            pool.shutdown(wait=True)
        if self._parquet is not None:
            # a writer left open would write its footer when collected, into a closed file
            with suppress(Exception):
                self._parquet.close()
        for temporary in self._files.values():
            temporary.discard()
        self._files.clear()


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_generated_at(folder: Path, manifest: Manifest) -> str | None:
    """``generated_at`` of the manifest in ``folder`` if it describes the same files."""
    try:
        previous = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(previous, dict) or not isinstance(previous.get("generated_at"), str):
        return None
    return previous["generated_at"] if manifest.describes_same_files(previous) else None


def _exported(
    slices: Iterable[tuple[pl.DataFrame, pl.DataFrame | None]],
    out_dir: Path,
    schema_version: str,
    extra_copy: Path | None,
    generated_at: str | None,
    snapshot_dir: Path | None,
    raw_csv: bool,
) -> Manifest:
    """Write the export of ``slices`` (documents and their records, in file order): the one
    writer behind :func:`export_dataset` and :func:`export_authors`."""
    with _ExportWriter(out_dir, raw_csv=raw_csv) as writer:
        for documents, records in slices:
            writer.append(documents, records)
            # the writing threads keep what they need: let the rest go before the next slice
            del documents, records
        files = writer.finish()
        with timing.stage("export.write"):
            manifest = Manifest(
                schema_version=schema_version,
                count=writer.count,
                sha256=files[0].sha256,
                generated_at=generated_at or "",
                file=DATASET_FILE,
                files=files,
            )
            if not generated_at:
                kept = _first_generated_at(out_dir, manifest)
                manifest = replace(manifest, generated_at=kept or _utc_now())
            writer.install()
            manifest_bytes = manifest.to_json().encode("utf-8")
            _write_if_changed(out_dir / MANIFEST_FILE, manifest_bytes)
    with timing.stage("export.write"):
        if snapshot_dir is not None:
            for exported in files:
                _copy_if_changed(out_dir / exported.name, snapshot_dir / exported.name, exported)
            _write_if_changed(snapshot_dir / MANIFEST_FILE, manifest_bytes)
        if extra_copy is not None:
            _copy_if_changed(out_dir / DATASET_FILE, extra_copy, files[0])
    return manifest


def _slice_starts(rows: int, slice_records: int) -> range:
    _check_slice_records(slice_records)
    return range(0, rows, slice_records)


def _check_slice_records(slice_records: int) -> None:
    if slice_records < 1:
        raise ValueError(f"slice_records must be >= 1, got {slice_records}")


def export_dataset(
    documents: pl.DataFrame,
    out_dir: Path,
    schema_version: str,
    extra_copy: Path | None = None,
    *,
    generated_at: str | None = None,
    snapshot_dir: Path | None = None,
    records: pl.DataFrame | None = None,
    slice_records: int = EXPORT_SLICE_RECORDS,
    raw_csv: bool = False,
) -> Manifest:
    """Write the export files (:data:`EXPORT_FILES`) and ``manifest.json`` into ``out_dir``.

    ``documents`` needs a ``json`` column and is written in the order given (sort it with
    :func:`in_export_order`). ``extra_copy`` gets the same JSONL bytes (the CLI's ``--out``).
    ``snapshot_dir`` (e.g. ``data/snapshots/2025-11-20``) gets a copy of every file, manifest
    included. ``generated_at`` defaults to the first export of the same content (module
    docstring), else now (UTC). ``records``: :func:`record_frame` of the documents when the caller
    has it already (the validation decoded them: :attr:`influx_etl.validate.Validated.records`).
    ``slice_records``: documents written at a time (:data:`EXPORT_SLICE_RECORDS`).
    ``raw_csv``: ``latest.csv`` with its cells as they are, formula cells included (for programs;
    by default a cell a spreadsheet would evaluate is neutralised: :func:`csv_bytes`).
    """
    if "json" not in documents.columns:
        raise ExportError(f"documents have no 'json' column (columns: {documents.columns})")
    if records is not None and records.height != documents.height:
        records = None
    starts = _slice_starts(documents.height, slice_records)
    slices = (
        (
            documents.slice(start, slice_records),
            None if records is None else records.slice(start, slice_records),
        )
        for start in starts
    )
    return _exported(
        slices, out_dir, schema_version, extra_copy, generated_at, snapshot_dir, raw_csv
    )


def export_authors(
    authors: pl.DataFrame | AuthorSource,
    out_dir: Path,
    validators: Sequence[Draft7Validator],
    schema_version: str,
    scoring: score.Scoring,
    extra_copy: Path | None = None,
    *,
    snapshot_dir: Path | None = None,
    generated_at: str | None = None,
    slice_records: int = EXPORT_SLICE_RECORDS,
    raw_csv: bool = False,
) -> Manifest:
    """Export a whole dataset: an ``AUTHORS_SCHEMA`` frame (e.g. ``Store.authors()``) or, in
    bounded memory, an :class:`AuthorSource` (e.g. the ``Store`` itself).

    The dataset is ranked on :data:`influx_etl.score.RANKING_COLUMNS` alone
    (:func:`influx_etl.score.rank_columns`); then ``slice_records`` authors at a time, in rank
    order, are read, given their composite scores and ranks (as
    :func:`influx_etl.score.rescored` would), rendered and validated against every validator (an
    invalid record is logged and left out), and appended to the files as by
    :func:`export_dataset` (``raw_csv`` as there).
    """
    _check_slice_records(slice_records)
    source = FrameAuthors(authors) if isinstance(authors, pl.DataFrame) else authors
    with timing.stage("export.rank"):
        ranks = score.rank_columns(source.author_columns(score.RANKING_COLUMNS))
    slices = (
        _checked_slice(source, ranks.slice(start, slice_records), validators, scoring)
        for start in _slice_starts(ranks.height, slice_records)
    )
    return _exported(
        slices, out_dir, schema_version, extra_copy, generated_at, snapshot_dir, raw_csv
    )


def _checked_slice(
    source: AuthorSource,
    ranks: pl.DataFrame,
    validators: Sequence[Draft7Validator],
    scoring: score.Scoring,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The valid documents of the authors ranked in ``ranks`` (rows of
    :func:`influx_etl.score.rank_columns`), in that order, and their records."""
    with timing.stage("export.fetch"):
        # one chunk: putting several chunks in rank order costs more than rechunking first
        authors = source.authors_with_ids(ranks.get_column("id")).rechunk()
    with timing.stage("export.rescore"):
        authors = score.with_ranks(score.composite_scored(authors, scoring), ranks)
    with timing.stage("export.render"):
        documents = transform.record_documents(authors, record=True)
    with timing.stage("export.validate"):
        checked = validate.validated(documents, validators)
    for row in checked.invalid.iter_rows(named=True):
        log.error(
            "not exported: %s (@%s) invalid at %s: %s",
            row["id"],
            row["handle"],
            row["path"],
            row["message"],
        )
    return checked.valid, checked.records
