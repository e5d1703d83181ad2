from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from influx_etl import score
from influx_etl.config import DEFAULT_SCORING
from influx_etl.errors import InfluxError, ScoringError
from tests.conftest import REPO_ROOT

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


# -- composite score ---------------------------------------------------------------------------

DEFAULT_WEIGHTS = score.Scoring()


def profiles(
    n: int,
    *,
    tweets: int | Sequence[int | None] | None = 3_650,
    created_at: str | None = "2015-11-20T00:00:00Z",
    seed_files: Sequence[Sequence[str] | None] | None = None,
    topic_tags: Sequence[Sequence[str] | None] | None = None,
    quality: float | Sequence[float | None] | None = 50.0,
) -> pl.DataFrame:
    """Authors with what the composite reads; refreshed 2025-11-20, ten years after creation."""
    frame = authors([100_000] * n).with_columns(
        score=pl.Series([60.0 - i for i in range(n)], dtype=pl.Float64),
        tweet_count=pl.Series(
            [tweets] * n if tweets is None or isinstance(tweets, int) else list(tweets),
            dtype=pl.Int64,
        ),
        created_at=pl.lit(created_at, pl.String),
        last_refresh_at=pl.lit("2025-11-20T00:00:00Z"),
        seed_files=pl.Series(
            [["a.csv"]] * n if seed_files is None else list(seed_files),
            dtype=pl.List(pl.String),
        ),
        topic_tags=pl.Series(
            [["ai"]] * n if topic_tags is None else list(topic_tags), dtype=pl.List(pl.String)
        ),
        quality_score=pl.Series(
            [quality] * n if quality is None or isinstance(quality, float) else list(quality),
            dtype=pl.Float64,
        ),
    )
    return frame


def test_activity_follows_the_documented_formula() -> None:
    tweets = [0, 365, 3_650, 36_500, 10**7]
    frame = score.composite_scored(profiles(5, tweets=tweets), DEFAULT_WEIGHTS)
    days = 3_653  # 2015-11-20 .. 2025-11-20
    expected = [
        round(min(100.0, 100 * math.log10(1 + count / days) / math.log10(1 + 10)), 2)
        for count in tweets
    ]
    assert frame["activity_score"].to_list() == pytest.approx(expected, abs=0.005)
    assert frame["activity_score"].to_list() == sorted(frame["activity_score"].to_list())
    assert frame["activity_score"][-1] == 100.0


def test_activity_is_zero_without_posts_or_creation_date() -> None:
    unknown = score.composite_scored(profiles(2, tweets=[None, 5_000]), DEFAULT_WEIGHTS)
    assert unknown["activity_score"][0] == 0.0
    undated = score.composite_scored(profiles(1, created_at=None), DEFAULT_WEIGHTS)
    assert undated["activity_score"].item() == 0.0


def test_activity_counts_a_new_account_over_at_least_one_day() -> None:
    frame = score.composite_scored(
        profiles(1, tweets=10, created_at="2025-11-19T23:00:00Z"), DEFAULT_WEIGHTS
    )
    assert frame["activity_score"].item() == 100.0  # 10 posts in (at least) one day


def test_relevance_counts_seed_lists_and_topics_up_to_the_full_points() -> None:
    seed_files = [[], ["a"], ["a", "b", "c"], ["a", "b", "c", "d", "e"], None]
    topic_tags = [[], ["x"], ["x", "y", "z"], ["x", "y", "z", "w"], None]
    frame = score.composite_scored(
        profiles(5, seed_files=seed_files, topic_tags=topic_tags), DEFAULT_WEIGHTS
    )
    assert frame["relevance_score"].to_list() == pytest.approx([0.0, 33.33, 100.0, 100.0, 0.0])


def test_composite_is_the_weighted_mean_of_its_components() -> None:
    weights = score.Scoring(weights=score.CompositeWeights(activity=1, quality=2, relevance=3))
    frame = score.composite_scored(
        profiles(3, tweets=[0, 3_650, 99_999], quality=[10.0, 50.0, 90.0]), weights
    )
    for row in frame.iter_rows(named=True):
        mean = (row["activity_score"] + 2 * row["quality_score"] + 3 * row["relevance_score"]) / 6
        assert row["composite_score"] == pytest.approx(mean, abs=0.005)


@pytest.mark.parametrize("component", ["activity", "quality", "relevance"])
def test_a_single_weight_makes_the_composite_that_component(component: str) -> None:
    weights = {"activity": 0.0, "quality": 0.0, "relevance": 0.0, component: 5.0}
    scoring = score.Scoring(weights=score.CompositeWeights(**weights))
    frame = score.composite_scored(
        profiles(3, tweets=[10, 2_000, 90_000], quality=[5.0, None, 95.0]), scoring
    )
    column = {"activity": "activity_score", "relevance": "relevance_score"}.get(component)
    expected = frame[column] if column else frame["quality_score"].fill_null(0.0)
    assert frame["composite_score"].to_list() == pytest.approx(expected.to_list(), abs=0.005)


