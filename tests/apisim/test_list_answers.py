"""The Lists endpoints over real HTTP: lookup, members, memberships, errors, faults, limits."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from influx_etl.apisim import (
    DOCUMENTED_RATE_LIMITS,
    ENDPOINT_LIST,
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    ENDPOINT_USERS_BY,
    MAX_LIST_MEMBERS,
    UNENFORCED_RATE_LIMIT,
    USER_FIELDS,
    ApiServerConfig,
    ListGraph,
    RunningServer,
    SyntheticList,
    start_server,
)
from tests.apisim.serving import SEED, assert_rate_headers, lookup

CONFIG = ApiServerConfig(seed=SEED, list_universe=6000, list_count=80)
INVALID = "https://api.twitter.com/2/problems/invalid-request"


@pytest.fixture(scope="module")
def lists_server() -> Iterator[RunningServer]:
    with start_server(CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def graph(lists_server: RunningServer) -> ListGraph:
    return lists_server.list_graph


def _get(server: RunningServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params=params, timeout=30)


def _public(graph: ListGraph, low: int = 1, high: int = MAX_LIST_MEMBERS) -> SyntheticList:
    return next(
        item for item in graph.lists() if not item.private and low <= item.member_count <= high
    )


def _user_id(graph: ListGraph, key: str) -> str:
    return str(graph.user(key)["id"])


def _list(graph: ListGraph, list_id: str) -> SyntheticList:
    found = graph.get(list_id)
    assert found is not None
    return found


def _all_pages(
    server: RunningServer, path: str, **params: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page's data and meta, following next_token."""
    data: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    query = dict(params)
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        while True:
            response = client.get(path, params=query)
            assert response.status_code == 200, response.text
            body = response.json()
            data.extend(body.get("data", []))
            metas.append(body["meta"])
            if "next_token" not in body["meta"]:
                return data, metas
            query["pagination_token"] = body["meta"]["next_token"]


def test_list_lookup_answers_the_asked_fields(
    lists_server: RunningServer, graph: ListGraph
) -> None:
    item = _public(graph)
    plain = _get(lists_server, f"/2/lists/{item.id}")
    assert plain.status_code == 200
    assert plain.json() == {"data": {"id": item.id, "name": item.name}}
    assert_rate_headers(plain)
    every = "description,owner_id,member_count,follower_count,private,created_at"
    full = _get(lists_server, f"/2/lists/{item.id}", **{"list.fields": every})
    assert full.json() == {"data": item.fields()}
    assert full.json()["data"]["private"] is False
    owned = _get(
        lists_server,
        f"/2/lists/{item.id}",
        expansions="owner_id",
        **{"user.fields": "public_metrics"},
    )
    owner = owned.json()["includes"]["users"][0]
    assert owner["id"] == item.owner_id and "public_metrics" in owner
    bad = _get(lists_server, f"/2/lists/{item.id}", **{"list.fields": "member_count,colour"})
    assert bad.status_code == 400
    assert bad.json()["type"] == INVALID
    assert bad.json()["errors"][0]["parameters"] == {"list.fields": ["colour"]}


def test_a_full_list_takes_fifty_pages(lists_server: RunningServer, graph: ListGraph) -> None:
    full = next(item for item in graph.lists() if item.member_count == MAX_LIST_MEMBERS)
    data, metas = _all_pages(lists_server, f"/2/lists/{full.id}/members")
    assert len(metas) == 50
    assert [meta["result_count"] for meta in metas] == [100] * 50
    assert all("next_token" in meta for meta in metas[:-1]) and "next_token" not in metas[-1]
    assert "previous_token" not in metas[0] and all("previous_token" in m for m in metas[1:])
    usernames = [user["username"].lower() for user in data]
    assert usernames == list(graph.members(full.id)), "pages follow the stable member order"
    assert len(set(usernames)) == MAX_LIST_MEMBERS


def test_small_pages_cover_a_list_once(lists_server: RunningServer, graph: ListGraph) -> None:
    item = _public(graph, 30, 120)
    data, metas = _all_pages(lists_server, f"/2/lists/{item.id}/members", max_results="7")
    assert len(metas) == math.ceil(item.member_count / 7)
    assert [user["username"].lower() for user in data] == list(graph.members(item.id))
    back = _get(
        lists_server,
        f"/2/lists/{item.id}/members",
        max_results="7",
        pagination_token=metas[1]["previous_token"],
    )
    assert back.json()["meta"]["next_token"] == metas[0]["next_token"], "previous leads back"


