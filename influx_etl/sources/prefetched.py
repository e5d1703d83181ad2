"""Prefetched users files: the one reader of them, and the source that answers from one.

A prefetched users file holds user objects saved earlier (the Rube MCP route's output, or an
export), one JSON value a line: the bare user object, ``{"data": {...}}``, or a whole API response
(``{"data": [...], "errors": [...]}``, whose ``errors`` entries count too). The reader
(:func:`line_chunks` + :func:`line_answers`, or :func:`prefetched_answers` for the whole file)
reads it with DuckDB's JSON reader into frames; :func:`skipped_lines` reports the lines that hold
none of these, telling broken JSON from valid JSON that holds no user. Every path that answers
from such a file reads it here: the lookup stage's whole-file and chunked joins
(:mod:`influx_etl.lookup`) and :meth:`PrefetchedSource.fetch_batch`, one batch at a time.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import re
import threading
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from influx_etl.apisim.synthetic import ORIGIN_FIELD, ORIGIN_RECORDED, ORIGIN_SYNTHETIC
from influx_etl.errors import SourceError
from influx_etl.sources.base import (
    BROKEN_LINE_DETAIL,
    BROKEN_LINE_TITLE,
    INPUT_DAMAGE_FIELD,
    NOT_IN_FILE_DETAIL,
    PROBLEM_NOT_FOUND,
    DatasetKind,
    RawBatch,
    RawFile,
    broken_lines_detail,
)
from influx_etl.sources.response import ERROR_DTYPE, USER_DTYPE
from influx_etl.sources.xclient import utc_now_iso

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

log = logging.getLogger(__name__)

USERNAME_IN_TEXT = re.compile(rb'"username"\s*:\s*"([A-Za-z0-9_]{1,15})"')
"""A handle named in the text of a line that is not JSON (e.g. truncated)."""

BROKEN_LINES_SCHEMA = pl.Schema({"line": pl.Int64, "handle_key": pl.String})
"""Broken lines of a prefetched users file: the physical ``line`` and each handle its text names
(``"username":"..."``), null when it names none."""


_KIND_LINES = 64
"""Non-blank lines :func:`prefetched_kind` reads at most to find the file's first user."""


def prefetched_kind(path: Path) -> DatasetKind:
    """Which dataset a users file's profiles belong to: ``simulated`` when its first user object
    carries the embedded server's mark (``influx generate-profiles`` writes it on every one), else
    ``live``. Only the first lines are read; a marked user further on is refused by the live
    dataset's guard. An unreadable file is ``live`` here: reading it reports the error."""
    try:
        with path.open("rb") as lines:
            for line in itertools.islice((ln for ln in lines if ln.strip()), _KIND_LINES):
                user = _first_user(line)
                if user is not None:
                    origin = user.get(ORIGIN_FIELD)
                    return "simulated" if origin in (ORIGIN_SYNTHETIC, ORIGIN_RECORDED) else "live"
    except OSError:
        pass
    return "live"


def _first_user(line: bytes) -> dict[str, object] | None:
    """The first user object of one line (bare, ``{"data": {...}}`` or ``{"data": [...]}``)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and "username" in value:
        return value
    return None


@dataclass(frozen=True)
class PrefetchedAnswers:
    """What a prefetched users file says, one row per lower-case handle (the last line wins)."""

    users: pl.DataFrame
    """``handle_key`` + the user object's fields (:data:`USER_DTYPE`)."""
    errors: pl.DataFrame
    """``handle_key`` + the ``errors[]`` entry's fields (:data:`ERROR_DTYPE`)."""
    lines: int
    """Non-blank lines read."""
    skipped_rows: pl.Series
    """Non-blank lines holding no usable user nor error, by row (the n-th non-blank line, from
    0); :func:`prefetched_answers` logged them with their line numbers."""
    broken: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BROKEN_LINES_SCHEMA))
    """The skipped lines that are broken JSON (:data:`BROKEN_LINES_SCHEMA`)."""

    @property
    def skipped(self) -> int:
        return self.skipped_rows.len()


_LINE = pl.Schema(
    {
        **{f.name: f.dtype for f in USER_DTYPE.fields},
        # a wrapped user ({"data": {...}}) or a whole response ({"data": [...]}): kept as JSON
        # text and decoded in a second pass, for the lines that have it only
        "data": pl.String(),
        "errors": pl.List(ERROR_DTYPE),
    }
)
"""What is read of each line of a prefetched users file."""


