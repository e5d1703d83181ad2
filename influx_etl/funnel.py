"""The funnel of a run per seed file: what each file's handles became.

One run looks up every pending file's handles together (:mod:`influx_etl.plan`); a handle in
several files counts in each of them, so a curator sees per file what it gave.
"""

from __future__ import annotations

from typing import Final

import polars as pl

PER_FILE_COLUMNS: Final = (
    ("handles", "handles"),
    ("invalid_rows", "invalid rows"),
    ("reused", "reused"),
    ("looked_up", "looked up"),
    ("kept", "kept"),
    ("below_threshold", "below"),
    ("brand", "brand"),
    ("risk", "risky"),
    ("banned", "banned"),
    ("not_found", "not found"),
    ("suspended", "suspended"),
    ("invalid", "invalid"),
    ("failed", "failed"),
    ("duplicate_id", "duplicate id"),
)
"""The columns of :func:`per_seed_file` after ``seed_file``, with their headings."""

_DECISIONS: Final = tuple(key for key, _ in PER_FILE_COLUMNS[4:])


def per_seed_file(
    seeds: pl.DataFrame, outcomes: pl.DataFrame, rejects: pl.DataFrame
) -> pl.DataFrame:
    """One row per seed file: its distinct handles, invalid rows, how many were reused (a fresh
    stored outcome: ``batch_id`` null) or looked up, and how many ended with each decision.

    ``seeds`` needs ``handle_key`` and ``seed_files``; ``outcomes`` ``handle_key``, ``batch_id``
    and ``decision`` (one row per handle); ``rejects`` ``seed_file``.
    """
    per_handle = (
        seeds.select("handle_key", pl.col("seed_files").alias("seed_file"))
        .explode("seed_file")
        .join(outcomes.select("handle_key", "batch_id", "decision"), on="handle_key", how="left")
    )
    counted = per_handle.group_by("seed_file").agg(
        pl.len().alias("handles"),
        (pl.col("decision").is_not_null() & pl.col("batch_id").is_null()).sum().alias("reused"),
        pl.col("batch_id").is_not_null().sum().alias("looked_up"),
        *((pl.col("decision") == name).sum().alias(name) for name in _DECISIONS),
    )
    invalid_rows = rejects.group_by("seed_file").agg(pl.len().alias("invalid_rows"))
    columns = [key for key, _ in PER_FILE_COLUMNS]
    return (
        counted.join(invalid_rows, on="seed_file", how="full", coalesce=True)
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in columns)
        .select("seed_file", *columns)
        .sort("seed_file")
    )
