from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from influx_etl.apisim import (
    ENDPOINT_OTHER,
    ENDPOINT_USER_BY_USERNAME,
    ENDPOINT_USERS_BY,
    ORIGIN_FIELD,
    UNASKED_HANDLE,
    UNENFORCED_RATE_LIMIT,
    ApiServerConfig,
    RunningServer,
    UserLookup,
    handle_status,
    load_population,
    start_server,
    synthetic_handles,
    synthetic_user,
)
from influx_etl.config import Secret
from influx_etl.errors import ConfigError, SourceError
from influx_etl.frames import ORIGINS
from influx_etl.sources.xclient import body_is_document

SEED = 7
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")


def handles_with(status: str, count: int, seed: int = SEED) -> list[str]:
    found = [h for h in synthetic_handles(5000, seed=seed) if handle_status(h, seed) == status]
    assert len(found) >= count
    return found[:count]


def lookup(server: RunningServer, usernames: list[str], **params: str) -> httpx.Response:
    query = {"usernames": ",".join(usernames), **params}
    return httpx.get(f"{server.base_url}/2/users/by", params=query, timeout=10)


def assert_rate_headers(response: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert response.headers[name].isdigit(), name


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(ApiServerConfig(seed=SEED)) as running:
        yield running


@pytest.fixture
def tiny_population(tmp_path: Path) -> Path:
    lines = [
        json.dumps({"id": "101", "username": "MixedCase", "name": "Mixed", "verified": "blue"}),
        json.dumps({"data": {"id": "102", "username": "Wrapped_One", "name": "Wrapped"}}),
        "{this is not json",
        json.dumps({"id": "103", "name": "no username here"}),
        "",
        json.dumps(
            {
                "id": "104",
                "username": "pinner",
                "name": "Pinner",
                "pinned_tweet_id": "1285070962874966017",
                "public_metrics": {"followers_count": 12},
            }
        ),
        json.dumps({"id": "105", "username": "replayed", "name": "R", ORIGIN_FIELD: "synthetic"}),
    ]
    path = tmp_path / "population.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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


def test_single_user_endpoint(server: RunningServer) -> None:
    active = handles_with("active", 1)[0]
    missing = handles_with("not_found", 1)[0]
    suspended = handles_with("suspended", 1)[0]
    url = f"{server.base_url}/2/users/by/username"
    found = httpx.get(f"{url}/{active.upper()}", params={"user.fields": "public_metrics"})
    assert found.status_code == 200
    assert found.json()["data"]["username"].lower() == active
    assert "public_metrics" in found.json()["data"]
    not_found = httpx.get(f"{url}/{missing}")
    assert not_found.status_code == 200
    assert not_found.json()["errors"][0]["detail"] == (
        f"Could not find user with username: [{missing}]."
    )
    assert httpx.get(f"{url}/{suspended}").json()["errors"][0]["title"] == "Forbidden"
    assert httpx.get(f"{url}/bad-name").status_code == 400
    assert server.endpoint_counts[ENDPOINT_USER_BY_USERNAME] == 4


def test_unknown_path_and_method(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/2/tweets")
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert_rate_headers(response)
    posted = httpx.post(f"{server.base_url}/2/users/by", content=b"usernames=a")
    assert posted.status_code == 405
    assert server.endpoint_counts[ENDPOINT_OTHER] == 2


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


def test_rate_limit_answers_429_past_the_budget() -> None:
    with start_server(ApiServerConfig(rate_limit=3, seed=SEED)) as running:
        responses = [lookup(running, ["someone"]) for _ in range(4)]
        other_endpoint = httpx.get(f"{running.base_url}/2/users/by/username/someone")
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["x-rate-limit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["x-rate-limit-limit"] for r in responses} == {"3"}
    resets = {int(r.headers["x-rate-limit-reset"]) for r in responses}
    assert len(resets) == 1 and resets.pop() >= int(time.time())
    assert responses[3].json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert other_endpoint.status_code == 200, "each endpoint has its own budget"


def test_rate_limit_window_reopens() -> None:
    with start_server(ApiServerConfig(rate_limit=2, window_s=0.5)) as running:
        statuses = [lookup(running, ["someone"]).status_code for _ in range(10)]
        assert 429 in statuses
        time.sleep(0.6)
        assert lookup(running, ["someone"]).status_code == 200


def test_without_rate_limit_nothing_is_enforced(server: RunningServer) -> None:
    responses = [lookup(server, ["someone"]) for _ in range(25)]
    assert {r.status_code for r in responses} == {200}
    assert responses[-1].headers["x-rate-limit-limit"] == str(UNENFORCED_RATE_LIMIT)
    assert int(responses[-1].headers["x-rate-limit-remaining"]) == UNENFORCED_RATE_LIMIT - 25


def test_required_token() -> None:
    config = ApiServerConfig(required_token=Secret("s3cret-token"), rate_limit=5)
    with start_server(config) as running:
        anonymous = lookup(running, ["someone"])
        wrong = httpx.get(
            f"{running.base_url}/2/users/by",
            params={"usernames": "someone"},
            headers={"Authorization": "Bearer nope"},
        )
        right = httpx.get(
            f"{running.base_url}/2/users/by",
            params={"usernames": "someone"},
            headers={"Authorization": "Bearer s3cret-token"},
        )
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.json()["title"] == "Unauthorized"
    assert_rate_headers(anonymous)
    assert right.status_code == 200
    assert right.headers["x-rate-limit-remaining"] == "4", "401s do not consume the budget"


def test_token_never_shows_in_the_config_repr() -> None:
    config = ApiServerConfig(required_token="plain-secret-value")
    assert "plain-secret-value" not in repr(config)
    assert "plain-secret-value" not in "\n".join(config.describe())


def test_fail_first_n_injects_faults() -> None:
    with start_server(ApiServerConfig(fail_first_n=2, fail_status=502)) as running:
        statuses = [lookup(running, ["someone"]).status_code for _ in range(3)]
        assert running.status_counts == {502: 2, 200: 1}
    assert statuses == [502, 502, 200]


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


def test_counters_are_consistent_under_concurrency(server: RunningServer) -> None:
    def worker() -> None:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(10):
                client.get("/2/users/by", params={"usernames": "alpha,beta,gamma"})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = server.stats()
    assert stats.requests == server.requests_served == 80
    assert stats.by_endpoint == {ENDPOINT_USERS_BY: 80}
    assert stats.usernames == 240


def test_stop_is_idempotent_and_closes_the_port() -> None:
    running = start_server(ApiServerConfig())
    url = running.base_url
    assert url.startswith("http://127.0.0.1:")
    running.stop()
    running.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/2/users/by", params={"usernames": "someone"})


def test_only_loopback_hosts_are_accepted() -> None:
    for host in ("0.0.0.0", "192.168.1.2", "example.org"):
        with pytest.raises(ConfigError, match="loopback"):
            ApiServerConfig(host=host)
    with pytest.raises(ConfigError, match="fail_status"):
        ApiServerConfig(fail_status=418)


def test_random_faults_are_seeded_and_counted() -> None:
    config = ApiServerConfig(
        seed=SEED,
        fault_429_rate=0.2,
        fault_5xx_rate=0.2,
        fault_malformed_rate=0.2,
        fault_retry_after_s=2,
    )
    runs = []
    for _ in range(2):
        with start_server(config) as running:
            responses = [lookup(running, ["someone"]) for _ in range(30)]
            runs.append([r.status_code for r in responses])
            stats = running.stats()
        assert stats.faults["429"] + stats.faults["5xx"] + stats.faults["malformed"] == sum(
            1 for r in responses if r.status_code != 200 or not body_is_document(r.text)
        )
        limited = [r for r in responses if r.status_code == 429]
        assert limited and all(r.headers["retry-after"] == "2" for r in limited)
        assert all(set(RATE_HEADERS) <= set(r.headers) for r in responses)
    assert runs[0] == runs[1], "the same seed injects the same faults"


def test_invalid_handles_get_a_400_naming_them() -> None:
    with start_server(ApiServerConfig(invalid_handles=frozenset({"Refused"}))) as running:
        response = lookup(running, ["someone", "refused"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameters"] == {"usernames": ["refused"]}


def test_windows_open_at_a_whole_second_and_are_counted() -> None:
    with start_server(ApiServerConfig(rate_limit=5, window_s=1.0)) as running:
        first = lookup(running, ["someone"])
        assert running.stats().windows == {ENDPOINT_USERS_BY: 1}
    reset = int(first.headers["x-rate-limit-reset"])
    assert reset - 1 <= time.time() < reset + 1


def test_user_lookup_answers_without_http() -> None:
    document = UserLookup(ApiServerConfig(seed=SEED)).document(["someone", "SOMEONE"])
    assert [u["username"].lower() for u in document["data"]] == ["someone"]
    assert "public_metrics" in document["data"][0]


def test_an_unknown_quirk_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown payload quirk no-such-quirk: expected one of"):
        ApiServerConfig(quirks=frozenset({"no-such-quirk"}))


def test_quirks_reshape_the_answer_as_odd_real_answers_look() -> None:
    users = {"pin": {"id": "7", "username": "Pin", "name": "P", "pinned_tweet_id": "99"}}

    def document(*quirks: str) -> dict[str, Any]:
        config = ApiServerConfig(population=users, synthetic=False, quirks=frozenset(quirks))
        return UserLookup(config).document(["pin", "gone"])

    plain = document()
    assert plain["includes"]["tweets"][0]["id"] == "99"
    assert all("value" not in e for e in document("error-without-value")["errors"])
    assert document("unknown-error-title")["errors"][0]["title"] == "Unexpected Lookup Error"
    named = [e["value"] for e in document("error-for-unasked-handle")["errors"]]
    assert named == ["gone", UNASKED_HANDLE]
    assert "includes" not in document("absent-pinned-post")
    assert [u["username"] for u in document("unrequested-user")["data"]] == ["Pin", "StrayUser"]
    assert document("empty-answer") == {"data": []}
    nobody = UserLookup(ApiServerConfig(synthetic=False, quirks=frozenset({"empty-data"})))
    assert nobody.document(["gone"])["data"] == []
