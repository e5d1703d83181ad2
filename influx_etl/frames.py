"""Column contracts between stages: the schema of each frame that crosses a module boundary.

Stages are functions from frame to frame; these constants are what they promise each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import polars as pl

if TYPE_CHECKING:
    from polars._typing import PolarsDataType


def _schema(columns: Mapping[str, PolarsDataType]) -> pl.Schema:
    return pl.Schema(columns)


OUTCOMES: Final = ("found", "not_found", "suspended", "invalid", "failed", "duplicate_id")
"""Per-handle lookup outcomes. Every seed handle ends a run with exactly one of them.
``duplicate_id``: found, but the user id answered another handle of the run too, which keeps it
(:meth:`influx_etl.store.RunIntegration.settle`; the detail names that handle)."""

ORIGINS: Final = (
    "x-api-v2",
    "recorded",
    "synthetic",
    "prefetched",
    "imported",
    "list-members",
    "recorded:list-members",
    "synthetic:list-members",
)
"""Where a profile came from. ``synthetic`` profiles are fabricated by the embedded API server and
are written to the synthetic dataset only; ``recorded`` are real API objects replayed by it;
``imported`` records come from the original influx project's release files (``influx import``) and
keep their own ``sources``; ``…list-members`` profiles are member objects of an X List (read
from the X API, or from the embedded server's recorded or synthetic users)."""

SEEDS_SCHEMA: Final = _schema(
    {
        "handle": pl.String,  # cleaned handle, capitalisation of its first occurrence
        "handle_key": pl.String,  # lower-case handle: the case-insensitive identity
        "category": pl.String,
        "source": pl.String,
        "note": pl.String,
        "seed_file": pl.String,  # first file the handle appeared in
        "line": pl.Int64,  # 1-based physical line in that file
        "seed_files": pl.List(pl.String),  # every file the handle appeared in, sorted
        "categories": pl.List(pl.String),  # every non-empty category given to it, sorted
    }
)

SEED_REJECTS_SCHEMA: Final = _schema(
    {
        "seed_file": pl.String,
        "line": pl.Int64,
        "raw_handle": pl.String,
        "reason": pl.String,
    }
)

PUBLIC_METRICS: Final = (
    "followers_count",
    "following_count",
    "tweet_count",
    "listed_count",
    "like_count",
    "media_count",
)

PROFILES_SCHEMA: Final = _schema(
    {
        # one row per looked-up seed handle, whatever its outcome
        "handle_key": pl.String,
        "batch_id": pl.Int64,
        "outcome": pl.String,  # one of OUTCOMES
        "outcome_detail": pl.String,
        "origin": pl.String,  # one of ORIGINS (null unless found)
        "fetched_at": pl.String,  # ISO-8601 UTC, when the response arrived
        # the API user object, flattened (null unless found)
        "id": pl.String,
        "username": pl.String,
        "name": pl.String,
        "description": pl.String,
        "created_at": pl.String,
        "location": pl.String,
        "url": pl.String,
        "profile_image_url": pl.String,
        "protected": pl.Boolean,
        "verified": pl.Boolean,  # the legacy boolean, when the payload has it
        "verified_type": pl.String,  # blue | business | government | none | null
        "pinned_tweet_id": pl.String,
        **{metric: pl.Int64 for metric in PUBLIC_METRICS},
        "pinned_tweet_created_at": pl.String,
        "urls": pl.List(pl.String),  # expanded URLs from entities.url and entities.description
    }
)

RULE_COLUMNS: Final = _schema(
    {
        # added to PROFILES by threshold.thresholded and rules.brand/risk_flagged, rules.decided
        "is_verified": pl.Boolean,
        "passes_threshold": pl.Boolean,
        "brand_matches": pl.List(pl.String),
        "brand_confidence": pl.Float64,
        "is_org": pl.Boolean,
        "is_official": pl.Boolean,
        "brand_exception": pl.Boolean,
        "risk_matches": pl.List(pl.String),
        "risk_flags": pl.List(pl.String),
        "risk_excluded": pl.Boolean,
        "risk_excluding_flags": pl.List(pl.String),  # auto_exclude flags matched
        "risk_multi_flag_threshold": pl.Int64,  # processing_rules.multi_flag_threshold
        # kept | below_threshold | brand | risk | banned | <outcome when not found | duplicate_id>
        "decision": pl.String,
    }
)

SOURCE_STRUCT: Final = pl.Struct(
    {"method": pl.String, "fetched_at": pl.String, "evidence": pl.String}
)

AUTHORS_SCHEMA: Final = _schema(
    {
        # the flat form of one dataset record, as stored in DuckDB (transform.author_records)
        "id": pl.String,
        "handle": pl.String,
        "name": pl.String,
        "verified": pl.String,  # the record enum: none | blue | business | org | legacy
        "followers_count": pl.Int64,
        "is_org": pl.Boolean,
        "is_official": pl.Boolean,
        "lang_primary": pl.String,
        "topic_tags": pl.List(pl.String),
        "sources": pl.List(SOURCE_STRUCT),
        "provenance_hash": pl.String,
        "last_refresh_at": pl.String,
        "last_active_at": pl.String,
        "entry_threshold_passed": pl.Boolean,
        "origin": pl.String,
        # ext: looked-up detail kept for analysis and rescoring
        "verified_type": pl.String,
        "following_count": pl.Int64,
        "tweet_count": pl.Int64,
        "listed_count": pl.Int64,
        "like_count": pl.Int64,
        "media_count": pl.Int64,
        "created_at": pl.String,
        "description": pl.String,
        "location": pl.String,
        "url": pl.String,
        "profile_image_url": pl.String,
        "seed_files": pl.List(pl.String),
        "brand_matches": pl.List(pl.String),
        "brand_confidence": pl.Float64,
        "risk_flags": pl.List(pl.String),
        # score.scored
        "score": pl.Float64,
        "quality_score": pl.Float64,
    }
)

OUTCOMES_SCHEMA: Final = _schema(
    {
        # one row per seed handle per run: its lookup outcome and every rule that decided it
        "handle_key": pl.String,
        "handle": pl.String,
        "seed_file": pl.String,
        "batch_id": pl.Int64,
        "outcome": pl.String,
        "outcome_detail": pl.String,
        "id": pl.String,
        "username": pl.String,
        "followers_count": pl.Int64,
        "is_verified": pl.Boolean,
        "passes_threshold": pl.Boolean,
        "brand_matches": pl.List(pl.String),
        "brand_confidence": pl.Float64,
        "is_org": pl.Boolean,
        "is_official": pl.Boolean,
        "risk_matches": pl.List(pl.String),
        "risk_flags": pl.List(pl.String),
        "risk_excluded": pl.Boolean,
        "decision": pl.String,
    }
)

RUN_SEEDS_SCHEMA: Final = _schema({**SEEDS_SCHEMA, "batch_id": pl.Int64})
"""The seeds of one run as batched: stored so a run can be resumed or replayed from the file."""

VERDICTS: Final = ("individual", "brand", "risky", "unsure")
"""What a reviewer may say about a kept author in the QA sample (``influx qa-sample``)."""

QA_VERDICTS_SCHEMA: Final = _schema(
    {
        # one reviewer verdict on one author, from one review file (influx qa-sample --record)
        "handle_key": pl.String,
        "id": pl.String,  # null when the handle is no longer in the dataset
        "handle": pl.String,
        "verdict": pl.String,  # one of VERDICTS
        "note": pl.String,
        # what the rules said about the author when the verdict was recorded (for rule tuning)
        "brand_matches": pl.List(pl.String),
        "brand_confidence": pl.Float64,
        "risk_flags": pl.List(pl.String),
        "review_file": pl.String,  # file name as given
        "file_sha256": pl.String,
        "line": pl.Int64,  # 1-based physical line of the row in the review file
        "recorded_at": pl.String,  # ISO-8601 UTC
    }
)


def compacted(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its text copied into buffers of its own. Polars' strings are views into
    shared buffers: a few rows (or columns) taken from a large frame keep all of its text alive,
    and a copy is the only way to let it go (appending "" makes new strings)."""

    def owned(column: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
        if dtype == pl.String:
            return column + pl.lit("")
        if isinstance(dtype, pl.List) and dtype.inner == pl.String:
            return column.list.eval(pl.element() + pl.lit(""))
        return column

    return frame.select(owned(pl.col(name), dtype) for name, dtype in frame.schema.items())
