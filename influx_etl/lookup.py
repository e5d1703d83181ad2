"""Lookup stage: batches of handles → raw API documents → one profile row per handle.

Extract and normalise are kept apart (as dlt does): :func:`raw_batches` only fetches and yields
:class:`~influx_etl.sources.RawBatch` objects, which the pipeline commits to the store before
anything reads them; :func:`profiles` turns stored raw documents into the PROFILES frame with Polars
(one ``json_decode`` over all bodies, then explode/join), so a rules change can be replayed on the
stored raw lookups without calling the API again.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
from joblib import Parallel, delayed

from influx_etl.frames import PROFILES_SCHEMA, PUBLIC_METRICS
from influx_etl.sources import LookupSource, RawBatch

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
    ]
)
"""Raw lookups as a frame: what :func:`profiles` reads (the store's raw table has these columns)."""

_VERIFIED_TYPES = ("blue", "business", "government", "none")


def batched(seeds: pl.DataFrame, batch_size: int) -> pl.DataFrame:
    """The seeds with a ``batch_id`` column: consecutive runs of ``batch_size`` handles."""
    return seeds.with_columns(
        (pl.int_range(pl.len()) // batch_size).cast(pl.Int64).alias("batch_id")
    )


def batch_handles(batches: pl.DataFrame) -> list[tuple[int, list[str]]]:
    """``(batch_id, handles)`` pairs in batch order, for the workers."""
    grouped = batches.group_by("batch_id", maintain_order=True).agg(pl.col("handle"))
    return list(zip(grouped["batch_id"].to_list(), grouped["handle"].to_list(), strict=True))


def raw_batches(
    source: LookupSource, work: list[tuple[int, list[str]]], parallel_batches: int
) -> Iterator[RawBatch]:
    """Fetch every batch with ``parallel_batches`` joblib workers, yielding each as it completes.

    Threads, not processes: the work is waiting on the network, and threads share one connection
    pool (and, for the pacing added later, one rate-limit budget).
    """
    if not work:
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
        },
        schema=RAW_SCHEMA,
    )


def profiles(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per requested handle with its outcome and, when found, the flattened user object.

    Outcomes: ``found`` (a user came back), ``not_found`` / ``suspended`` (from the document's
    ``errors``), ``failed`` (the batch failed, or the handle is in neither ``data`` nor ``errors``).
    Users are matched to requested handles case-insensitively.
    """
    decoded = raw.with_columns(pl.col("body").str.json_decode(RESPONSE_DTYPE).alias("doc"))
    requested = decoded.select(
        "batch_id",
        "error",
        pl.col("requested_at").alias("fetched_at"),
        pl.col("handles").alias("handle"),
    ).explode("handle")
    requested = requested.with_columns(pl.col("handle").str.to_lowercase().alias("handle_key"))

    users = _users(decoded)
    errors = _errors(decoded)
    joined = requested.join(users, on=["batch_id", "handle_key"], how="left").join(
        errors, on=["batch_id", "handle_key"], how="left"
    )
    outcome = (
        pl.when(pl.col("id").is_not_null())
        .then(pl.lit("found"))
        .when(pl.col("error").is_not_null())
        .then(pl.lit("failed"))
        .when(pl.col("error_outcome").is_not_null())
        .then(pl.col("error_outcome"))
        .otherwise(pl.lit("failed"))
    )
    detail = (
        pl.when(pl.col("id").is_not_null())
        .then(pl.lit(None, pl.String))
        .when(pl.col("error").is_not_null())
        .then(pl.col("error"))
        .when(pl.col("error_outcome").is_not_null())
        .then(pl.col("error_detail"))
        .otherwise(pl.lit("the response mentioned this handle in neither data nor errors"))
    )
    return joined.with_columns(outcome.alias("outcome"), detail.alias("outcome_detail")).select(
        [pl.col(name).cast(dtype) for name, dtype in PROFILES_SCHEMA.items()]
    )


def _users(decoded: pl.DataFrame) -> pl.DataFrame:
    users = (
        decoded.select(
            "batch_id", "default_origin", pl.col("doc").struct.field("data").alias("user")
        )
        .explode("user")
        .filter(pl.col("user").is_not_null())
        .unnest("user")
    )
    verified_text = pl.col("verified").str.to_lowercase()
    users = users.with_columns(
        pl.col("username").str.to_lowercase().alias("handle_key"),
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
        pl.concat_list(_expanded_urls("url"), _expanded_urls("description"))
        .list.drop_nulls()
        .alias("urls"),
    )
    pinned = _pinned_tweets(decoded)
    users = users.join(pinned, on=["batch_id", "pinned_tweet_id"], how="left")
    # A response names each user once; a duplicate would double a handle's row.
    return users.unique(["batch_id", "handle_key"], keep="first", maintain_order=True).drop(
        "public_metrics", "entities", "_influx_origin", "default_origin"
    )


def _expanded_urls(entity: str) -> pl.Expr:
    urls = pl.col("entities").struct.field(entity).struct.field("urls")
    return urls.list.eval(pl.element().struct.field("expanded_url")).fill_null([])


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


def _errors(decoded: pl.DataFrame) -> pl.DataFrame:
    errors = (
        decoded.select("batch_id", pl.col("doc").struct.field("errors").alias("err"))
        .explode("err")
        .filter(pl.col("err").is_not_null())
        .unnest("err")
    )
    suspended = pl.col("detail").str.to_lowercase().str.contains("suspended") | (
        pl.col("title") == "Forbidden"
    )
    return (
        errors.with_columns(
            pl.coalesce("value", "resource_id").str.to_lowercase().alias("handle_key"),
            pl.when(suspended)
            .then(pl.lit("suspended"))
            .otherwise(pl.lit("not_found"))
            .alias("error_outcome"),
            pl.coalesce("detail", "title").alias("error_detail"),
        )
        .filter(pl.col("handle_key").is_not_null())
        .unique(["batch_id", "handle_key"], keep="first")
        .select("batch_id", "handle_key", "error_outcome", "error_detail")
    )
