"""Scores and global rank of authors.

Both scores are proxies computed from a single user lookup (no timeline data), in [0, 100], rounded
to 2 decimals:

``score`` (reach)::

    score = min(100, 20 * log10(max(followers / 1000, 1)) + boost)

20 points per decade of followers above 1,000 (10k -> 20, 100k -> 40, 1M -> 60, 10M -> 80,
100M -> 100), plus ``boost`` = :data:`VERIFIED_BOOST` (10) when the record's ``verified`` is
``blue``, ``business``, ``org`` or ``legacy`` (0 for ``none``). Null followers count as 0.

``quality_score`` (curated attention: how many people file the account in a list, per follower)::

    quality_score = min(100, 100 * log10(1 + 1000 * listed / followers) / log10(21))

A list ratio of 2% (20 lists per 1,000 followers) or more scores 100, 1% about 79, 0.1% about 23.
It is 0 when followers is 0 or null, or listed is null.

``rank_global``: 1 = best, ordering by ``score`` desc, ``followers_count`` desc, ``handle`` asc,
``id`` asc (:data:`RANK_ORDER`), a total order, so ranks are unique and stable between runs.
"""

from __future__ import annotations

import math
from typing import Final

import polars as pl

VERIFIED_BOOST: Final = 10.0
"""Points added to ``score`` for any verification (``verified`` other than ``none``)."""

BOOSTED_VERIFICATIONS: Final = ("blue", "business", "org", "legacy")

POINTS_PER_FOLLOWER_DECADE: Final = 20.0
FOLLOWER_FLOOR: Final = 1_000
"""Followers at or below this earn no reach points."""

FULL_QUALITY_LISTS_PER_1000: Final = 20.0
"""Lists per 1,000 followers that earn the full ``quality_score``."""

RANK_ORDER: Final = (("score", True), ("followers_count", True), ("handle", False), ("id", False))
"""``(column, descending)`` pairs of the ranking (and export) order."""


def reach_score() -> pl.Expr:
    """``score`` from ``followers_count`` and ``verified`` (formula in the module docstring)."""
    followers = pl.col("followers_count").fill_null(0).cast(pl.Float64)
    decades = (followers / FOLLOWER_FLOOR).clip(lower_bound=1.0).log10()
    boost = (
        pl.when(pl.col("verified").is_in(BOOSTED_VERIFICATIONS))
        .then(pl.lit(VERIFIED_BOOST))
        .otherwise(pl.lit(0.0))
    )
    return (POINTS_PER_FOLLOWER_DECADE * decades + boost).clip(upper_bound=100.0).round(2)


def list_quality_score() -> pl.Expr:
    """``quality_score`` from ``listed_count`` and ``followers_count`` (see module docstring)."""
    followers = pl.col("followers_count").cast(pl.Float64)
    listed = pl.col("listed_count").cast(pl.Float64)
    ratio_score = (
        100.0
        * (1.0 + 1000.0 * listed / followers).log10()
        / math.log10(1.0 + FULL_QUALITY_LISTS_PER_1000)
    )
    return (
        pl.when((followers > 0) & listed.is_not_null())
        .then(ratio_score.clip(lower_bound=0.0, upper_bound=100.0))
        .otherwise(pl.lit(0.0))
        .round(2)
    )


def scored(authors: pl.DataFrame) -> pl.DataFrame:
    """``authors`` + ``score`` and ``quality_score`` (Float64); needs ``followers_count``,
    ``listed_count`` and ``verified``."""
    return authors.with_columns(score=reach_score(), quality_score=list_quality_score())


def in_rank_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by :data:`RANK_ORDER` (needs ``score``, ``followers_count``, ``handle``,
    ``id``); nulls sort last."""
    columns = [column for column, _ in RANK_ORDER]
    descending = [flag for _, flag in RANK_ORDER]
    return frame.sort(columns, descending=descending, nulls_last=True, maintain_order=True)


def ranked(authors: pl.DataFrame) -> pl.DataFrame:
    """Scored ``authors`` + ``rank_global`` (Int64, 1 = best), rows returned in rank order."""
    return in_rank_order(authors).with_columns(
        rank_global=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    )
