"""The lookups' answers: parameters checked, users found and shaped as the API sends them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from influx_etl.apisim import (
    ORIGIN_FIELD,
    ApiServerConfig,
    RunningServer,
    UserLookup,
    load_population,
    start_server,
    synthetic_handles,
    synthetic_user,
)
from influx_etl.errors import SourceError
from influx_etl.frames import ORIGINS
from tests.apisim.serving import SEED, assert_rate_headers, handles_with, lookup


def test_bulk_lookup_mixes_found_not_found_and_suspended(server: RunningServer) -> None:
    active = handles_with("active", 3)
    missing = handles_with("not_found", 2)
    suspended = handles_with("suspended", 1)
    response = lookup(server, active + missing + suspended)
    assert response.status_code == 200
    body = response.json()
    assert sorted(u["username"].lower() for u in body["data"]) == sorted(active)
    errors = {e["value"]: e for e in body["errors"]}
    assert set(errors) == set(missing + suspended)
    for handle in missing:
        assert errors[handle]["title"] == "Not Found Error"
        assert errors[handle]["detail"] == f"Could not find user with usernames: [{handle}]."
        assert errors[handle]["parameter"] == "usernames"
        assert errors[handle]["resource_type"] == "user"
    assert errors[suspended[0]]["title"] == "Forbidden"
    assert errors[suspended[0]]["detail"] == f"User has been suspended: [{suspended[0]}]."
    assert_rate_headers(response)


def test_data_is_absent_when_every_username_failed(server: RunningServer) -> None:
    body = lookup(server, handles_with("not_found", 2) + handles_with("suspended", 1)).json()
    assert "data" not in body
    assert len(body["errors"]) == 3


def test_matching_is_case_insensitive_and_returns_the_canonical_case(
    server: RunningServer,
) -> None:
    handle = next(
        h
        for h in handles_with("active", 200)
        if synthetic_user(h, SEED)["username"] != h and h.swapcase() != h
    )
    canonical = synthetic_user(handle, SEED)["username"]
    body = lookup(server, [handle.swapcase(), handle]).json()
    assert [user["username"] for user in body["data"]] == [canonical]
    assert "errors" not in body


def test_more_than_100_usernames_is_a_400_problem(server: RunningServer) -> None:
    handles = synthetic_handles(101, seed=SEED)
    response = lookup(server, handles)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert "usernames" in body["errors"][0]["parameters"]
    assert_rate_headers(response)
    assert lookup(server, handles[:100]).status_code == 200


def test_empty_and_invalid_usernames_are_400(server: RunningServer) -> None:
    assert lookup(server, []).status_code == 400
    response = lookup(server, ["fine_handle", "not-valid", "waytoolonghandle16"])
    assert response.status_code == 400
    rejected = [e["parameters"]["usernames"][0] for e in response.json()["errors"]]
    assert rejected == ["not-valid", "waytoolonghandle16"]
    assert lookup(server, ["a", "", "b"]).status_code == 400


def test_unknown_field_or_parameter_is_400(server: RunningServer) -> None:
    assert lookup(server, ["someone"], **{"user.fields": "followers"}).status_code == 400
    assert lookup(server, ["someone"], expansions="author_id").status_code == 400
    assert lookup(server, ["someone"], max_results="5").status_code == 400


def test_default_fields_are_id_name_username_and_origin(server: RunningServer) -> None:
    body = lookup(server, handles_with("active", 5)).json()
    for user in body["data"]:
        assert set(user) == {"id", "name", "username", ORIGIN_FIELD}


def test_user_fields_select_what_comes_back(server: RunningServer) -> None:
    handles = handles_with("active", 20)
    fields = "public_metrics,created_at,verified_type"
    body = lookup(server, handles, **{"user.fields": fields}).json()
    for user in body["data"]:
        assert set(user) == {"id", "name", "username", ORIGIN_FIELD, *fields.split(",")}
        assert user[ORIGIN_FIELD] == "synthetic"
        assert user["public_metrics"]["followers_count"] >= 0


def test_pinned_tweet_expansion(server: RunningServer) -> None:
    handles = [
        h for h in handles_with("active", 60) if "pinned_tweet_id" in synthetic_user(h, SEED)
    ]
    assert handles
    plain = lookup(server, handles).json()
    assert "includes" not in plain
    assert all("pinned_tweet_id" not in user for user in plain["data"])

    body = lookup(
        server, handles, expansions="pinned_tweet_id", **{"tweet.fields": "created_at"}
    ).json()
    pinned_ids = {user["pinned_tweet_id"] for user in body["data"]}
    tweets = body["includes"]["tweets"]
    assert {tweet["id"] for tweet in tweets} == pinned_ids
    for tweet in tweets:
        assert {"id", "text", "created_at"} <= set(tweet)
        assert tweet["created_at"].endswith(".000Z")
    without_created = lookup(server, handles, expansions="pinned_tweet_id").json()
    assert all("created_at" not in t for t in without_created["includes"]["tweets"])
    again = lookup(server, handles, expansions="pinned_tweet_id", **{"tweet.fields": "created_at"})
    assert again.json()["includes"] == body["includes"]


def test_every_served_user_carries_a_known_origin(
    server: RunningServer, tiny_population: Path
) -> None:
    with start_server(ApiServerConfig(population=tiny_population, seed=SEED)) as mixed:
        body = lookup(mixed, ["mixedcase", *handles_with("active", 5)]).json()
    origins = [user[ORIGIN_FIELD] for user in body["data"]]
    assert set(origins) == {"recorded", "synthetic"}
    assert set(origins) <= set(ORIGINS)


def test_population_file_with_wrapped_and_bad_lines(
    tiny_population: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="influx_etl.apisim")
    config = ApiServerConfig(population=tiny_population, synthetic=False)
    with start_server(config) as running:
        assert running.population_size == 4
        body = lookup(
            running,
            ["MIXEDCASE", "wrapped_one", "pinner", "replayed", "nobody"],
            **{"user.fields": "verified,public_metrics"},
        ).json()
    users = {user["username"]: user for user in body["data"]}
    assert set(users) == {"MixedCase", "Wrapped_One", "pinner", "replayed"}
    assert users["MixedCase"]["verified"] == "blue"
    assert users["MixedCase"][ORIGIN_FIELD] == "recorded"
    assert users["pinner"]["public_metrics"] == {"followers_count": 12}
    assert users["replayed"][ORIGIN_FIELD] == "synthetic"
    assert [error["value"] for error in body["errors"]] == ["nobody"]
    reported = [r.getMessage() for r in caplog.records]
    assert any(f"{tiny_population}:3:" in message for message in reported)
    assert any(f"{tiny_population}:4:" in message for message in reported)
    assert len(reported) == 2


def test_recorded_pinned_post_is_expanded(tiny_population: Path) -> None:
    with start_server(ApiServerConfig(population=tiny_population)) as running:
        body = lookup(
            running, ["pinner"], expansions="pinned_tweet_id", **{"tweet.fields": "created_at"}
        ).json()
    assert body["data"][0]["pinned_tweet_id"] == "1285070962874966017"
    assert body["includes"]["tweets"][0]["id"] == "1285070962874966017"
    assert body["includes"]["tweets"][0]["created_at"].startswith("2020-07-20")


def test_missing_population_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.jsonl"):
        start_server(ApiServerConfig(population=tmp_path / "missing.jsonl"))


def test_preloaded_population_mapping(tiny_population: Path) -> None:
    population = load_population(tiny_population)
    with start_server(ApiServerConfig(population=population, synthetic=False)) as running:
        body = lookup(running, ["wrapped_ONE"]).json()
    assert body["data"][0]["id"] == "102"


def test_real_recorded_users_are_served_as_recorded(shared_real_users: Path) -> None:
    recorded = [json.loads(line) for line in shared_real_users.read_text().splitlines() if line]
    fields = "verified,verified_type,public_metrics,description,created_at,pinned_tweet_id"
    config = ApiServerConfig(population=shared_real_users, synthetic=False)
    served: dict[str, dict[str, Any]] = {}
    with start_server(config) as running:
        assert running.population_size == len(recorded)
        for start in range(0, len(recorded), 100):
            batch = [user["username"].lower() for user in recorded[start : start + 100]]
            body = lookup(running, batch, **{"user.fields": fields}).json()
            assert "errors" not in body
            served.update({user["username"]: user for user in body["data"]})
    assert len(served) == len(recorded)
    for original in recorded:
        user = served[original["username"]]
        assert user[ORIGIN_FIELD] == "recorded"
        assert user["id"] == original["id"]
        for name in fields.split(","):
            assert user.get(name) == original.get(name)
    assert any(isinstance(user.get("verified"), str) for user in served.values())


def test_without_synthetic_unknown_handles_are_not_found() -> None:
    with start_server(ApiServerConfig(synthetic=False)) as running:
        body = lookup(running, handles_with("active", 3)).json()
    assert "data" not in body
    assert {e["title"] for e in body["errors"]} == {"Not Found Error"}


def test_synthetic_profiles_are_identical_across_servers() -> None:
    handles = synthetic_handles(100, seed=3)
    params = {"user.fields": "created_at,description,public_metrics,verified_type,url"}
    bodies = []
    for seed in (3, 3, 4):
        with start_server(ApiServerConfig(seed=seed)) as running:
            bodies.append(lookup(running, handles, **params).json())
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_follower_distribution_as_served(server: RunningServer) -> None:
    handles = synthetic_handles(2000, seed=SEED)
    followers = []
    for start in range(0, len(handles), 100):
        body = lookup(server, handles[start : start + 100], **{"user.fields": "public_metrics"})
        followers += [u["public_metrics"]["followers_count"] for u in body.json()["data"]]
    assert len(followers) > 1800
    assert min(followers) >= 0
    above = sum(count > 50_000 for count in followers)
    assert 20 <= above < len(followers) / 4


def test_invalid_handles_get_a_400_naming_them() -> None:
    with start_server(ApiServerConfig(invalid_handles=frozenset({"Refused"}))) as running:
        response = lookup(running, ["someone", "refused"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameters"] == {"usernames": ["refused"]}


def test_user_lookup_answers_without_http() -> None:
    document = UserLookup(ApiServerConfig(seed=SEED)).document(["someone", "SOMEONE"])
    assert [u["username"].lower() for u in document["data"]] == ["someone"]
    assert "public_metrics" in document["data"][0]
