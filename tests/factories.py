"""Builders of contract-shaped test frames from X API v2 user objects.

``profiles_frame`` flattens API user dicts (as in ``../shared/data/real_users.jsonl`` or made with
``api_user``) into ``PROFILES_SCHEMA`` rows with outcome ``found``; ``kept_frame`` adds the rule
columns (``RULE_COLUMNS``, decision ``kept``) and the seed columns ``categories``/``seed_files``,
i.e. what ``transform.author_records`` takes. Defaults describe an ordinary kept individual;
override columns with keyword arguments (same value for every row) or ``with_columns`` afterwards.

The flattening mirrors the lookup's contract: ``public_metrics`` become columns, a legacy
``"verified": "blue"`` string becomes ``verified_type = "blue"`` with no legacy boolean, a
``{"data": {...}}`` wrapper is unwrapped, and every missing field is null.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from influx_etl.frames import PROFILES_SCHEMA, PUBLIC_METRICS, RULE_COLUMNS

DEFAULT_FETCHED_AT = "2025-11-20T10:00:00Z"

KEPT_SCHEMA = pl.Schema(
    {
        **PROFILES_SCHEMA,
        **RULE_COLUMNS,
        "categories": pl.List(pl.String),
        "seed_files": pl.List(pl.String),
    }
)


def load_users(path: Path) -> list[dict[str, Any]]:
    """API user objects from a JSONL file, one per non-blank line."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def api_user(**fields: Any) -> dict[str, Any]:
    """A plausible API user object; ``fields`` replace or add top-level keys (None removes one)."""
    user: dict[str, Any] = {
        "id": "1234567890",
        "username": "ExampleUser",
        "name": "Example User",
        "description": "Builds things.",
        "created_at": "2012-03-04T05:06:07.000Z",
        "verified": False,
        "verified_type": "none",
        "protected": False,
        "public_metrics": {
            "followers_count": 120_000,
            "following_count": 300,
            "tweet_count": 5_000,
            "listed_count": 900,
            "like_count": 2_000,
            "media_count": 150,
        },
    }
    user.update(fields)
    return {key: value for key, value in user.items() if value is not None}


def _expanded_urls(user: Mapping[str, Any]) -> list[str]:
    entities = user.get("entities") or {}
    urls: list[str] = []
    for part in ("url", "description"):
        for item in (entities.get(part) or {}).get("urls") or []:
            expanded = item.get("expanded_url") or item.get("url")
            if expanded:
                urls.append(expanded)
    return urls


def profile_row(
    user: Mapping[str, Any],
    *,
    origin: str = "recorded",
    fetched_at: str | None = DEFAULT_FETCHED_AT,
    batch_id: int | None = 1,
    pinned_tweets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One ``PROFILES_SCHEMA`` row (outcome ``found``) from one API user object.

    ``pinned_tweets`` maps pinned post ids to their ``created_at`` (the API's ``includes.tweets``).
    """
    if set(user) == {"data"} and isinstance(user["data"], Mapping):
        user = user["data"]
    verified = user.get("verified")
    verified_type = user.get("verified_type")
    if isinstance(verified, str):
        verified_type = verified_type or verified
        verified = None
    metrics = user.get("public_metrics") or {}
    pinned = user.get("pinned_tweet_id")
    username = user.get("username")
    row: dict[str, Any] = {
        "handle_key": username.lower() if isinstance(username, str) else None,
        "batch_id": batch_id,
        "outcome": "found",
        "outcome_detail": None,
        "origin": origin,
        "fetched_at": fetched_at,
        **{
            name: user.get(name)
            for name in (
                "id",
                "username",
                "name",
                "description",
                "created_at",
                "location",
                "url",
                "profile_image_url",
                "protected",
            )
        },
        "verified": verified,
        "verified_type": verified_type,
        "pinned_tweet_id": pinned,
        **{metric: metrics.get(metric) for metric in PUBLIC_METRICS},
        "pinned_tweet_created_at": (pinned_tweets or {}).get(pinned) if pinned else None,
        "urls": _expanded_urls(user),
    }
    return row


def profiles_frame(
    users: Iterable[Mapping[str, Any]],
    *,
    origin: str = "recorded",
    fetched_at: str | None = DEFAULT_FETCHED_AT,
    batch_id: int | None = 1,
    pinned_tweets: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """``PROFILES_SCHEMA`` frame of found profiles, one row per user object, in the given order."""
    rows = [
        profile_row(
            user,
            origin=origin,
            fetched_at=fetched_at,
            batch_id=batch_id,
            pinned_tweets=pinned_tweets,
        )
        for user in users
    ]
    return pl.DataFrame(rows, schema=PROFILES_SCHEMA)


def kept_frame(
    users: Iterable[Mapping[str, Any]],
    *,
    categories: Sequence[str] = ("tech_ceo",),
    seed_files: Sequence[str] = ("seeds.csv",),
    origin: str = "recorded",
    fetched_at: str | None = DEFAULT_FETCHED_AT,
    batch_id: int | None = 1,
    pinned_tweets: Mapping[str, str] | None = None,
    **columns: Any,
) -> pl.DataFrame:
    """Profiles + rule columns (an ordinary kept individual) + seed columns: ``KEPT_SCHEMA``.

    ``columns`` set any rule or profile column to one value for every row.
    """
    profiles = profiles_frame(
        users, origin=origin, fetched_at=fetched_at, batch_id=batch_id, pinned_tweets=pinned_tweets
    )
    defaults: dict[str, Any] = {
        "passes_threshold": True,
        "brand_matches": [],
        "brand_confidence": 0.0,
        "is_org": False,
        "is_official": False,
        "brand_exception": False,
        "risk_matches": [],
        "risk_flags": [],
        "risk_excluded": False,
        "risk_excluding_flags": [],
        "risk_multi_flag_threshold": 2,
        "decision": "kept",
        "categories": list(categories),
        "seed_files": list(seed_files),
    }
    defaults.update(columns)
    unknown = set(defaults) - set(KEPT_SCHEMA)
    if unknown:
        raise KeyError(f"not a column of KEPT_SCHEMA: {sorted(unknown)}")
    frame = profiles.with_columns(
        pl.lit(value, dtype=KEPT_SCHEMA[name]).alias(name) for name, value in defaults.items()
    )
    if "is_verified" not in columns:
        frame = frame.with_columns(
            is_verified=pl.col("verified_type")
            .is_in(["blue", "business", "government"])
            .fill_null(False)
            | pl.col("verified").fill_null(False)
        )
    return frame.select([pl.col(name).cast(dtype) for name, dtype in KEPT_SCHEMA.items()])
