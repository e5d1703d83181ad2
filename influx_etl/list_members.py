"""X List members as seeds and as answers: the frames a List read becomes.

A List's member pages hold full user objects (the same ``user.fields`` as a lookup), so its
members need no lookup: :func:`list_seeds` makes them seeds of the pseudo-file ``x-list:ID``
(their evidence: the List's URL and name), and :func:`member_answer_batches` makes the stored
member objects the raw answers of a run's batches, as a lookup's answer would be.
"""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

from influx_etl import seeds
from influx_etl.frames import SEED_REJECTS_SCHEMA, SEEDS_SCHEMA

LIST_SEED_PREFIX: Final = "x-list:"
"""How the members of a List are named as a seed file (``x-list:ID``)."""

LIST_URL_PREFIX: Final = "https://x.com/i/lists/"

LIST_ORIGIN_SUFFIX: Final = "list-members"
"""The ``default_origin`` of a batch answered by stored List members."""

LIST_INFO_SCHEMA: Final = pl.Schema(
    {
        "list_id": pl.String,
        "outcome": pl.String,  # ok, not_found, forbidden, failed
        "name": pl.String,
        "description": pl.String,
        "member_count": pl.Int64,
        "follower_count": pl.Int64,
        "owner_id": pl.String,
        "private": pl.Boolean,
        "detail": pl.String,
    }
)


def list_url(list_id: pl.Expr) -> pl.Expr:
    return pl.lit(LIST_URL_PREFIX) + list_id


def list_seed_file(list_id: pl.Expr) -> pl.Expr:
    return pl.lit(LIST_SEED_PREFIX) + list_id


def list_evidence(list_id: pl.Expr, name: pl.Expr) -> pl.Expr:
    """``https://x.com/i/lists/ID "NAME"``: where a member was read, as its provenance says."""
    quoted = pl.lit(' "') + name.fill_null("") + pl.lit('"')
    return pl.concat_str([list_url(list_id), quoted], ignore_nulls=True)


def list_infos(documents: pl.DataFrame) -> pl.DataFrame:
    """List metadata answers (``resource_id``, ``status``, ``body`` of ``GET /2/lists/:id``) ->
    :data:`LIST_INFO_SCHEMA`, one row per List; a 404 or a ``Not Found Error`` entry is
    ``not_found``, a 403 or an authorization entry ``forbidden``."""
    data = pl.col("body").str.json_path_match
    error_words = (
        pl.concat_str(
            [data("$.errors[0].title"), data("$.errors[0].type")], separator=" ", ignore_nulls=True
        )
        .str.to_lowercase()
        .fill_null("")
    )
    has_data = data("$.data.id").is_not_null()
    outcome = (
        pl.when(has_data)
        .then(pl.lit("ok"))
        .when((pl.col("status") == 404) | error_words.str.contains("not found|not-found"))
        .then(pl.lit("not_found"))
        .when((pl.col("status") == 403) | error_words.str.contains("forbidden|authoriz"))
        .then(pl.lit("forbidden"))
        .otherwise(pl.lit("failed"))
    )
    return documents.select(
        pl.col("resource_id").alias("list_id"),
        outcome.alias("outcome"),
        data("$.data.name").alias("name"),
        data("$.data.description").alias("description"),
        data("$.data.member_count").cast(pl.Int64, strict=False).alias("member_count"),
        data("$.data.follower_count").cast(pl.Int64, strict=False).alias("follower_count"),
        data("$.data.owner_id").alias("owner_id"),
        (data("$.data.private") == "true").alias("private"),
        pl.coalesce(data("$.errors[0].detail"), data("$.detail"), data("$.title")).alias("detail"),
    ).cast(LIST_INFO_SCHEMA)


