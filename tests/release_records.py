"""Builders of dataset files and of the original influx project's release records, for the tests
of scoring, validation, export and import (and their command lines).

``scored_authors`` turns API user objects (``tests.factories.api_user``) into a scored
``AUTHORS_SCHEMA`` frame; ``write_dataset`` integrates such a frame into a real DuckDB file;
``original_record`` builds a record as the original project released them: our required fields
plus the extra top-level and ``meta`` fields it wrote, a free-form ``ext`` and its own source
methods and timestamp style.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from influx_etl import score, transform
from influx_etl.frames import OUTCOMES_SCHEMA, SEED_REJECTS_SCHEMA
from influx_etl.sources import DatasetKind
from influx_etl.store import Store
from tests.factories import api_user, kept_frame

RUN_STARTED_AT = "2025-11-20T09:00:00Z"


def user(user_id: str, handle: str, followers: int = 120_000, **fields: Any) -> dict[str, Any]:
    """An API user object with this id, handle and follower count."""
    metrics = {**api_user()["public_metrics"], "followers_count": followers}
    metrics.update(fields.pop("metrics", {}))
    return api_user(
        id=user_id, username=handle, name=handle.title(), public_metrics=metrics, **fields
    )


def scored_authors(
    users: Sequence[Mapping[str, Any]],
    *,
    origin: str = "x-api-v2",
    categories: Sequence[str] = ("ai_research",),
    seed_files: Sequence[str] = ("ai.csv",),
) -> pl.DataFrame:
    """``AUTHORS_SCHEMA`` rows for ``users``, scored like a pipeline run scores them."""
    kept = kept_frame(users, origin=origin, categories=categories, seed_files=seed_files)
    return score.scored(transform.author_records(kept, RUN_STARTED_AT))


def write_dataset(path: Path, authors: pl.DataFrame, kind: DatasetKind = "live") -> Path:
    """Integrate ``authors`` into the dataset file at ``path`` (created if needed)."""
    with Store.open(path, kind) as store:
        store.integrate(
            f"run-{store.runs().height + 1}",
            pl.DataFrame(schema=OUTCOMES_SCHEMA),
            authors,
            pl.Series("id", [], dtype=pl.String),
            pl.DataFrame(schema=SEED_REJECTS_SCHEMA),
        )
    return path


ORIGINAL_RECORD: dict[str, Any] = {
    "id": "44196397",
    "handle": "OriginalOne",
    "name": "Original One",
    "verified": "blue",
    "followers_count": 250_000,
    "is_org": False,
    "is_official": False,
    "lang_primary": "en",
    "topic_tags": ["AI Research", "ml"],
    "meta": {
        "score": 57.96,
        "last_refresh_at": "2025-11-13T12:00:00.123456+00:00",
        "sources": [
            {
                "method": "twitter-api-v2",
                "fetched_at": "2025-11-13T12:00:00.123456+00:00",
                "evidence": "tweet counts + user lookup",
            },
            {
                "method": "manual_csv",
                "fetched_at": "2025-11-10T08:30:00Z",
                "evidence": "lists/seeds/m08-ai-research-batch.csv",
            },
        ],
        "provenance_hash": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "entry_threshold_passed": True,
        "quality_score": 87.5,
        "rank_global": 12,
        "activity_metrics": {"tweet_count": 9_000},
    },
    # extra top-level fields of the original releases (copies flattened out of meta, a batch tag)
    "entry_threshold_passed": True,
    "quality_score": 87.5,
    "provenance": "twitter_user_lookup_batch_29",
    "ext": {
        "activity_metrics": {
            "account_created_at": "2012-03-04T05:06:07.000Z",
            "tweet_count": 9_000,
            "total_like_count": 4_000,
            "media_count": 120,
            "listed_count": 1_500,
            "following_count": 300,
            "last_captured_at": "2025-11-13T12:00:00Z",
        },
        "risk_flags": [],
        "notes": "free-form in the original",
    },
}


def original_record(record_id: str, handle: str, **changes: Any) -> dict[str, Any]:
    """A release record of the original project; ``changes`` replace top-level keys, and
    ``meta__KEY`` replaces ``meta.KEY`` (``None`` removes the key)."""
    record = copy.deepcopy(ORIGINAL_RECORD)
    record["id"], record["handle"], record["name"] = record_id, handle, handle.replace("_", " ")
    for key, value in changes.items():
        target, name = (record["meta"], key[6:]) if key.startswith("meta__") else (record, key)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return record