def _duckdb_type(dtype: PolarsDataType) -> str:
    if isinstance(dtype, pl.Struct):
        fields = ", ".join(f'"{f.name}" {_duckdb_type(f.dtype)}' for f in dtype.fields)
        return f"STRUCT({fields})"
    if isinstance(dtype, pl.List):
        return f"{_duckdb_type(dtype.inner)}[]"
    for scalar, name in ((pl.String, "VARCHAR"), (pl.Int64, "BIGINT"), (pl.Boolean, "BOOLEAN")):
        if dtype == scalar:
            return name
    raise SourceError(f"no DuckDB type for {dtype}")


def _file_line_chunks(path: Path, chunk_rows: int | None) -> Generator[pl.DataFrame]:
    """The non-blank lines of ``path`` (:data:`_LINE` + ``row``, the line's place among them),
    about ``chunk_rows`` at a time (``None``: all in one frame), read by DuckDB's JSON reader
    (faster than ``pl.read_ndjson`` with the same schema: docs/performance.md). The reader
    streams: DuckDB parses ahead on its threads while a chunk is processed, and holds only a few
    of its own batches meanwhile. A line that is not a JSON object gives a row of nulls
    (reported by the caller); a value of the wrong type is converted or null."""
    columns = ", ".join(
        f"'{name}': '{'JSON' if name == 'data' else _duckdb_type(dtype)}'"
        for name, dtype in _LINE.items()
    )
    query = (
        "SELECT * FROM read_json(?, format = 'newline_delimited', ignore_errors = true, "
        f"columns = {{{columns}}})"
    )
    offset = 0
    try:
        with duckdb.connect() as connection:
            # insertion order kept: row i is the i-th non-blank line (later lines win)
            reader = connection.sql(query, params=[str(path)]).to_arrow_reader(
                min(chunk_rows or _READ_BATCH_ROWS, _READ_BATCH_ROWS)
            )
            pending = pl.DataFrame(schema=_LINE)
            for batch in reader:
                pending = pl.concat([pending, pl.DataFrame(pl.from_arrow(batch))], rechunk=False)
                # DuckDB's batches need not be of the size asked for: chunks are cut here
                while chunk_rows is not None and pending.height >= chunk_rows:
                    yield pending.head(chunk_rows).with_row_index("row", offset=offset)
                    offset += chunk_rows
                    pending = pending.slice(chunk_rows)
            if pending.height or offset == 0:
                yield pending.with_row_index("row", offset=offset)
    except duckdb.Error as exc:
        raise SourceError(f"cannot read prefetched users file {path}: {exc}") from None