def test_scaling_every_weight_changes_nothing() -> None:
    frame = profiles(4, tweets=[1, 500, 5_000, 50_000], quality=[1.0, 20.0, 60.0, 99.0])
    one = score.composite_scored(frame, score.Scoring())
    tenfold = score.Scoring(weights=score.CompositeWeights(activity=3, quality=4, relevance=3))
    assert one["composite_score"].equals(score.composite_scored(frame, tenfold)["composite_score"])


def test_composite_is_bounded_and_monotone_in_each_component() -> None:
    rng = random.Random(11)
    n = 200
    frame = profiles(
        n,
        tweets=[rng.choice([None, 0, 10, 10**3, 10**5, 10**8]) for _ in range(n)],
        quality=[rng.choice([None, 0.0, 33.3, 100.0]) for _ in range(n)],
        seed_files=[["s"] * rng.randint(0, 6) for _ in range(n)],
        topic_tags=[[f"t{k}" for k in range(rng.randint(0, 6))] for _ in range(n)],
    )
    scored = score.composite_scored(frame, DEFAULT_WEIGHTS)
    for column in ("activity_score", "relevance_score", "composite_score"):
        assert scored[column].null_count() == 0
        assert scored[column].min() >= 0.0  # type: ignore[operator]
        assert scored[column].max() <= 100.0  # type: ignore[operator]
    busier = score.composite_scored(
        frame.with_columns(pl.col("tweet_count").fill_null(0) * 2 + 1), DEFAULT_WEIGHTS
    )
    assert (busier["composite_score"] >= scored["composite_score"]).all()


def test_composite_leaves_the_proxy_scores_alone() -> None:
    frame = profiles(3)
    scored = score.composite_scored(frame, DEFAULT_WEIGHTS)
    assert scored.select(frame.columns).equals(frame)


# -- per-topic ranks ---------------------------------------------------------------------------


def test_topic_ranks_follow_the_global_order_within_each_topic() -> None:
    frame = profiles(
        4, topic_tags=[["ai", "vc"], ["vc"], ["ai"], []]
    )  # scores 60, 59, 58, 57: the global order is row order
    ranked = score.rescored(frame, DEFAULT_WEIGHTS)
    by_handle = dict(zip(ranked["handle"], ranked["rank_topic"].to_list(), strict=True))
    assert by_handle == {
        "user0": [{"topic": "ai", "rank": 1}, {"topic": "vc", "rank": 1}],
        "user1": [{"topic": "vc", "rank": 2}],
        "user2": [{"topic": "ai", "rank": 2}],
        "user3": [],
    }
    assert ranked["rank_global"].to_list() == [1, 2, 3, 4]


def test_topic_ranks_are_a_permutation_per_topic_and_stable_under_input_order() -> None:
    rng = random.Random(3)
    topics = ["ai", "bio", "vc", "web3"]
    n = 80
    frame = profiles(
        n, topic_tags=[sorted(rng.sample(topics, rng.randint(0, 3))) for _ in range(n)]
    )
    frame = frame.with_columns(score=pl.Series([rng.choice([10.0, 20.0, 30.0]) for _ in range(n)]))
    reference = score.rescored(frame, DEFAULT_WEIGHTS).select("id", "rank_topic").sort("id")
    entries = reference.explode("rank_topic").drop_nulls("rank_topic").unnest("rank_topic")
    for _, group in entries.group_by("topic"):
        assert sorted(group["rank"].to_list()) == list(range(1, group.height + 1))
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=5)
    again = score.rescored(shuffled, DEFAULT_WEIGHTS).select("id", "rank_topic").sort("id")
    assert again.equals(reference)


def test_ranks_from_the_ranking_columns_alone_match_rescored_slice_by_slice() -> None:
    rng = random.Random(7)
    topics = ["ai", "bio", "vc"]
    n = 40
    frame = profiles(
        n, topic_tags=[sorted(rng.sample(topics, rng.randint(0, 2))) for _ in range(n)]
    ).with_columns(score=pl.Series([rng.choice([10.0, 20.0]) for _ in range(n)]))
    whole = score.rescored(frame, DEFAULT_WEIGHTS)
    ranks = score.rank_columns(frame.select(score.RANKING_COLUMNS))
    assert ranks.equals(whole.select("id", *score.RANK_COLUMNS))
    # each slice of the rank order scored on its own authors, fetched in any order
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=11)
    slices = [
        score.with_ranks(
            score.composite_scored(
                shuffled.filter(pl.col("id").is_in(part["id"].implode())), DEFAULT_WEIGHTS
            ),
            part,
        )
        for part in ranks.iter_slices(7)
    ]
    assert pl.concat(slices).equals(whole)


