"""Entry threshold: who is big enough to be considered at all.

``passes_threshold = (is_verified AND followers >= verified_min_followers)
OR followers >= min_followers``; a row without a follower count (every row that was not found)
does not pass.
"""

from __future__ import annotations

import polars as pl

from influx_etl.config import Thresholds

__all__ = ["THRESHOLD_COLUMNS", "VERIFIED_TYPES", "is_verified", "thresholded"]

VERIFIED_TYPES = ("blue", "business", "government")
"""``verified_type`` values that count as verified (``none`` and null do not)."""

THRESHOLD_COLUMNS = pl.Schema({"is_verified": pl.Boolean, "passes_threshold": pl.Boolean})
"""Columns :func:`thresholded` adds."""


def is_verified() -> pl.Expr:
    """``verified_type`` in :data:`VERIFIED_TYPES` (any case) or the legacy ``verified`` flag."""
    by_type = pl.col("verified_type").str.to_lowercase().is_in(VERIFIED_TYPES).fill_null(False)
    return by_type | pl.col("verified").fill_null(False)


def thresholded(profiles: pl.DataFrame, thresholds: Thresholds) -> pl.DataFrame:
    """``profiles`` with :data:`THRESHOLD_COLUMNS` added."""
    followers = pl.col("followers_count")
    verified = pl.col("is_verified")
    passes = (verified & (followers >= thresholds.verified_min_followers)) | (
        followers >= thresholds.min_followers
    )
    return profiles.with_columns(is_verified=is_verified()).with_columns(
        passes_threshold=passes.fill_null(False)
    )
