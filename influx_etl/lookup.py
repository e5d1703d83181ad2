"""Lookup stage: batches of handles → raw API documents → one profile row per handle.

Extract and normalise are kept apart (as dlt does): :func:`raw_batches` only fetches and yields
:class:`~influx_etl.sources.RawBatch` objects, which the pipeline commits to the store before
anything reads them; :func:`profiles` turns stored raw documents into the PROFILES frame with Polars
(one ``json_decode`` over all bodies, then explode/join), so a rules change can be replayed on the
stored raw lookups without calling the API again.

Raw batches answered by a file (a prefetched users file, stored by reference: ``raw_file``) are
normalised by the same function: the file is read once (:func:`prefetched_answers`, DuckDB's JSON
reader, then Polars) and its users and errors are joined to the handles those batches requested;
from there both kinds of batch go through the same user normalisation, error classification and
outcome rules.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
from joblib import Parallel, delayed

from influx_etl.errors import SourceError
from influx_etl.frames import PROFILES_SCHEMA, PUBLIC_METRICS, compacted
from influx_etl.sources import (
    BROKEN_LINE_DETAIL,
    INPUT_DAMAGE_FIELD,
    NOT_IN_FILE_DETAIL,
    PROBLEM_INVALID,
    PROBLEM_NOT_FOUND,
    USERNAME_IN_TEXT,
    LookupSource,
    RawBatch,
    RawFile,
    WorkerLookupSource,
    broken_lines_detail,
)

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

log = logging.getLogger(__name__)

_URL_ENTITY = pl.Struct({"urls": pl.List(pl.Struct({"expanded_url": pl.String}))})
_USER = pl.Struct(
    {
        "id": pl.String,
        "username": pl.String,
        "name": pl.String,
        "description": pl.String,
        "created_at": pl.String,
        "location": pl.String,
        "url": pl.String,
        "profile_image_url": pl.String,
        "protected": pl.Boolean,
        # The legacy boolean; some recorded payloads carry the type here ("blue"): read as text.
        "verified": pl.String,
        "verified_type": pl.String,
        "pinned_tweet_id": pl.String,
        "public_metrics": pl.Struct({metric: pl.Int64 for metric in PUBLIC_METRICS}),
        "entities": pl.Struct({"url": _URL_ENTITY, "description": _URL_ENTITY}),
        "_influx_origin": pl.String,
    }
)
_ERROR = pl.Struct(
    {
        "value": pl.String,
        "resource_id": pl.String,
        "title": pl.String,
        "detail": pl.String,
        "type": pl.String,
    }
)
_TWEET = pl.Struct({"id": pl.String, "created_at": pl.String})
RESPONSE_DTYPE = pl.Struct(
    {
        "data": pl.List(_USER),
        "errors": pl.List(_ERROR),
        "includes": pl.Struct({"tweets": pl.List(_TWEET)}),
        INPUT_DAMAGE_FIELD: pl.Struct({"file": pl.String, "broken_lines": pl.List(pl.Int64)}),
    }
)
"""The part of a ``/2/users/by`` document the pipeline reads."""

RAW_SCHEMA = pl.Schema(
    [
        ("batch_id", pl.Int64()),
        ("handles", pl.List(pl.String)),
        ("requested_at", pl.String()),
        ("status", pl.Int64()),
        ("body", pl.String()),
        ("error", pl.String()),
        ("default_origin", pl.String()),
        ("raw_file", pl.String()),
    ]
)
"""Raw lookups as a frame: what :func:`profiles` reads (the store's raw table has these columns).
``raw_file`` is the JSON of a :class:`~influx_etl.sources.RawFile` when a file answers the batch
(``body`` is then null)."""

_VERIFIED_TYPES = ("blue", "business", "government", "none")


def batched(seeds: pl.DataFrame, batch_size: int, first_batch_id: int = 0) -> pl.DataFrame:
    """The seeds with a ``batch_id`` column: consecutive runs of ``batch_size`` handles,
    numbered from ``first_batch_id`` (a resumed run numbers its new batches after the stored)."""
    return seeds.with_columns(
        (pl.int_range(pl.len()) // batch_size + first_batch_id).cast(pl.Int64).alias("batch_id")
    )


def settled_handles(raw: pl.DataFrame) -> pl.Series:
    """Handle keys the stored raw documents answer definitively (any outcome but ``failed``)."""
    return profiles(raw).filter(pl.col("outcome") != "failed")["handle_key"]


def batch_handles(batches: pl.DataFrame) -> list[tuple[int, list[str]]]:
    """``(batch_id, handles)`` pairs in batch order, for the workers."""
    grouped = batches.group_by("batch_id", maintain_order=True).agg(pl.col("handle"))
    return list(zip(grouped["batch_id"].to_list(), grouped["handle"].to_list(), strict=True))


def raw_batches(
    source: LookupSource, work: list[tuple[int, list[str]]], parallel_batches: int
) -> Iterator[RawBatch]:
    """Fetch every batch with ``parallel_batches`` joblib workers, yielding each as it completes.

    Threads by default: the work is waiting on the network, and threads share one connection
    pool and one rate-limit budget. A :class:`~influx_etl.sources.WorkerLookupSource`
    (``--backend loky`` or ``dask``) runs the batches in other processes or on a cluster, with
    one budget for all of them; either way each batch comes back here, to be committed by this
    process alone.
    """
    if not work:
        return
    if isinstance(source, WorkerLookupSource):
        yield from source.batches(work, parallel_batches)
        return
    parallel = Parallel(
        n_jobs=min(parallel_batches, len(work)),
        backend="threading",
        return_as="generator_unordered",
    )
    yield from parallel(
        delayed(source.fetch_batch)(batch_id, handles) for batch_id, handles in work
    )


def raw_frame(batches: list[RawBatch]) -> pl.DataFrame:
    """Raw batches as a frame with :data:`RAW_SCHEMA`."""
    return pl.DataFrame(
        {
            "batch_id": [b.batch_id for b in batches],
            "handles": [list(b.handles) for b in batches],
            "requested_at": [b.requested_at for b in batches],
            "status": [b.status for b in batches],
            "body": [b.body for b in batches],
            "error": [b.error for b in batches],
            "default_origin": [b.default_origin for b in batches],
            "raw_file": [b.raw_file.to_json() if b.raw_file else None for b in batches],
        },
        schema=RAW_SCHEMA,
    )


def profiles(raw: pl.DataFrame, notes: LookupNotes | None = None) -> pl.DataFrame:
    """One row per requested handle with its outcome and, when found, the flattened user object.

    Outcomes: ``found`` (a user came back), ``not_found`` / ``suspended`` / ``invalid`` (from the
    document's ``errors``; ``invalid`` is a handle the API refused with a 400), ``failed`` (the
    batch failed before answering it, an error entry of another kind, or the handle is in neither
    ``data`` nor ``errors``).
    Users are matched to requested handles case-insensitively. Batches answered by a file
    (``raw_file``) are answered from it as :class:`~influx_etl.sources.PrefetchedSource` answers
    a batch: a user of the file, else an error entry of the file, else ``not_found`` (the file
    does not have the handle; ``failed`` when a broken line of the file names it). Broken lines
    of the files are counted in ``notes``.
    """
    if "raw_file" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, pl.String).alias("raw_file"))
    requested = requested_handles(raw, "error", "raw_file")
    from_documents = requested.filter(pl.col("raw_file").is_null())
    parts = [
        _answered_by_documents(raw.filter(pl.col("raw_file").is_null()), from_documents, notes)
    ]
    from_files = requested.filter(pl.col("raw_file").is_not_null())
    for reference in from_files["raw_file"].unique(maintain_order=True).to_list():
        wanted = from_files.filter(pl.col("raw_file") == reference)
        parts.extend(
            _answered_by_file(RawFile.from_json(reference), wanted, chunk_rows=None, notes=notes)
        )
    decided = _with_outcomes(pl.concat(parts, how="vertical"))
    if requested["handle_key"].is_duplicated().any():
        # A handle asked again (a resumed run retrying its failures) has several rows: the
        # definitive answer wins over a failure, a later batch over an earlier one.
        decided = (
            decided.sort(
                [pl.col("outcome") == "failed", "batch_id"],
                descending=[False, True],
                maintain_order=True,
            )
            .unique("handle_key", keep="first", maintain_order=True)
            .sort("batch_id", maintain_order=True)
        )
    return _as_profiles(decided)


def requested_handles(raw: pl.DataFrame, *extra: str) -> pl.DataFrame:
    """One row per handle each raw batch asked for: ``batch_id``, ``default_origin``,
    ``fetched_at`` (the batch's request time), ``handle``, ``handle_key`` and ``extra`` columns
    of the batch."""
    return (
        raw.select(
            "batch_id",
            *extra,
            "default_origin",
            pl.col("requested_at").alias("fetched_at"),
            pl.col("handles").alias("handle"),
        )
        .explode("handle")
        .with_columns(pl.col("handle").str.to_lowercase().alias("handle_key"))
    )


def file_profiles(
    reference: RawFile,
    requested: pl.DataFrame,
    chunk_rows: int | None,
    carried: Sequence[str] = (),
    per_batch: pl.DataFrame | None = None,
    notes: LookupNotes | None = None,
) -> Iterator[pl.DataFrame]:
    """PROFILES rows of the handles ``requested`` (``batch_id``, ``handle``, ``handle_key``,
    ``fetched_at``, ``default_origin``; one row per handle) from the prefetched file
    ``reference``, reading about ``chunk_rows`` lines at a time (``None``: all at once).
    ``per_batch`` (``batch_id`` and columns of the batch, such as ``fetched_at`` and
    ``default_origin``) is joined to each chunk's rows instead of widening every requested row
    (at ten million handles the two columns cost 0.7 GB when carried by every row).

    What :func:`profiles` says of those handles, delivered in pieces so that the file never has
    to fit in memory: first, chunk by chunk, the handles a user line of the chunk answers (a
    handle the file holds twice comes again in a later chunk: the *last* row given for a handle
    is its answer, as the last line of the file is in :func:`profiles`); then, once the whole
    file was read, every other handle, answered by the file's error entries or ``not_found``.
    ``carried`` columns of ``requested`` come along (the seed columns, joined once rather than
    to every chunk). Broken lines of the file are counted in ``notes``.
    """
    if "error" not in requested.columns:  # a file's batches have no batch error
        requested = requested.with_columns(pl.lit(None, pl.String).alias("error"))
    for chunk in _answered_by_file(reference, requested, chunk_rows, carried, per_batch, notes):
        yield _as_profiles(_with_outcomes(chunk), carried)


def _with_batch_columns(rows: pl.DataFrame, per_batch: pl.DataFrame | None) -> pl.DataFrame:
    if per_batch is None:
        return rows
    return rows.join(per_batch, on="batch_id", how="left", maintain_order="left")


def _with_outcomes(joined: pl.DataFrame) -> pl.DataFrame:
    """Answer rows (:data:`_ANSWER_COLUMNS`) + ``outcome`` and ``outcome_detail``."""
    # What the document says about a handle comes first; a batch error (a request that kept
    # failing) explains the handles the document leaves unanswered.
    answered = pl.col("error_outcome").is_not_null() & (
        (pl.col("error_outcome") != "failed") | pl.col("error").is_null()
    )
    outcome = (
        pl.when(pl.col("id").is_not_null())
        .then(pl.lit("found"))
        .when(answered)
        .then(pl.col("error_outcome"))
        .otherwise(pl.lit("failed"))
    )
    detail = (
        pl.when(pl.col("id").is_not_null())
        .then(pl.lit(None, pl.String))
        .when(answered)
        .then(pl.col("error_detail"))
        .when(pl.col("error").is_not_null())
        .then(pl.col("error"))
        .otherwise(pl.lit("the response mentioned this handle in neither data nor errors"))
    )
    return joined.with_columns(outcome.alias("outcome"), detail.alias("outcome_detail"))


def _as_profiles(frame: pl.DataFrame, carried: Sequence[str] = ()) -> pl.DataFrame:
    return frame.select(
        *(pl.col(name).cast(dtype) for name, dtype in PROFILES_SCHEMA.items()), *carried
    )


_ANSWER_COLUMNS = [
    *(name for name in PROFILES_SCHEMA if name not in ("outcome", "outcome_detail")),
    "error",
    "error_outcome",
    "error_detail",
]
"""What each kind of batch contributes, before the outcome rules: the requested handle, its user
columns (null unless found), the batch error and the error entry naming the handle."""


def _answered_by_documents(
    raw: pl.DataFrame, requested: pl.DataFrame, notes: LookupNotes | None = None
) -> pl.DataFrame:
    """The requested handles of batches stored as documents, joined to the users and error
    entries of their own batch's document; the broken lines of the files that answered some
    of them (:data:`~influx_etl.sources.INPUT_DAMAGE_FIELD`) are counted in ``notes``."""
    decoded = raw.with_columns(pl.col("body").str.json_decode(RESPONSE_DTYPE).alias("doc"))
    if notes is not None:
        broken = (
            decoded.select(pl.col("doc").struct.field(INPUT_DAMAGE_FIELD).alias("notes"))
            .unnest("notes")
            .explode("broken_lines")
            .drop_nulls()
            .unique()
        )
        notes.broken_lines += broken.height
        notes.files.extend(broken["file"].unique(maintain_order=True).to_list())
    users = (
        decoded.select(
            "batch_id", "default_origin", pl.col("doc").struct.field("data").alias("user")
        )
        .explode("user")
        .filter(pl.col("user").is_not_null())
        .unnest("user")
        .with_columns(pl.col("username").str.to_lowercase().alias("handle_key"))
    )
    users = _normalised_users(users).join(
        _pinned_tweets(decoded), on=["batch_id", "pinned_tweet_id"], how="left"
    )
    # A response names each user once; a duplicate would double a handle's row.
    users = users.unique(["batch_id", "handle_key"], keep="first", maintain_order=True)
    if notes is not None:
        strays = users.join(requested, on=["batch_id", "handle_key"], how="anti")
        notes.unrequested_users += strays.height
        notes.unrequested_examples.extend(strays["username"].head(5).to_list())
    errors = _classified_errors(
        decoded.select("batch_id", pl.col("doc").struct.field("errors").alias("err"))
        .explode("err")
        .filter(pl.col("err").is_not_null())
        .unnest("err")
    ).unique(["batch_id", "handle_key"], keep="first")
    keys = ["batch_id", "handle_key"]
    return (
        requested.drop("default_origin")
        .join(users, on=keys, how="left")
        .join(errors.drop("value", "resource_id", "title", "detail", "type"), on=keys, how="left")
        .select(_ANSWER_COLUMNS)
    )


def _normalised_users(users: pl.DataFrame) -> pl.DataFrame:
    """Raw user objects (the :data:`_USER` fields and ``default_origin``) -> the PROFILES user
    columns: the one normalisation of every source's users."""
    # Two steps: what several columns use is made once (an eager frame computes a repeated
    # subexpression again for every use; 1.2 s -> 0.4 s on a million users).
    prepared = users.with_columns(
        pl.col("verified").str.to_lowercase().alias("__verified"),
        _expanded_urls("url").alias("__url_urls"),
        _expanded_urls("description").alias("__bio_urls"),
    )
    verified_text = pl.col("__verified")
    bio_urls = pl.col("__bio_urls")
    return prepared.with_columns(
        pl.coalesce("_influx_origin", "default_origin").alias("origin"),
        pl.when(verified_text == "true")
        .then(True)
        .when(verified_text == "false")
        .then(False)
        .otherwise(None)
        .alias("verified"),
        pl.coalesce(
            pl.col("verified_type").str.to_lowercase(),
            pl.when(verified_text.is_in(_VERIFIED_TYPES)).then(verified_text),
        ).alias("verified_type"),
        *[pl.col("public_metrics").struct.field(m).alias(m) for m in PUBLIC_METRICS],
        pl.when(bio_urls.list.len() == 0)
        .then(pl.col("__url_urls"))
        .otherwise(pl.concat_list("__url_urls", bio_urls))
        .alias("urls"),
    ).drop(
        "public_metrics",
        "entities",
        "_influx_origin",
        "default_origin",
        "__verified",
        "__url_urls",
        "__bio_urls",
    )


def _expanded_urls(entity: str) -> pl.Expr:
    urls = pl.col("entities").struct.field(entity).struct.field("urls")
    return urls.list.eval(pl.element().struct.field("expanded_url").drop_nulls()).fill_null([])


def _pinned_tweets(decoded: pl.DataFrame) -> pl.DataFrame:
    return (
        decoded.select(
            "batch_id",
            pl.col("doc").struct.field("includes").struct.field("tweets").alias("tweet"),
        )
        .explode("tweet")
        .filter(pl.col("tweet").is_not_null())
        .select(
            "batch_id",
            pl.col("tweet").struct.field("id").alias("pinned_tweet_id"),
            pl.col("tweet").struct.field("created_at").alias("pinned_tweet_created_at"),
        )
        .unique(["batch_id", "pinned_tweet_id"], keep="first")
    )


def _classified_errors(errors: pl.DataFrame) -> pl.DataFrame:
    """``errors[]`` entries (the :data:`_ERROR` fields) + ``handle_key``, ``error_outcome`` and
    ``error_detail``; entries naming no handle are dropped."""
    # the same rules as sources.error_outcome, which decides what to ask again
    suspended = pl.col("detail").str.to_lowercase().str.contains("suspended").fill_null(False) | (
        pl.col("title") == "Forbidden"
    ).fill_null(False)
    invalid = (pl.col("type") == PROBLEM_INVALID).fill_null(False) | (
        pl.col("title") == "Invalid Request"
    ).fill_null(False)
    not_found = (pl.col("type") == PROBLEM_NOT_FOUND).fill_null(False) | (
        pl.col("title") == "Not Found Error"
    ).fill_null(False)
    return errors.with_columns(
        pl.coalesce("value", "resource_id").str.to_lowercase().alias("handle_key"),
        pl.when(suspended)
        .then(pl.lit("suspended"))
        .when(invalid)
        .then(pl.lit("invalid"))
        .when(not_found)
        .then(pl.lit("not_found"))
        .otherwise(pl.lit("failed"))
        .alias("error_outcome"),
        pl.coalesce("detail", "title").alias("error_detail"),
    ).filter(pl.col("handle_key").is_not_null())


# -- prefetched users files -----------------------------------------------------------------------


BROKEN_LINES_SCHEMA = pl.Schema({"line": pl.Int64, "handle_key": pl.String})
"""Broken lines of a prefetched users file: the physical ``line`` and each handle its text names
(``"username":"..."``), null when it names none."""


@dataclass(frozen=True)
class PrefetchedAnswers:
    """What a prefetched users file says, one row per lower-case handle (the last line wins, as
    in :class:`~influx_etl.sources.PrefetchedSource`)."""

    users: pl.DataFrame
    """``handle_key`` + the user object's fields (:data:`_USER`)."""
    errors: pl.DataFrame
    """``handle_key`` + the ``errors[]`` entry's fields (:data:`_ERROR`)."""
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
        **{f.name: f.dtype for f in _USER.fields},
        # a wrapped user ({"data": {...}}) or a whole response ({"data": [...]}): kept as JSON
        # text and decoded in a second pass, for the lines that have it only
        "data": pl.String(),
        "errors": pl.List(_ERROR),
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
    about ``chunk_rows`` at a time (``None``: all in one frame), read by DuckDB's JSON reader:
    measured on 1,000,000 synthetic users (573 MB), 1.0 s against 3.3 s for ``pl.read_ndjson``
    with the same schema. The reader streams: DuckDB parses ahead on its threads while a chunk
    is processed, and holds only a few of its own batches meanwhile. A line that is not a JSON
    object gives a row of nulls (reported by the caller); a value of the wrong type is
    converted or null."""
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

    DuckDB's streaming reader parses only when asked for rows (measured: reading 1,000,000
    users in 250k-line chunks took 3.0 s alone and 7.6 s with a 1 s pause per chunk), and
    parsing and deciding both release the GIL, so on two cores they overlap. One chunk more is
    held meanwhile. The thread is the only one that touches ``chunks`` (and its connection).
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


def _wrapped_users(lines: pl.DataFrame) -> pl.DataFrame:
    """The users of the lines that wrap them in ``data`` (an object or a list), with ``row`` and
    their position in the line. Few files have such lines; each is decoded once more."""
    wrapped = lines.select("row", "username", "data").filter(
        pl.col("username").is_null() & pl.col("data").is_not_null()
    )
    if wrapped.is_empty():
        return pl.DataFrame(schema={"row": pl.UInt32, "position": pl.Int64, **_USER.to_schema()})
    is_list = pl.col("data").str.strip_chars_start().str.starts_with("[")
    parts = []
    for listed in (False, True):
        texts = wrapped.filter(is_list if listed else ~is_list)
        if texts.is_empty():
            continue
        text = texts.select(('{"d":' + pl.col("data") + "}").str.join("\n")).item()
        dtype = pl.List(_USER) if listed else _USER
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
    return pl.concat(parts).select("row", pl.col("position").cast(pl.Int64), *_USER.to_schema())


def prefetched_answers(path: Path) -> PrefetchedAnswers:
    """Read a prefetched users file once: its users and its error entries by handle.

    The same reading as :class:`~influx_etl.sources.PrefetchedSource`, vectorised: a line is a
    bare user object (it has ``username``), ``{"data": {...}}`` or a whole API response
    ``{"data": [...], "errors": [...]}``; a user needs a non-empty ``id`` and ``username``; an
    error is filed under its ``value`` (else ``resource_id``); lines with none of these are
    logged with their line number and skipped.
    """
    (lines,) = _file_line_chunks(path, None)
    answers = _line_answers(lines)
    if answers.skipped:
        broken = _skipped_lines(path, answers.skipped_rows)
        answers = PrefetchedAnswers(
            answers.users, answers.errors, answers.lines, answers.skipped_rows, broken
        )
    return answers


def _line_answers(lines: pl.DataFrame) -> PrefetchedAnswers:
    """What some lines of a prefetched users file say (see :func:`prefetched_answers`); the
    skipped rows are returned, not logged."""
    usable = (pl.col("id").fill_null("").str.len_bytes() > 0) & (
        pl.col("username").fill_null("").str.len_bytes() > 0
    )
    # A row that holds no usable bare user gets no key rather than being filtered out: a filter
    # copies every column of the million rows (~450 MB), a null key only never joins.
    users = lines.select(
        "row",
        pl.lit(0, pl.Int64).alias("position"),
        pl.when(usable).then(pl.col("username").str.to_lowercase()).alias("handle_key"),
        *_USER.to_schema(),
    )
    wrapped = _wrapped_users(lines)
    if wrapped.height:
        wrapped = wrapped.select(
            "row",
            "position",
            pl.when(usable).then(pl.col("username").str.to_lowercase()).alias("handle_key"),
            *_USER.to_schema(),
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
        users=users.select("handle_key", *_USER.to_schema()),
        errors=errors.unique("handle_key", keep="last", maintain_order=True).select(
            "handle_key", *_ERROR.to_schema()
        ),
        lines=lines.height,
        skipped_rows=skipped,
    )


_SKIPPED_SHOWN = 20


@dataclass
class LookupNotes:
    """What reading a run's raw answers noticed beside the profiles (filled in as they are
    read): the damage of its input, and what the answers held that nobody asked for."""

    broken_lines: int = 0
    """Lines of the prefetched users file that are not JSON (truncated, or not JSON at all)."""
    files: list[str] = field(default_factory=list)
    """The files they were in."""
    unrequested_users: int = 0
    """Users in API answers that no requested handle of their batch matches (ignored)."""
    unrequested_examples: list[str] = field(default_factory=list)
    """A few of their usernames, for the log."""


def _skipped_lines(path: Path, rows: pl.Series) -> pl.DataFrame:
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


def _with_broken_lines(joined: pl.DataFrame, broken: pl.DataFrame, file_name: str) -> pl.DataFrame:
    """Answer rows (with ``__not_in_file``: no line of the file answers the handle) with the
    handles that only a broken line could have answered marked so: a handle a broken line names
    is ``failed`` (the line may hold it); the others the file does not have say how many broken
    lines could have held them."""
    named = (
        broken.drop_nulls("handle_key")
        .group_by("handle_key")
        .agg(pl.col("line").unique().sort().cast(pl.String).str.join(", ").alias("__lines"))
    )
    unnamed = broken.filter(pl.col("handle_key").is_null())["line"].unique().sort()
    joined = joined.join(named, on="handle_key", how="left", maintain_order="left")
    not_in_file = pl.col("__not_in_file")
    by_line = pl.col("__lines").is_not_null() & not_in_file
    one_line = BROKEN_LINE_DETAIL.replace("{handle}", "{}").replace("{lines}", "{}")
    more = broken_lines_detail(unnamed.to_list(), file_name) if unnamed.len() else None
    detail = (
        pl.when(by_line)
        .then(pl.format(one_line.replace("{file}", file_name), "handle", "__lines"))
        .when(not_in_file & pl.lit(more is not None))
        .then(pl.col("error_detail") + pl.lit(f" {more}"))
        .otherwise("error_detail")
    )
    return joined.with_columns(
        pl.when(by_line).then(pl.lit("failed")).otherwise("error_outcome").alias("error_outcome"),
        detail.alias("error_detail"),
    ).drop("__lines", "__not_in_file")


def _answered_by_file(
    reference: RawFile,
    requested: pl.DataFrame,
    chunk_rows: int | None,
    carried: Sequence[str] = (),
    per_batch: pl.DataFrame | None = None,
    notes: LookupNotes | None = None,
) -> Iterator[pl.DataFrame]:
    """Answer rows (:data:`_ANSWER_COLUMNS`) of the handles ``requested`` from the file
    ``reference``: per chunk of lines, the handles its users answer; then the others, answered
    by the file's error entries, else ``not_found`` (the file does not have the handle), or
    ``failed`` when a broken line names the handle (:func:`_with_broken_lines`). The broken
    lines are counted in ``notes``."""
    path = reference.checked()
    requested = requested.with_row_index("__requested")
    found: list[pl.Series] = []
    errors: list[pl.DataFrame] = []
    skipped: list[pl.Series] = []
    for lines in _read_ahead(_file_line_chunks(path, chunk_rows)):
        answers = _line_answers(lines)
        del lines  # the chunk's users are in ``answers`` (and ``joined``) now
        # copied: a few error rows would otherwise keep the whole chunk's text alive
        errors.append(compacted(answers.errors))
        skipped.append(answers.skipped_rows)
        # the chunk's users on the left: the join then costs what the chunk has, not what the
        # whole request has (0.28 s against 0.78 s for 250,000 users and 10,000,000 handles)
        joined = answers.users.join(requested, on="handle_key", how="inner")
        del answers
        if joined.is_empty():
            continue
        joined = _with_batch_columns(joined, per_batch)
        found.append(joined["__requested"])
        yield (
            _normalised_users(joined.drop("__requested"))
            .with_columns(
                pl.lit(None, pl.String).alias("pinned_tweet_created_at"),
                pl.lit(None, pl.String).alias("error_outcome"),
                pl.lit(None, pl.String).alias("error_detail"),
            )
            .select(*_ANSWER_COLUMNS, *carried)
        )
    all_skipped = pl.concat(skipped)
    broken = pl.DataFrame(schema=BROKEN_LINES_SCHEMA)
    if all_skipped.len():
        broken = _skipped_lines(path, all_skipped)
    if notes is not None and broken.height:
        notes.broken_lines += broken["line"].n_unique()
        notes.files.append(str(path))
    answered = pl.concat(found) if found else pl.Series("__requested", [], pl.UInt32)
    rest = _with_batch_columns(
        requested.filter(~pl.col("__requested").is_in(answered.implode())).drop("__requested"),
        per_batch,
    )
    file_errors = _classified_errors(
        pl.concat(errors).unique("handle_key", keep="last", maintain_order=True)
    )
    # the user columns, all null: the same normalisation gives the same columns and types
    no_users = pl.DataFrame(schema={"handle_key": pl.String, **_USER.to_schema()})
    joined = _normalised_users(rest.join(no_users, on="handle_key", how="left")).with_columns(
        pl.lit(None, pl.String).alias("origin"),
        pl.lit(None, pl.List(pl.String)).alias("urls"),
        pl.lit(None, pl.String).alias("pinned_tweet_created_at"),
    )
    joined = joined.join(
        file_errors.select("handle_key", "error_outcome", "error_detail"),
        on="handle_key",
        how="left",
    )
    not_in_file = NOT_IN_FILE_DETAIL.replace("{handle}", "{}").replace("{file}", path.name)
    missing = pl.col("error_outcome").is_null()
    joined = joined.with_columns(
        pl.when(missing)
        .then(pl.lit("not_found"))
        .otherwise("error_outcome")
        .alias("error_outcome"),
        pl.when(missing)
        .then(pl.format(not_in_file, pl.col("handle")))
        .otherwise("error_detail")
        .alias("error_detail"),
        missing.alias("__not_in_file"),
    )
    if broken.height:
        joined = _with_broken_lines(joined, broken, path.name)
    yield joined.select(*_ANSWER_COLUMNS, *carried)
