"""Small builders of ``PROFILES_SCHEMA`` frames for the rules tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from tests.factories import api_user, profiles_frame


def user(
    username: str = "ExampleUser",
    *,
    links: tuple[str, ...] = (),
    followers: int = 120_000,
    following: int = 2_000,
    **fields: Any,
) -> dict[str, Any]:
    """An API user object; ``links`` become expanded bio links (the ``urls`` column).

    The default follower/following ratio (60) stays below the ratio heuristics' thresholds.
    """
    if links:
        fields["entities"] = {"description": {"urls": [{"expanded_url": link} for link in links]}}
    made = api_user(username=username, **fields)
    made["public_metrics"] = {
        **made["public_metrics"],
        "followers_count": followers,
        "following_count": following,
    }
    return made


def profiles(*users: dict[str, Any]) -> pl.DataFrame:
    return profiles_frame(users)


def not_found(handle: str, outcome: str = "not_found") -> pl.DataFrame:
    """A row for a handle the lookup did not find: every user field null."""
    frame = profiles_frame([user(handle)])
    user_columns = [name for name in frame.columns if name not in ("handle_key", "batch_id")]
    return frame.with_columns(
        [pl.lit(None, dtype=frame.schema[name]).alias(name) for name in user_columns]
    ).with_columns(outcome=pl.lit(outcome))


def row(frame: pl.DataFrame, username: str) -> dict[str, Any]:
    """The one row of ``frame`` whose username is ``username``."""
    rows = frame.filter(pl.col("username") == username).to_dicts()
    assert len(rows) == 1, f"expected one row for {username}, got {len(rows)}"
    return rows[0]
