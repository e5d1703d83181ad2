from __future__ import annotations

import math
import random
from collections.abc import Sequence

import polars as pl
import pytest

from influx_etl import score

VERIFIED_VALUES = ["none", "blue", "business", "org", "legacy"]


def authors(
    followers: Sequence[int | None],
    *,
    verified: str | Sequence[str] = "none",
    listed: int | Sequence[int | None] | None = 0,
    handles: Sequence[str] | None = None,
) -> pl.DataFrame:
    n = len(followers)
    return pl.DataFrame(
        {
            "id": [str(1000 + i) for i in range(n)],
            "handle": list(handles) if handles else [f"user{i}" for i in range(n)],
            "followers_count": list(followers),
            "listed_count": [listed] * n if listed is None or isinstance(listed, int) else listed,
            "verified": [verified] * n if isinstance(verified, str) else list(verified),
        },
        schema={
            "id": pl.String,
            "handle": pl.String,
            "followers_count": pl.Int64,
            "listed_count": pl.Int64,
            "verified": pl.String,
        },
    )


FOLLOWER_RANGE = [0, 1, 999, 1_000, 1_001, 5_000, 10_000, 123_456, 10**6, 10**8, 10**9, 10**12]


@pytest.mark.parametrize("verified", VERIFIED_VALUES)
def test_score_is_bounded_and_monotone_in_followers(verified: str) -> None:
    scores = score.scored(authors(FOLLOWER_RANGE, verified=verified))["score"].to_list()
    assert all(0.0 <= value <= 100.0 for value in scores)
    assert scores == sorted(scores)
    assert scores[-1] == 100.0


def test_score_follows_the_documented_formula() -> None:
    followers = [0, 2_500, 50_000, 3_000_000]
    frame = score.scored(authors(followers, verified=["none", "blue", "none", "legacy"]))
    boosts = [0, 10, 0, 10]
    expected = [
        round(min(100.0, 20 * math.log10(max(count / 1000, 1)) + boost), 2)
        for count, boost in zip(followers, boosts, strict=True)
    ]
    assert frame["score"].to_list() == pytest.approx(expected, abs=0.005)


def test_every_verification_gets_the_same_boost() -> None:
    frame = score.scored(authors([200_000] * 5, verified=VERIFIED_VALUES))
    by_verified = dict(zip(frame["verified"], frame["score"], strict=True))
    for value in ("blue", "business", "org", "legacy"):
        assert by_verified[value] == pytest.approx(by_verified["none"] + score.VERIFIED_BOOST)


def test_null_followers_score_like_zero() -> None:
    frame = score.scored(authors([None, 0], verified="blue"))
    assert frame["score"][0] == frame["score"][1]
    assert frame["quality_score"].to_list() == [0.0, 0.0]


def test_scores_are_rounded_to_two_decimals() -> None:
    frame = score.scored(authors([12_345, 987_654], listed=[37, 4_321]))
    for column in ("score", "quality_score"):
        for value in frame[column]:
            assert value == round(value, 2)


def test_quality_score_follows_the_documented_formula() -> None:
    followers = [10_000, 10_000, 10_000, 50_000]
    listed = [10, 100, 200, 7]
    frame = score.scored(authors(followers, listed=listed))
    expected = [
        round(min(100.0, 100 * math.log10(1 + 1000 * lists / count) / math.log10(21)), 2)
        for count, lists in zip(followers, listed, strict=True)
    ]
    assert frame["quality_score"].to_list() == pytest.approx(expected, abs=0.005)


def test_quality_score_is_bounded_monotone_and_capped_at_two_percent() -> None:
    listed = [0, 1, 10, 100, 199, 200, 201, 5_000, 10_000, 10**6]
    frame = score.scored(authors([10_000] * len(listed), listed=listed))
    values = frame["quality_score"].to_list()
    assert values == sorted(values)
    assert all(0.0 <= value <= 100.0 for value in values)
    assert values[0] == 0.0
    assert values[listed.index(199)] < 100.0
    assert values[listed.index(200)] == 100.0


def test_quality_score_is_zero_without_followers_or_lists() -> None:
    frame = score.scored(authors([0, None, 10_000], listed=[5, 5, None]))
    assert frame["quality_score"].to_list() == [0.0, 0.0, 0.0]


def test_scored_adds_float_columns_and_keeps_the_rest() -> None:
    frame = authors([1_000, 2_000])
    result = score.scored(frame)
    assert result.columns == [*frame.columns, "score", "quality_score"]
    assert result.schema["score"] == pl.Float64
    assert result.schema["quality_score"] == pl.Float64
    assert result.drop("score", "quality_score").equals(frame)


def test_rank_orders_by_score_then_followers() -> None:
    frame = score.ranked(
        score.scored(authors([50_000, 2_000_000, 50_000, 900_000], verified="none"))
    )
    ranks = dict(zip(frame["followers_count"], frame["rank_global"], strict=False))
    assert ranks[2_000_000] == 1
    assert ranks[900_000] == 2
    assert sorted(frame["rank_global"].to_list()) == [1, 2, 3, 4]
    assert frame["rank_global"].to_list() == [1, 2, 3, 4]  # rows come back in rank order


def test_followers_break_score_ties() -> None:
    # both below the 1,000 floor: the same score, different followers
    frame = score.ranked(score.scored(authors([10, 900], handles=["aaa", "zzz"])))
    assert frame["score"][0] == frame["score"][1]
    assert frame.filter(pl.col("rank_global") == 1)["handle"].item() == "zzz"


def test_handle_breaks_remaining_ties() -> None:
    handles = ["delta", "Alpha", "charlie", "bravo"]
    frame = score.ranked(score.scored(authors([5_000] * 4, handles=handles)))
    assert frame.sort("rank_global")["handle"].to_list() == sorted(handles)


def test_ranks_are_unique_and_stable_under_input_order() -> None:
    rng = random.Random(7)
    followers: list[int | None] = [
        rng.choice([500, 5_000, 50_000, 50_000, 10**6]) for _ in range(60)
    ]
    verified = [rng.choice(VERIFIED_VALUES) for _ in range(60)]
    frame = score.scored(authors(followers, verified=verified))
    reference = score.ranked(frame).select("id", "rank_global").sort("id")
    assert reference["rank_global"].sort().to_list() == list(range(1, 61))
    for seed in range(3):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        assert score.ranked(shuffled).select("id", "rank_global").sort("id").equals(reference)


def test_rank_global_is_int64_and_empty_frames_work() -> None:
    frame = score.ranked(score.scored(authors([])))
    assert frame.height == 0
    assert frame.schema["rank_global"] == pl.Int64