def test_with_ranks_replaces_ranks_and_leaves_out_authors_without_one() -> None:
    frame = profiles(3)
    ranks = score.rank_columns(frame)
    again = score.with_ranks(score.rescored(frame, DEFAULT_WEIGHTS), ranks.slice(1, 2))
    assert again["id"].to_list() == ranks["id"].to_list()[1:]
    assert again["rank_global"].to_list() == [2, 3]
    assert again.columns.count("rank_topic") == 1


def test_topic_summary_names_each_topics_leader() -> None:
    frame = profiles(3, topic_tags=[["vc"], ["ai", "vc"], ["ai"]])
    summary = score.topic_summary(score.rescored(frame, DEFAULT_WEIGHTS))
    assert summary.select("topic", "authors", "leader").rows() == [
        ("ai", 2, "user1"),
        ("vc", 2, "user0"),
    ]


def test_topic_ranking_lists_one_topic_in_rank_order() -> None:
    frame = profiles(3, topic_tags=[["vc"], ["ai"], ["ai", "vc"]])
    ranking = score.topic_ranking(score.rescored(frame, DEFAULT_WEIGHTS), "vc")
    assert ranking.select("rank_topic", "handle").rows() == [(1, "user0"), (2, "user2")]


# -- the scoring file --------------------------------------------------------------------------


def write_scoring(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scoring.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_scoring_file_loads_and_is_the_bundled_one() -> None:
    shipped = score.load_scoring(REPO_ROOT / "lists" / "scoring.yml")
    assert shipped == score.load_scoring(DEFAULT_SCORING)
    assert shipped.weights.total > 0


def test_scoring_file_values_are_read(tmp_path: Path) -> None:
    path = write_scoring(
        tmp_path,
        "version: 2025-11-20\nweights: {activity: 1, quality: 0, relevance: 2.5}\n"
        "activity: {full_posts_per_day: 4}\nrelevance: {full_seed_lists: 2, full_topics: 5}\n",
    )
    loaded = score.load_scoring(path)
    assert loaded.weights == score.CompositeWeights(activity=1.0, quality=0.0, relevance=2.5)
    assert (loaded.full_posts_per_day, loaded.full_seed_lists, loaded.full_topics) == (4.0, 2, 5)
    assert loaded.version == "2025-11-20"


def test_optional_sections_take_the_defaults(tmp_path: Path) -> None:
    path = write_scoring(tmp_path, "weights: {activity: 1, quality: 1, relevance: 1}\n")
    loaded = score.load_scoring(path)
    assert loaded.full_posts_per_day == score.Scoring().full_posts_per_day
    assert loaded.full_topics == score.Scoring().full_topics


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("weights: {activity: 1, quality: 1}\n", "weights.relevance", "required"),
        ("weights: {activity: 1, quality: x, relevance: 1}\n", "weights.quality", "a number"),
        ("weights: {activity: -1, quality: 1, relevance: 1}\n", "weights.activity", ">= 0"),
        ("weights: {activity: 0, quality: 0, relevance: 0}\n", "weights", "at least one"),
        (
            "weights: {activity: 1, quality: 1, relevance: 1, reach: 1}\n",
            "weights.reach",
            "valid keys are: activity, quality, relevance",
        ),
        ("wieghts: {activity: 1}\n", "wieghts", "valid keys are: version, weights"),
        ("weights: [1, 2]\n", "weights", "expected a mapping"),
        (
            "weights: {activity: 1, quality: 1, relevance: 1}\nactivity: {full_posts_per_day: 0}\n",
            "activity.full_posts_per_day",
            "> 0",
        ),
        (
            "weights: {activity: 1, quality: 1, relevance: 1}\nrelevance: {full_topics: 1.5}\n",
            "relevance.full_topics",
            "whole number",
        ),
        ("weights: {activity: true, quality: 1, relevance: 1}\n", "weights.activity", "a number"),
    ],
)
def test_a_bad_scoring_file_names_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    path = write_scoring(tmp_path, text)
    with pytest.raises(ScoringError) as raised:
        score.load_scoring(path)
    assert raised.value.file == str(path)
    assert raised.value.key == key
    assert expected in str(raised.value)
    assert isinstance(raised.value, InfluxError)


def test_a_repeated_key_is_refused(tmp_path: Path) -> None:
    path = write_scoring(
        tmp_path, "weights:\n  activity: 1\n  quality: 1\n  relevance: 1\n  quality: 9\n"
    )
    with pytest.raises(ScoringError, match="duplicate key 'quality'"):
        score.load_scoring(path)


def test_unreadable_and_malformed_scoring_files(tmp_path: Path) -> None:
    with pytest.raises(ScoringError, match="cannot read"):
        score.load_scoring(tmp_path / "absent.yml")
    with pytest.raises(ScoringError, match="not valid YAML at line 2"):
        score.load_scoring(write_scoring(tmp_path, "weights: {activity: 1\n  quality: [}\n"))
