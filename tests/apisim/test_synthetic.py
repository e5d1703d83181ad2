from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from influx_etl.apisim.synthetic import (
    HANDLE_PATTERN,
    ORIGIN_FIELD,
    ORIGIN_SYNTHETIC,
    TWITTER_EPOCH_MS,
    handle_status,
    iter_synthetic_handles,
    pinned_tweet,
    synthetic_handles,
    synthetic_profiles,
    synthetic_user,
)
from influx_etl.frames import ORIGINS, PUBLIC_METRICS


@pytest.fixture(scope="module")
def profiles() -> list[dict[str, Any]]:
    return synthetic_profiles(3000, seed=11)


def test_same_handle_gives_same_profile_whatever_its_case() -> None:
    assert synthetic_user("Grace_Hopper", 3) == synthetic_user("grace_hopper", 3)
    assert handle_status("Grace_Hopper", 3) == handle_status("GRACE_HOPPER", 3)


def test_seed_changes_the_profile() -> None:
    assert synthetic_user("grace_hopper", 1)["id"] != synthetic_user("grace_hopper", 2)["id"]


def test_profiles_are_identical_in_another_process() -> None:
    handles = synthetic_handles(50, seed=4)
    script = (
        "import json, sys\n"
        "from influx_etl.apisim.synthetic import synthetic_user\n"
        "handles = json.loads(sys.argv[1])\n"
        "print(json.dumps([synthetic_user(h, 4) for h in handles]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(handles)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    assert json.loads(done.stdout) == [synthetic_user(h, 4) for h in handles]


def test_generated_handles_are_valid_and_distinct() -> None:
    handles = synthetic_handles(20_000, seed=2)
    assert all(HANDLE_PATTERN.match(handle) for handle in handles)
    assert len({handle.lower() for handle in handles}) == len(handles)
    assert list(itertools.islice(iter_synthetic_handles(2), 10)) == handles[:10]
    assert synthetic_handles(10, seed=3) != handles[:10]


def test_status_fractions_are_near_the_documented_ones() -> None:
    statuses = Counter(handle_status(handle, 5) for handle in synthetic_handles(10_000, seed=5))
    assert 0.035 < statuses["not_found"] / 10_000 < 0.065
    assert 0.010 < statuses["suspended"] / 10_000 < 0.030
    assert statuses["active"] > 9_000


def test_synthetic_profiles_are_active_and_marked(profiles: list[dict[str, Any]]) -> None:
    assert len(profiles) == 3000
    for profile in profiles:
        assert profile[ORIGIN_FIELD] == ORIGIN_SYNTHETIC
        assert handle_status(str(profile["username"]), 11) == "active"
    assert ORIGIN_SYNTHETIC in ORIGINS


def test_canonical_username_differs_from_handle_only_in_case(
    profiles: list[dict[str, Any]],
) -> None:
    handles = synthetic_handles(200, seed=11)
    for handle in handles:
        assert str(synthetic_user(handle, 11)["username"]).lower() == handle
    capitalised = [p for p in profiles if p["username"] != str(p["username"]).lower()]
    assert capitalised, "some profiles should have a capitalised canonical username"


def test_ids_are_distinct_decimal_strings_that_fit_int64(
    profiles: list[dict[str, Any]],
) -> None:
    ids = [profile["id"] for profile in profiles]
    assert all(isinstance(i, str) and i.isdigit() and len(i) <= 19 for i in ids)
    assert all(0 < int(str(i)) < 2**63 for i in ids)
    assert len(set(ids)) == len(ids)


def test_follower_counts_are_heavy_tailed() -> None:
    followers = [
        synthetic_user(handle, 9)["public_metrics"]["followers_count"]
        for handle in synthetic_handles(2000, seed=9)
    ]
    assert min(followers) >= 0
    above = sum(count > 50_000 for count in followers)
    assert above >= 40, "a meaningful fraction should be above 50k"
    assert above < len(followers) / 4, "most should be below 50k"
    assert sorted(followers)[len(followers) // 2] < 50_000


def test_metrics_are_complete_non_negative_and_correlated(
    profiles: list[dict[str, Any]],
) -> None:
    metrics: list[dict[str, int]] = [profile["public_metrics"] for profile in profiles]
    for item in metrics:
        assert isinstance(item, dict)
        assert set(item) == set(PUBLIC_METRICS)
        assert all(isinstance(v, int) and v >= 0 for v in item.values())
        assert item["media_count"] <= item["tweet_count"]
    by_followers = sorted(metrics, key=lambda m: m["followers_count"])
    small, large = by_followers[:500], by_followers[-500:]

    def mean_listed(group: list[dict[str, int]]) -> float:
        return sum(m["listed_count"] for m in group) / len(group)

    assert mean_listed(large) > 10 * mean_listed(small)


def test_verification_mix(profiles: list[dict[str, Any]]) -> None:
    types = Counter(str(profile["verified_type"]) for profile in profiles)
    total = len(profiles)
    assert set(types) <= {"blue", "business", "government", "none"}
    assert 0.15 < types["blue"] / total < 0.25
    assert 0.005 < types["business"] / total < 0.08
    assert types["government"] / total < 0.015
    assert types["none"] > total / 2
    for profile in profiles:
        assert profile["verified"] is (profile["verified_type"] != "none")


def test_created_at_is_between_2007_and_2024(profiles: list[dict[str, Any]]) -> None:
    for profile in profiles:
        created = datetime.strptime(str(profile["created_at"]), "%Y-%m-%dT%H:%M:%S.000Z")
        assert 2007 <= created.year <= 2024


def test_bios_cover_personal_brand_and_risky_accounts(
    profiles: list[dict[str, Any]],
) -> None:
    bios = [str(profile["description"]).lower() for profile in profiles]
    personal = sum(
        any(w in b for w in ("engineer", "founder", "investor", "research")) for b in bios
    )
    brand = sum(
        any(w in b for w in ("official account of", "news and updates from", "customer service"))
        for b in bios
    )
    risky = sum(any(w in b for w in ("follow back", "giveaway", "18+")) for b in bios)
    assert personal > len(bios) / 5
    assert brand > len(bios) / 50
    assert risky > len(bios) / 50
    with_url = [p for p in profiles if "url" in p]
    assert len(with_url) > len(profiles) / 10
    for profile in with_url:
        entities = profile["entities"]
        assert isinstance(entities, dict)
        assert entities["url"]["urls"][0]["url"] == profile["url"]


def test_pinned_tweet_is_deterministic_and_dated_by_its_snowflake() -> None:
    tweet_id = "1285070962874966017"
    tweet = pinned_tweet(tweet_id, author_id="42", seed=1)
    assert tweet == pinned_tweet(tweet_id, author_id="42", seed=1)
    assert tweet["id"] == tweet_id and tweet["author_id"] == "42" and tweet["text"]
    expected = datetime.fromtimestamp(((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) // 1000, tz=UTC)
    assert tweet["created_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_synthetic_pinned_posts_are_not_older_than_their_author(
    profiles: list[dict[str, Any]],
) -> None:
    pinned = [p for p in profiles if "pinned_tweet_id" in p]
    assert len(pinned) > len(profiles) / 10
    for profile in pinned[:300]:
        tweet = pinned_tweet(str(profile["pinned_tweet_id"]), author_id=str(profile["id"]))
        assert tweet["created_at"] >= str(profile["created_at"])