def test_member_objects_are_the_lookups_users(
    lists_server: RunningServer, graph: ListGraph
) -> None:
    item = _public(graph, 20, 100)
    shape = {
        "user.fields": ",".join(sorted(USER_FIELDS)),
        "expansions": "pinned_tweet_id",
        "tweet.fields": "created_at,public_metrics",
    }
    members = _get(lists_server, f"/2/lists/{item.id}/members", max_results="20", **shape).json()
    usernames = [user["username"] for user in members["data"]]
    looked_up = lookup(lists_server, usernames, **shape)
    assert members["data"] == looked_up.json()["data"]
    assert members.get("includes") == looked_up.json().get("includes")
    assert all(user["_influx_origin"] == "synthetic" for user in members["data"])


def test_tokens_and_parameters_are_checked(lists_server: RunningServer, graph: ListGraph) -> None:
    public = [item for item in graph.lists() if not item.private and item.member_count > 10]
    first, second = public[:2]
    page = _get(lists_server, f"/2/lists/{first.id}/members", max_results="5").json()
    token = page["meta"]["next_token"]
    elsewhere = _get(lists_server, f"/2/lists/{second.id}/members", pagination_token=token)
    assert elsewhere.status_code == 400
    assert elsewhere.json()["errors"][0]["parameters"] == {"pagination_token": [token]}
    member_id = _user_id(graph, graph.members(first.id)[0])
    as_membership = _get(
        lists_server, f"/2/users/{member_id}/list_memberships", pagination_token=token
    )
    assert as_membership.status_code == 400
    for params in (
        {"max_results": "0"},
        {"max_results": "101"},
        {"max_results": "-1"},
        {"max_results": "ten"},
        {"pagination_token": "not-a-token"},
        {"user.fields": "nope"},
        {"expansions": "owner_id"},
        {"colour": "blue"},
    ):
        response = _get(lists_server, f"/2/lists/{first.id}/members", **params)
        assert response.status_code == 400, params
        assert response.json()["title"] == "Invalid Request"
        assert_rate_headers(response)
    for path in ("/2/lists/abc", "/2/lists/12x/members", "/2/users/me/list_memberships"):
        response = _get(lists_server, path)
        assert response.status_code == 400, path
        assert "does not match ^[0-9]{1,19}$" in response.json()["errors"][0]["message"]
    hundred = _get(lists_server, f"/2/lists/{first.id}/members", max_results="100")
    assert hundred.status_code == 200


