"""The entry threshold: (verified AND followers >= 30k) OR followers >= 50k, by default."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from influx_etl.config import Thresholds
from influx_etl.threshold import THRESHOLD_COLUMNS, thresholded
from tests.factories import api_user, profiles_frame

DEFAULTS = Thresholds()


def _one(followers: int | None, **fields: Any) -> dict[str, Any]:
    frame = profiles_frame([api_user(**fields)]).with_columns(
        followers_count=pl.lit(followers, dtype=pl.Int64)
    )
    return thresholded(frame, DEFAULTS).row(0, named=True)


@pytest.mark.parametrize(
    ("followers", "verified_type", "verified", "passes"),
    [
        (DEFAULTS.verified_min_followers, "blue", None, True),
        (DEFAULTS.verified_min_followers - 1, "blue", None, False),
        (DEFAULTS.min_followers - 1, "none", False, False),
        (DEFAULTS.min_followers, "none", False, True),
        (DEFAULTS.min_followers, None, None, True),
        (DEFAULTS.verified_min_followers, "none", True, True),  # legacy verified
        (DEFAULTS.verified_min_followers, "government", None, True),
        (DEFAULTS.verified_min_followers, "business", False, True),
        (DEFAULTS.verified_min_followers, None, None, False),
    ],
)
def test_threshold_boundaries(
    followers: int, verified_type: str | None, verified: bool | None, passes: bool
) -> None:
    result = _one(followers, verified_type=verified_type, verified=verified)
    assert result["passes_threshold"] is passes


@pytest.mark.parametrize(
    ("verified_type", "verified", "expected"),
    [
        ("blue", None, True),
        ("Business", None, True),
        ("government", False, True),
        ("none", True, True),
        ("none", False, False),
        (None, None, False),
    ],
)
def test_is_verified(verified_type: str | None, verified: bool | None, expected: bool) -> None:
    assert _one(1, verified_type=verified_type, verified=verified)["is_verified"] is expected


@pytest.mark.parametrize("verified_type", ["blue", "none"])
def test_no_follower_count_never_passes(verified_type: str) -> None:
    result = _one(None, verified_type=verified_type, verified=True)
    assert result["passes_threshold"] is False


def test_thresholds_come_from_the_config() -> None:
    frame = profiles_frame([api_user(verified_type="blue")]).with_columns(
        followers_count=pl.lit(500, dtype=pl.Int64)
    )
    strict = thresholded(frame, Thresholds(min_followers=1_000, verified_min_followers=501))
    lenient = thresholded(frame, Thresholds(min_followers=1_000, verified_min_followers=500))
    assert strict["passes_threshold"].to_list() == [False]
    assert lenient["passes_threshold"].to_list() == [True]
    assert {name: lenient.schema[name] for name in THRESHOLD_COLUMNS} == dict(THRESHOLD_COLUMNS)