def list_seeds(items: pl.DataFrame, infos: pl.DataFrame) -> seeds.SeedLoad:
    """Member items of List reads (``resource_id`` = List id, ``position``, ``item``: a user
    object's JSON) and their Lists' :data:`LIST_INFO_SCHEMA` -> seeds, one row per distinct
    member (its first List first, in the order the Lists come), through the same cleaning as a
    seed file's rows. Each List is a seed file ``x-list:ID`` whose digest is its members."""
    rows = items.join(
        infos.select("list_id", "name"),
        left_on="resource_id",
        right_on="list_id",
        how="left",
        maintain_order="left",
    ).select(
        list_seed_file(pl.col("resource_id")).alias("seed_path"),
        list_seed_file(pl.col("resource_id")).alias("seed_file"),
        pl.col("resource_id")
        .replace_strict(*_order(items["resource_id"]), return_dtype=pl.Int64)
        .alias("file_order"),
        pl.col("position").cast(pl.Int64).alias("line"),
        pl.col("item").str.json_path_match("$.username").alias("raw_handle"),
        pl.lit(None, pl.String).alias("category"),
        list_url(pl.col("resource_id")).alias("source"),
        list_evidence(pl.col("resource_id"), pl.col("name")).alias("note"),
    )
    checked = seeds.checked_seed_rows(rows.cast(seeds.RAW_ROWS_SCHEMA))
    valid = checked.filter(pl.col("reason").is_null())
    frame = seeds.distinct_seeds(valid) if valid.height else pl.DataFrame(schema=SEEDS_SCHEMA)
    files = (
        items.group_by("resource_id", maintain_order=True)
        .agg(pl.col("item").str.join("\n").alias("content"))
        .select(
            list_seed_file(pl.col("resource_id")).alias("name"),
            list_url(pl.col("resource_id")).alias("path"),
            pl.col("content")
            .map_elements(lambda text: hashlib.sha256(text.encode()).hexdigest(), pl.String)
            .alias("sha256"),
        )
    )
    return seeds.SeedLoad(
        frame=frame,
        rejects=checked.filter(pl.col("reason").is_not_null()).select(
            pl.col(name).cast(dtype) for name, dtype in SEED_REJECTS_SCHEMA.items()
        ),
        rows_read=items.height,
        files=files,
    )


def _order(ids: pl.Series) -> tuple[list[str], list[int]]:
    """Each distinct List id and its place in the order the Lists came."""
    distinct = ids.unique(maintain_order=True).to_list()
    return distinct, list(range(len(distinct)))


def member_answer_batches(batches: pl.DataFrame, answers: pl.DataFrame) -> pl.DataFrame:
    """A run's batches (``batch_id``, ``handle``, ``handle_key``) answered by stored List
    members (:data:`~influx_etl.store.lists.MEMBER_ANSWERS_SCHEMA`) -> one raw-lookups row per
    batch: ``batch_id``, ``handles``, ``requested_at`` (the newest page's), ``body`` (the
    members' objects verbatim in the lookup's format, their pinned posts in ``includes``),
    ``default_origin``."""
    joined = batches.select("batch_id", "handle", "handle_key").join(
        answers, on="handle_key", how="left", maintain_order="left"
    )
    per_batch = joined.group_by("batch_id", maintain_order=True).agg(
        pl.col("handle").alias("handles"),
        pl.col("requested_at").max(),
        pl.col("user_json").drop_nulls().str.join(",").alias("users"),
        pl.col("tweet_json").drop_nulls().unique(maintain_order=True).str.join(",").alias("tweets"),
    )
    includes = (
        pl.when(pl.col("tweets") != "")
        .then(pl.lit(',"includes":{"tweets":[') + pl.col("tweets") + pl.lit("]}"))
        .otherwise(pl.lit(""))
    )
    return per_batch.select(
        "batch_id",
        "handles",
        "requested_at",
        (pl.lit('{"data":[') + pl.col("users") + pl.lit("]") + includes + pl.lit("}")).alias(
            "body"
        ),
        pl.lit(LIST_ORIGIN_SUFFIX).alias("default_origin"),
    )
