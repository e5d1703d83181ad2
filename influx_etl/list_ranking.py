"""Ranking X Lists by the dataset authors they hold, and their members by the Lists they share.

Pure frame functions for ``influx discover``:

* :func:`ranked_lists` — from the dataset authors' List memberships: per List, how many distinct
  dataset authors it holds (``held``), that count relative to its size (``share``) and whether its
  name carries a topic word of the dataset's topics (a name word starting with it); ranked by
  ``share * (1 + topic bonus)``, then ``held``: the share of a List's members already in the
  dataset is the best guess of the share of the others that would pass (measured against
  ``held * sqrt(share)`` and ``held * share`` in docs/discovery.md). Private Lists and Lists
  above the API's 5,000 members are left out, and so are Lists holding a single dataset author
  (one is chance) unless nothing else is left.
* :func:`ranked_candidates` — the members of the chosen Lists who are not in the dataset, by the
  number of distinct chosen Lists they share with dataset authors, then the rank of their best
  List.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from influx_etl.list_members import list_evidence, list_url

MAX_LIST_MEMBERS: Final = 5000
TOPIC_BONUS: Final = 0.5
"""How much a topic word in a List's name adds to its rank (a multiplier of 1 + this)."""

MEMBERSHIP_SCHEMA: Final = pl.Schema(
    {
        "author_id": pl.String,
        "list_id": pl.String,
        "name": pl.String,
        "member_count": pl.Int64,
        "follower_count": pl.Int64,
        "private": pl.Boolean,
    }
)


def memberships(items: pl.DataFrame) -> pl.DataFrame:
    """Membership page items (``resource_id`` = the author's user id, ``item`` = a List object's
    JSON) -> :data:`MEMBERSHIP_SCHEMA`."""
    field = pl.col("item").str.json_path_match
    return items.select(
        pl.col("resource_id").alias("author_id"),
        field("$.id").alias("list_id"),
        field("$.name").alias("name"),
        field("$.member_count").cast(pl.Int64, strict=False).alias("member_count"),
        field("$.follower_count").cast(pl.Int64, strict=False).alias("follower_count"),
        (field("$.private") == "true").fill_null(False).alias("private"),
    ).cast(MEMBERSHIP_SCHEMA)


def topic_words(topic_tags: pl.Series) -> pl.DataFrame:
    """The dataset's topics (``topic_tags``, e.g. ``ai_research``) -> ``topic``, ``word``: the
    words of each topic name, 2 letters or more, each word once (the first topic keeps it)."""
    topics = topic_tags.explode().drop_nulls().unique().sort().to_frame("topic")
    return (
        topics.with_columns(pl.col("topic").str.to_lowercase().str.split("_").alias("word"))
        .explode("word")
        .filter(pl.col("word").str.len_chars() >= 2)
        .unique("word", keep="first", maintain_order=True)
    )


def ranked_lists(found: pl.DataFrame, words: pl.DataFrame) -> pl.DataFrame:
    """:data:`MEMBERSHIP_SCHEMA` rows and :func:`topic_words` -> one row per List, best first:
    ``list_id``, ``name``, ``member_count``, ``held``, ``share``, ``topic``, ``rank_score``."""
    lists = (
        found.filter(~pl.col("private"))
        .group_by("list_id")
        .agg(
            pl.col("name").first(),
            pl.col("member_count").max(),
            pl.col("follower_count").max(),
            pl.col("author_id").n_unique().alias("held"),
        )
        .filter(pl.col("member_count").is_between(1, MAX_LIST_MEMBERS))
    )
    # a name word matches a topic word it starts with ("researchers" matches "research")
    name_words = (
        lists.select(
            "list_id",
            pl.col("name").str.to_lowercase().str.extract_all(r"[a-z0-9]+").alias("name_word"),
        )
        .explode("name_word")
        .join(words, how="cross")
        .filter(
            (pl.col("name_word") == pl.col("word"))
            | (
                (pl.col("word").str.len_chars() >= 3)
                & pl.col("name_word").str.starts_with(pl.col("word"))
            )
        )
        .group_by("list_id")
        .agg(pl.col("topic").mode().sort().first())
    )
    share = pl.col("held") / pl.col("member_count")
    ranked = (
        lists.join(name_words, on="list_id", how="left")
        .with_columns(share.alias("share"))
        .with_columns(
            (
                pl.col("share") * (1 + TOPIC_BONUS * pl.col("topic").is_not_null().cast(pl.Float64))
            ).alias("rank_score")
        )
        .sort(["rank_score", "held", "list_id"], descending=[True, True, False])
    )
    shared = ranked.filter(pl.col("held") >= 2)
    return (shared if shared.height else ranked).select(
        "list_id", "name", "member_count", "held", "share", "topic", "rank_score"
    )


def ranked_candidates(
    members: pl.DataFrame,
    chosen: pl.DataFrame,
    known_ids: pl.Series,
    known_keys: pl.Series,
    min_shared: int,
) -> pl.DataFrame:
    """Members (``resource_id`` = List id, ``item`` = user JSON) of the ``chosen`` Lists
    (:func:`ranked_lists` rows, best first) not in the dataset (``known_ids``, ``known_keys``)
    -> one row per candidate sharing at least ``min_shared`` chosen Lists, best first:
    ``handle``, ``handle_key``, ``id``, ``followers_count``, ``shared_lists``, ``best_list``,
    ``topic``, ``note`` (the best List's URL and name) and ``evidence`` (every shared List's
    URL, best first)."""
    field = pl.col("item").str.json_path_match
    order = chosen.with_row_index("list_rank").select("list_id", "list_rank", "name", "topic")
    rows = (
        members.select(
            pl.col("resource_id").alias("list_id"),
            field("$.username").alias("handle"),
            field("$.id").alias("id"),
            field("$.public_metrics.followers_count")
            .cast(pl.Int64, strict=False)
            .alias("followers_count"),
        )
        .with_columns(pl.col("handle").str.to_lowercase().alias("handle_key"))
        .join(order, on="list_id", how="inner")
        .filter(
            ~pl.col("id").is_in(known_ids.implode())
            & ~pl.col("handle_key").is_in(known_keys.implode())
        )
        .unique(["handle_key", "list_id"])
        .sort("list_rank")
    )
    return (
        rows.group_by("handle_key", maintain_order=True)
        .agg(
            pl.col("handle", "id", "followers_count").first(),
            pl.len().alias("shared_lists"),
            pl.col("list_rank").min().alias("best_rank"),
            pl.col("list_id").first().alias("best_list"),
            pl.col("topic").drop_nulls().first().alias("topic"),
            list_evidence(pl.col("list_id"), pl.col("name")).first().alias("note"),
            list_url(pl.col("list_id")).str.join(" ").alias("evidence"),
        )
        .filter(pl.col("shared_lists") >= min_shared)
        .sort(
            ["shared_lists", "best_rank", "followers_count", "handle_key"],
            descending=[True, False, True, False],
            nulls_last=True,
        )
        .drop("best_rank")
    )