def test_private_and_unknown_lists(lists_server: RunningServer, graph: ListGraph) -> None:
    private = next(item for item in graph.lists() if item.private)
    for path in (f"/2/lists/{private.id}", f"/2/lists/{private.id}/members"):
        response = _get(lists_server, path)
        assert response.status_code == 200
        assert response.json() == {
            "errors": [
                {
                    "value": private.id,
                    "detail": f"You are not authorized to see the List with id: [{private.id}].",
                    "title": "Forbidden",
                    "resource_type": "list",
                    "parameter": "id",
                    "resource_id": private.id,
                    "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
                }
            ]
        }
    for path in ("/2/lists/1234567890123456789", "/2/lists/1234567890123456789/members"):
        error = _get(lists_server, path).json()["errors"][0]
        assert error["title"] == "Not Found Error"
        assert error["detail"] == "Could not find list with id: [1234567890123456789]."
        assert error["resource_type"] == "list" and error["parameter"] == "id"
        assert error["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    empty = next(item for item in graph.lists() if item.member_count == 0)
    answer = _get(lists_server, f"/2/lists/{empty.id}/members").json()
    assert answer == {"meta": {"result_count": 0}}


def test_memberships_page_through_a_users_public_lists(
    lists_server: RunningServer, graph: ListGraph
) -> None:
    key = max(graph.accounts(), key=lambda k: len(graph.memberships(_user_id(graph, k))))
    user_id = _user_id(graph, key)
    expected = [lid for lid in graph.memberships(user_id) if not _list(graph, lid).private]
    assert len(expected) > 3
    data, metas = _all_pages(
        lists_server,
        f"/2/users/{user_id}/list_memberships",
        max_results="3",
        **{"list.fields": "member_count"},
    )
    assert [item["id"] for item in data] == expected
    assert len(metas) == math.ceil(len(expected) / 3)
    for item in data:
        assert key in graph.members(item["id"]), "each List has the user among its members"
        assert item["member_count"] == _list(graph, item["id"]).member_count
    loner = next(k for k in graph.accounts() if not graph.memberships(_user_id(graph, k)))
    alone = _get(lists_server, f"/2/users/{_user_id(graph, loner)}/list_memberships")
    assert alone.json() == {"meta": {"result_count": 0}}
    unknown = _get(lists_server, "/2/users/42/list_memberships").json()
    assert unknown == {
        "errors": [
            {
                "value": "42",
                "detail": "Could not find user with id: [42].",
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": "42",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }


def test_servers_with_the_same_seed_serve_the_same_lists() -> None:
    config = ApiServerConfig(seed=SEED + 5, list_universe=800, list_count=20)
    other_seed = ApiServerConfig(seed=SEED + 6, list_universe=800, list_count=20)
    answers = []
    for each in (config, config, other_seed):
        with start_server(each) as running:
            item = _public(running.list_graph, 5)
            page = _get(running, f"/2/lists/{item.id}/members", max_results="5").json()
            answers.append((item.id, page))
    assert answers[0] == answers[1]
    assert answers[2][0] != answers[0][0]


def test_the_graph_is_built_at_the_first_lists_request_only() -> None:
    with start_server(ApiServerConfig(seed=SEED, list_universe=300, list_count=5)) as running:
        assert lookup(running, ["someone"]).status_code == 200
        assert not running.list_graph_built, "neither the start nor a lookup builds the graph"
        assert _get(running, "/2/lists/1").status_code == 200
        assert running.list_graph_built


def test_faults_apply_to_the_lists_endpoints(graph: ListGraph) -> None:
    item = _public(graph)
    with start_server(dataclasses.replace(CONFIG, fail_first_n=2)) as running:
        statuses = [_get(running, f"/2/lists/{item.id}").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_each_lists_endpoint_has_its_own_rate_limit(graph: ListGraph) -> None:
    item = _public(graph, 5, 100)
    member_id = _user_id(graph, graph.members(item.id)[0])
    config = dataclasses.replace(
        CONFIG, rate_limit=5, endpoint_rate_limits={ENDPOINT_LIST_MEMBERS: 2}
    )
    with start_server(config) as running:
        members = [_get(running, f"/2/lists/{item.id}/members") for _ in range(3)]
        lookup_of_list = _get(running, f"/2/lists/{item.id}")
        memberships = _get(running, f"/2/users/{member_id}/list_memberships")
        stats = running.stats()
    assert [r.status_code for r in members] == [200, 200, 429]
    assert {r.headers["x-rate-limit-limit"] for r in members} == {"2"}
    assert [r.headers["x-rate-limit-remaining"] for r in members] == ["1", "0", "0"]
    assert lookup_of_list.status_code == 200 and memberships.status_code == 200
    assert lookup_of_list.headers["x-rate-limit-limit"] == "5"
    assert lookup_of_list.headers["x-rate-limit-remaining"] == "4"
    assert stats.usernames == 2 * item.member_count, "members served are user reads"
    assert stats.by_endpoint[ENDPOINT_LIST_MEMBERS] == 3
    assert stats.by_endpoint[ENDPOINT_LIST_MEMBERSHIPS] == 1


def test_documented_rate_limits_report_each_endpoints_budget(graph: ListGraph) -> None:
    item = _public(graph)
    member_id = _user_id(graph, graph.members(item.id)[0])
    config = dataclasses.replace(CONFIG, endpoint_rate_limits=DOCUMENTED_RATE_LIMITS)
    with start_server(config) as running:
        limits = {
            ENDPOINT_LIST: _get(running, f"/2/lists/{item.id}"),
            ENDPOINT_LIST_MEMBERS: _get(running, f"/2/lists/{item.id}/members"),
            ENDPOINT_LIST_MEMBERSHIPS: _get(running, f"/2/users/{member_id}/list_memberships"),
            ENDPOINT_USERS_BY: lookup(running, ["someone"]),
        }
        unlimited = _get(running, "/2/tweets")
    assert {path: int(r.headers["x-rate-limit-limit"]) for path, r in limits.items()} == {
        ENDPOINT_LIST: 75,
        ENDPOINT_LIST_MEMBERS: 900,
        ENDPOINT_LIST_MEMBERSHIPS: 75,
        ENDPOINT_USERS_BY: 300,
    }
    assert unlimited.headers["x-rate-limit-limit"] == str(UNENFORCED_RATE_LIMIT)


def test_recorded_users_are_members_as_the_lookup_serves_them(tiny_population: Path) -> None:
    config = ApiServerConfig(population=tiny_population, synthetic=False, list_count=10)
    with start_server(config) as running:
        full = _public(running.list_graph, low=4)
        members = _get(running, f"/2/lists/{full.id}/members", **{"user.fields": "verified"})
        usernames = [user["username"] for user in members.json()["data"]]
        looked_up = lookup(running, usernames, **{"user.fields": "verified"})
        memberships = _get(running, "/2/users/101/list_memberships").json()
    assert sorted(usernames) == ["MixedCase", "Wrapped_One", "pinner", "replayed"]
    assert members.json()["data"] == looked_up.json()["data"]
    assert {user["_influx_origin"] for user in members.json()["data"]} == {"recorded", "synthetic"}
    assert full.id in [item["id"] for item in memberships["data"]]