def _read_ahead(chunks: Generator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """``chunks``, the next one read on a thread while the caller works on the current one.

    DuckDB's streaming reader parses only when asked for rows (what a pause per chunk costs:
    docs/performance.md), and parsing and deciding both release the GIL, so on two cores they
    overlap. One chunk more is held meanwhile. The thread is the only one that touches
    ``chunks`` (and its connection).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-read-ahead") as reader:
        try:
            upcoming = reader.submit(next, chunks, None)
            while (chunk := upcoming.result()) is not None:
                upcoming = reader.submit(next, chunks, None)
                yield chunk
                del chunk  # not held while the next one is read
        finally:
            reader.submit(chunks.close).result()


_READ_BATCH_ROWS = 100_000
"""Rows DuckDB hands over at a time; a chunk is made of whole batches."""


def line_chunks(path: Path, chunk_rows: int | None) -> Iterator[pl.DataFrame]:
    """The non-blank lines of ``path`` as :func:`line_answers` reads them, about ``chunk_rows``
    at a time (``None``: all in one frame), the next chunk read while the caller works on one."""
    return _read_ahead(_file_line_chunks(path, chunk_rows))


def _wrapped_users(lines: pl.DataFrame) -> pl.DataFrame:
    """The users of the lines that wrap them in ``data`` (an object or a list), with ``row`` and
    their position in the line. Few files have such lines; each is decoded once more."""
    wrapped = lines.select("row", "username", "data").filter(
        pl.col("username").is_null() & pl.col("data").is_not_null()
    )
    if wrapped.is_empty():
        return pl.DataFrame(
            schema={"row": pl.UInt32, "position": pl.Int64, **USER_DTYPE.to_schema()}
        )
    is_list = pl.col("data").str.strip_chars_start().str.starts_with("[")
    parts = []
    for listed in (False, True):
        texts = wrapped.filter(is_list if listed else ~is_list)
        if texts.is_empty():
            continue
        text = texts.select(('{"d":' + pl.col("data") + "}").str.join("\n")).item()
        dtype = pl.List(USER_DTYPE) if listed else USER_DTYPE
        decoded = pl.read_ndjson(
            io.BytesIO(text.encode("utf-8")), schema={"d": dtype}, ignore_errors=True
        ).with_columns(texts["row"])
        if not listed:
            decoded = decoded.with_columns(pl.concat_list("d").alias("d"))
        parts.append(
            decoded.with_columns(position=pl.int_ranges(pl.col("d").list.len()))
            .explode("d", "position")
            .filter(pl.col("d").is_not_null())
            .unnest("d")
        )
    return pl.concat(parts).select(
        "row", pl.col("position").cast(pl.Int64), *USER_DTYPE.to_schema()
    )


def prefetched_answers(path: Path) -> PrefetchedAnswers:
    """Read a prefetched users file once: its users and its error entries by handle.

    The reading of every path that answers from a file (:class:`PrefetchedSource` too): a line
    is a bare user object (it has ``username``), ``{"data": {...}}`` or a whole API response
    ``{"data": [...], "errors": [...]}``; a user needs a non-empty ``id`` and ``username``; an
    error is filed under its ``value`` (else ``resource_id``); lines with none of these are
    logged with their line number and skipped.
    """
    (lines,) = _file_line_chunks(path, None)
    answers = line_answers(lines)
    if answers.skipped:
        broken = skipped_lines(path, answers.skipped_rows)
        answers = PrefetchedAnswers(
            answers.users, answers.errors, answers.lines, answers.skipped_rows, broken
        )
    return answers


def line_answers(lines: pl.DataFrame) -> PrefetchedAnswers:
    """What some lines of a prefetched users file say (see :func:`prefetched_answers`); the
    skipped rows are returned, not logged."""
    usable = (pl.col("id").fill_null("").str.len_bytes() > 0) & (
        pl.col("username").fill_null("").str.len_bytes() > 0
    )
    # A row that holds no usable bare user gets no key rather than being filtered out: a filter
    # copies every column (docs/performance.md), a null key only never joins.
    users = lines.select(
        "row",
        pl.lit(0, pl.Int64).alias("position"),
        pl.when(usable).then(pl.col("username").str.to_lowercase()).alias("handle_key"),
        *USER_DTYPE.to_schema(),
    )
    wrapped = _wrapped_users(lines)
    if wrapped.height:
        wrapped = wrapped.select(
            "row",
            "position",
            pl.when(usable).then(pl.col("username").str.to_lowercase()).alias("handle_key"),
            *USER_DTYPE.to_schema(),
        )
        users = pl.concat([users, wrapped]).sort("row", "position")
    user_rows = users.select("row", "handle_key").drop_nulls("handle_key").select("row")
    if users["handle_key"].drop_nulls().is_duplicated().any():
        users = users.drop_nulls("handle_key").unique("handle_key", keep="last")
    key = pl.coalesce(
        *(pl.when(pl.col(name) != "").then(pl.col(name)) for name in ("value", "resource_id"))
    ).str.to_lowercase()
    errors = (
        lines.select("row", "username", pl.col("errors").alias("error"))
        .filter(pl.col("username").is_null())
        .explode("error")
        .filter(pl.col("error").is_not_null())
        .unnest("error")
        .with_columns(key.alias("handle_key"))
        .filter(pl.col("handle_key").is_not_null())
    )
    # a line whose user a later line replaces was read all the same: not skipped
    answered = pl.concat([user_rows, errors.select("row")]).unique()
    skipped = lines.select("row").join(answered, on="row", how="anti")["row"]
    return PrefetchedAnswers(
        users=users.select("handle_key", *USER_DTYPE.to_schema()),
        errors=errors.unique("handle_key", keep="last", maintain_order=True).select(
            "handle_key", *ERROR_DTYPE.to_schema()
        ),
        lines=lines.height,
        skipped_rows=skipped,
    )


_SKIPPED_SHOWN = 20
"""Skipped lines logged one by one (the rest are counted)."""


def skipped_lines(path: Path, rows: pl.Series) -> pl.DataFrame:
    """Report the skipped lines by line number (blank lines have no row: count them back), each
    either as broken JSON or as JSON that is no user; returns the broken ones
    (:data:`BROKEN_LINES_SCHEMA`).

    A Python pass over the file's lines, made only when some line was skipped and stopped at the
    last skipped one: it re-reads just their text (DuckDB's reader gives a row of nulls for both
    kinds) to tell a truncated line from an object that holds no user.
    """
    wanted = set(rows.to_list())
    broken: list[tuple[int, str | None]] = []
    shown = 0
    row = 0
    found = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if found == len(wanted):
                break
            if not line.strip():
                continue
            row += 1
            if row - 1 not in wanted:
                continue
            found += 1
            try:
                json.loads(line)
            except ValueError as exc:
                names = [m.decode().lower() for m in USERNAME_IN_TEXT.findall(line)]
                broken.extend((number, name) for name in dict.fromkeys(names or [None]))
                reason = f"broken JSON ({exc})"
                if names:
                    reason += f"; it names @{', @'.join(dict.fromkeys(names))}"
            else:
                reason = (
                    "not a user object with 'id' and 'username' (bare, wrapped as "
                    '{"data": {...}} or in a whole API response)'
                )
            if shown < _SKIPPED_SHOWN:
                shown += 1
                log.warning("%s:%d: skipped: %s", path, number, reason)
    if rows.len() > shown:
        log.warning("%s: %d lines skipped in all", path, rows.len())
    frame = pl.DataFrame(broken, schema=BROKEN_LINES_SCHEMA, orient="row")
    if frame.height:
        log.error(
            "%s: broken JSON lines (truncated or not JSON): %d; the handles only they could "
            "have answered are reported as such",
            path,
            frame["line"].n_unique(),
        )
    return frame


class PrefetchedSource:
    """User objects saved to a JSONL file earlier (the Rube MCP route's output, or an export).

    A line may hold the bare user object, wrap it as ``{"data": {...}}``, or be a whole API
    response (``{"data": [...], "errors": [...]}``, whose ``errors`` entries count too). Lines
    that hold none of these are reported with file and line and skipped. Handles in neither are
    ``not_found``, with a detail saying the file does not have them.

    It is a :class:`BulkLookupSource`: a run stores, per batch, a reference to the file
    (:class:`RawFile`: path, size, SHA-256), and :func:`influx_etl.lookup.profiles` reads the
    file once, vectorised, joining it to the requested handles. :meth:`fetch_batch` answers one
    batch as a document, like the API: the file is read by the same reader on first use
    (:func:`prefetched_answers`) and its answers kept as JSON by handle.
    """

    kind: DatasetKind
    """``simulated`` when the file's users are the embedded server's (:func:`prefetched_kind`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"prefetched:{path}"
        self.kind = prefetched_kind(path)
        if self.kind == "simulated":
            log.warning(
                "%s holds the embedded server's synthetic users (%s mark): this run writes to the "
                "synthetic dataset, never the live one",
                path,
                ORIGIN_FIELD,
            )
        self._answers: _FileAnswers | None = None
        self._answers_lock = threading.Lock()
        # The file's SHA-256 (docs/performance.md) is computed while the run does other work;
        # hashlib lets go of the GIL. A file changed afterwards is hashed again when read.
        self._hashing = threading.Thread(target=self._hash, name=f"sha256:{path.name}", daemon=True)
        self._hashing.start()

    def __repr__(self) -> str:
        return f"PrefetchedSource({str(self.path)!r})"

    def _hash(self) -> None:
        with contextlib.suppress(OSError):  # fetch_batches hashes again and reports it
            RawFile.of(self.path)

    def bulk_answer(self) -> RawBatch:
        self._hashing.join()
        try:
            reference = RawFile.of(self.path)
        except OSError as exc:
            raise SourceError(f"cannot read prefetched users file {self.path}: {exc}") from None
        return RawBatch(
            batch_id=-1,
            handles=(),
            requested_at=utc_now_iso(),
            status=200,
            body=None,
            default_origin="prefetched",
            raw_file=reference,
        )

    def fetch_batches(self, work: Sequence[tuple[int, Sequence[str]]]) -> list[RawBatch]:
        answer = self.bulk_answer()
        return [
            replace(answer, batch_id=batch_id, handles=tuple(handles)) for batch_id, handles in work
        ]

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        with self._answers_lock:
            if self._answers is None:
                self._answers = _FileAnswers.of(self.path)
        answers = self._answers
        requested_at = utc_now_iso()
        found: list[str] = []
        errors: list[str] = []
        for handle in handles:
            key = handle.lower()
            if key in answers.users:
                found.append(answers.users[key])
            elif key in answers.errors:
                errors.append(answers.errors[key])
            elif key in answers.broken_named:
                errors.append(json.dumps(self._on_broken_line(handle), ensure_ascii=False))
            else:
                errors.append(json.dumps(self._not_in_file(handle), ensure_ascii=False))
        parts = []
        if found:
            parts.append('"data":[' + ",".join(found) + "]")
        if errors:
            parts.append('"errors":[' + ",".join(errors) + "]")
        if answers.broken_lines:
            damage = {"file": str(self.path.resolve()), "broken_lines": answers.broken_lines}
            parts.append(f'"{INPUT_DAMAGE_FIELD}":' + json.dumps(damage, ensure_ascii=False))
        return RawBatch(
            batch_id=batch_id,
            handles=tuple(handles),
            requested_at=requested_at,
            status=200,
            body="{" + ",".join(parts) + "}",
            default_origin="prefetched",
        )

    def _not_in_file(self, handle: str) -> dict[str, str]:
        detail = NOT_IN_FILE_DETAIL.format(handle=handle, file=self.path.name)
        unnamed = self._answers.broken_unnamed if self._answers else []
        if unnamed:
            detail += " " + broken_lines_detail(unnamed, self.path.name)
        return {
            "value": handle,
            "detail": detail,
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "usernames",
            "resource_id": handle,
            "type": PROBLEM_NOT_FOUND,
        }

    def _on_broken_line(self, handle: str) -> dict[str, str]:
        lines = self._answers.broken_named[handle.lower()] if self._answers else []
        detail = BROKEN_LINE_DETAIL.format(
            handle=handle, lines=", ".join(map(str, lines)), file=self.path.name
        )
        # a title the API does not use: the outcome is ``failed`` (see error_outcome)
        return {"value": handle, "detail": detail, "title": BROKEN_LINE_TITLE}


@dataclass(frozen=True)
class _FileAnswers:
    """What :func:`prefetched_answers` says of a file, by lower-case handle, as the JSON that
    :meth:`PrefetchedSource.fetch_batch` puts in its documents."""

    users: dict[str, str]
    """Lower-case username -> user object JSON (the :data:`USER_DTYPE` fields)."""
    errors: dict[str, str]
    """Lower-case handle -> errors[] entry JSON (the :data:`ERROR_DTYPE` fields)."""
    broken_named: dict[str, list[int]]
    """Lower-case handle no readable line answers -> the broken lines naming it."""
    broken_unnamed: list[int]
    """Broken lines naming no handle."""
    broken_lines: list[int]
    """Every broken line, in file order."""

    @classmethod
    def of(cls, path: Path) -> _FileAnswers:
        answers = prefetched_answers(path)
        users = answers.users.drop_nulls("handle_key")
        errors = answers.errors
        user_json = pl.struct([f.name for f in USER_DTYPE.fields]).struct.json_encode()
        error_json = pl.struct([f.name for f in ERROR_DTYPE.fields]).struct.json_encode()
        by_user = dict(users.select("handle_key", user_json).iter_rows())
        by_error = dict(errors.select("handle_key", error_json).iter_rows())
        broken_named: dict[str, list[int]] = {}
        broken_unnamed: list[int] = []
        # a few rows: one per broken line and handle it names
        for line, key in answers.broken.unique().sort("line").iter_rows():
            if key is None:
                broken_unnamed.append(line)
            elif key not in by_user and key not in by_error:  # else a readable line answers it
                broken_named.setdefault(key, []).append(line)
        broken_lines = sorted(set(answers.broken["line"].to_list()))
        return cls(by_user, by_error, broken_named, broken_unnamed, broken_lines)
