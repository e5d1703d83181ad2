"""Lookup stage: raw answers (API documents, prefetched files) → one profile row per handle.

Extract and normalise are kept apart (as dlt does): :func:`influx_etl.batching.raw_batches` only
fetches and yields :class:`~influx_etl.sources.RawBatch` objects, which the pipeline commits to the
store before anything reads them; :func:`profiles` turns stored raw documents into the PROFILES
frame with Polars (one ``json_decode`` over all bodies, then explode/join), so a rules change can
be replayed on the stored raw lookups without calling the API again.

Raw batches answered by a file (a prefetched users file, stored by reference: ``raw_file``) are
normalised by the same function: the file is read once by the one reader of such files
(:mod:`influx_etl.sources.prefetched`: DuckDB's JSON reader, then Polars) and its users and errors
are joined to the handles those batches requested; from there both kinds of batch go through the
same user normalisation, error classification and outcome rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl

from influx_etl.batching import requested_handles
from influx_etl.frames import PROFILES_SCHEMA, PUBLIC_METRICS, compacted
from influx_etl.sources.base import (
    BROKEN_LINE_DETAIL,
    INPUT_DAMAGE_FIELD,
    NOT_IN_FILE_DETAIL,
    RawBatch,
    RawFile,
    broken_lines_detail,
)
from influx_etl.sources.prefetched import (
    BROKEN_LINES_SCHEMA,
    line_answers,
    line_chunks,
    skipped_lines,
)
from influx_etl.sources.response import (
    RESPONSE_DTYPE,
    USER_DTYPE,
    error_outcome_expr,
)

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
    (what carrying them costs: docs/performance.md).

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
    """Raw user objects (the :data:`USER_DTYPE` fields and ``default_origin``) -> the PROFILES user
    columns: the one normalisation of every source's users."""
    # Two steps: what several columns use is made once (an eager frame computes a repeated
    # subexpression again for every use: docs/performance.md).
    prepared = users.with_columns(
        pl.col("verified").str.to_lowercase().alias("__verified"),
        _expanded_urls("url").alias("__url_urls"),
        _expanded_urls("description").alias("__bio_urls"),
    )
    verified_text = pl.col("__verified")
    bio_urls = pl.col("__bio_urls")
    return prepared.with_columns(
        _origin().alias("origin"),
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


def _origin() -> pl.Expr:
    """A user's ``origin``: its own mark (``_influx_origin``, the embedded server's) or its
    batch's; a List member's is ``list-members``, after the server's mark when it has one."""
    mark, default = pl.col("_influx_origin"), pl.col("default_origin")
    return (
        pl.when(default == "list-members")
        .then(pl.concat_str([mark, pl.lit(":list-members")]).fill_null(default))
        .otherwise(pl.coalesce(mark, default))
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
    """``errors[]`` entries (the :data:`~influx_etl.sources.response.ERROR_DTYPE` fields) +
    ``handle_key``, ``error_outcome`` (:func:`~influx_etl.sources.response.error_outcome_expr`,
    the rules the sources use to decide what to ask again) and ``error_detail``; entries naming
    no handle are dropped."""
    return errors.with_columns(
        pl.coalesce("value", "resource_id").str.to_lowercase().alias("handle_key"),
        error_outcome_expr().alias("error_outcome"),
        pl.coalesce("detail", "title").alias("error_detail"),
    ).filter(pl.col("handle_key").is_not_null())


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
    for lines in line_chunks(path, chunk_rows):
        answers = line_answers(lines)
        del lines  # the chunk's users are in ``answers`` (and ``joined``) now
        # copied: a few error rows would otherwise keep the whole chunk's text alive
        errors.append(compacted(answers.errors))
        skipped.append(answers.skipped_rows)
        # the chunk's users on the left: the join then costs what the chunk has, not what the
        # whole request has (docs/performance.md)
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
        broken = skipped_lines(path, all_skipped)
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
    no_users = pl.DataFrame(schema={"handle_key": pl.String, **USER_DTYPE.to_schema()})
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
