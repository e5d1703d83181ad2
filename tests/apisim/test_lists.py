"""The synthetic List graph without HTTP: its Lists, members, memberships and page tokens."""

from __future__ import annotations

import re
import statistics
from collections import Counter

import pytest

from influx_etl.apisim import (
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    MAX_LIST_MEMBERS,
    TOPICS,
    ApiServerConfig,
    ListGraph,
    build_list_graph,
    handle_status,
    list_graph,
    page_token,
    synthetic_handles,
    synthetic_user,
    token_offset,
)
from tests.apisim.serving import SEED, handles_with

SMALL = ApiServerConfig(seed=SEED, list_universe=1500, list_count=60)
BRAND_BIO = re.compile(r"official|news and updates from|customer service", re.IGNORECASE)


@pytest.fixture(scope="module")
def graph() -> ListGraph:
    """A universe big enough for a full List of 5,000 members."""
    return list_graph(ApiServerConfig(seed=SEED, list_universe=6000, list_count=80))


def _followers(graph: ListGraph, key: str) -> int:
    return int(graph.user(key)["public_metrics"]["followers_count"])


def test_sizes_are_long_tailed_with_one_full_list(graph: ListGraph) -> None:
    sizes = [item.member_count for item in graph.lists()]
    assert len(sizes) == 80
    assert max(sizes) == MAX_LIST_MEMBERS and sizes.count(MAX_LIST_MEMBERS) == 1
    assert sizes.count(0) == 1, "one List was made and never filled"
    assert 20 <= statistics.median(sizes) <= 400
    assert any(1000 <= size <= 3000 for size in sizes)
    for item in graph.lists():
        assert item.member_count == len(graph.members(item.id))
        assert len(set(graph.members(item.id))) == item.member_count, "no member twice"


def test_list_fields_look_like_the_apis(graph: ListGraph) -> None:
    ids = [item.id for item in graph.lists()]
    assert len(set(ids)) == len(ids)
    for item in graph.lists():
        assert re.fullmatch(r"[1-9][0-9]{18}", item.id)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", item.created_at)
        assert 1 <= len(item.name) <= 25
        assert item.topic in TOPICS
        assert graph.handle_of(item.owner_id) is not None, "owners are accounts of the graph"
        assert graph.get(item.id) is item
        assert item.fields()["member_count"] == item.member_count
    assert graph.get("1") is None and graph.members("1") == ()
    private = [item for item in graph.lists() if item.private]
    assert 1 <= len(private) <= 4
    assert all(item.member_count < MAX_LIST_MEMBERS for item in private)


def test_members_are_active_accounts_of_the_universe(graph: ListGraph) -> None:
    universe = set(graph.accounts())
    assert len(universe) == 6000
    expected = [h for h in synthetic_handles(7000, SEED) if handle_status(h, SEED) == "active"]
    assert universe == set(expected[:6000])
    for item in graph.lists():
        assert set(graph.members(item.id)) <= universe


def test_membership_is_consistent_both_ways(graph: ListGraph) -> None:
    ids = {key: str(graph.user(key)["id"]) for key in graph.accounts()}
    expected: dict[str, list[str]] = {}
    for item in graph.lists():
        for key in graph.members(item.id):
            expected.setdefault(ids[key], []).append(item.id)
    for key, user_id in ids.items():
        assert graph.handle_of(user_id) == key
        assert list(graph.memberships(user_id)) == expected.get(user_id, [])
    assert graph.memberships("1") == ()


def test_accounts_with_more_followers_sit_on_more_lists(graph: ListGraph) -> None:
    rows = sorted(
        (_followers(graph, key), len(graph.memberships(str(graph.user(key)["id"]))))
        for key in graph.accounts()
    )
    bottom_half = statistics.mean(count for _, count in rows[: len(rows) // 2])
    top_decile = statistics.mean(count for _, count in rows[-len(rows) // 10 :])
    assert top_decile > 3 * bottom_half


def test_curated_lists_hold_bigger_accounts_than_noisy_ones(graph: ListGraph) -> None:
    def median_followers(kind: str) -> float:
        return statistics.median(
            _followers(graph, key)
            for item in graph.lists()
            if item.kind == kind
            for key in graph.members(item.id)
        )

    assert median_followers("curated") > 5 * median_followers("noisy")


def test_organisation_lists_hold_brands(graph: ListGraph) -> None:
    organisations = [item for item in graph.lists() if item.kind == "organisations"]
    assert organisations
    for item in organisations:
        for key in graph.members(item.id):
            user = graph.user(key)
            assert BRAND_BIO.search(user["description"]) or user["verified_type"] in (
                "business",
                "government",
            )


def test_the_graph_is_deterministic_and_depends_on_the_seed() -> None:
    first, second = build_list_graph(SMALL), build_list_graph(SMALL)
    assert first is not second
    assert first.lists() == second.lists()
    assert all(first.members(item.id) == second.members(item.id) for item in first.lists())
    other = build_list_graph(ApiServerConfig(seed=SEED + 1, list_universe=1500, list_count=60))
    assert {item.id for item in other.lists()}.isdisjoint(item.id for item in first.lists())


def test_list_ids_do_not_depend_on_the_universe() -> None:
    small = build_list_graph(SMALL)
    tiny = build_list_graph(ApiServerConfig(seed=SEED, list_universe=200, list_count=60))
    assert [(i.id, i.name, i.topic) for i in small.lists()] == [
        (i.id, i.name, i.topic) for i in tiny.lists()
    ]
    assert max(item.member_count for item in tiny.lists()) == 200, "the full List holds everyone"


def test_population_and_extra_handles_join_the_universe() -> None:
    recorded = {"id": "101", "username": "Recorded_One", "name": "R", "description": "Founder"}
    active, missing, suspended = (
        handles_with(status, 1)[0] for status in ("active", "not_found", "suspended")
    )
    far_away = next(
        handle
        for handle in synthetic_handles(4000, SEED)[3000:]
        if handle_status(handle, SEED) == "active"
    )
    config = ApiServerConfig(
        seed=SEED,
        list_universe=100,
        list_count=10,
        population={"x": recorded},
        list_extra_handles=(far_away.upper(), missing, suspended, active),
    )
    graph = build_list_graph(config)
    universe = set(graph.accounts())
    assert {"recorded_one", far_away} <= universe and len(universe) == 102
    assert missing not in universe and suspended not in universe
    assert graph.user("recorded_one") == recorded
    assert graph.user(far_away) == synthetic_user(far_away, SEED)
    only_recorded = build_list_graph(
        ApiServerConfig(
            seed=SEED,
            synthetic=False,
            population={"x": recorded},
            list_extra_handles=(far_away,),
            list_count=10,
        )
    )
    assert list(only_recorded.accounts()) == ["recorded_one"]


def test_list_graph_is_cached_per_config() -> None:
    assert list_graph(SMALL) is list_graph(SMALL)
    other = ApiServerConfig(seed=SEED, list_universe=1500, list_count=61)
    assert list_graph(SMALL) is not list_graph(other)


def test_page_tokens_are_opaque_and_tied_to_their_resource() -> None:
    tokens = [page_token(ENDPOINT_LIST_MEMBERS, "123", offset, SEED) for offset in (0, 100, 4900)]
    assert len(set(tokens)) == 3 and all(re.fullmatch(r"[a-z2-7]{16}", t) for t in tokens)
    assert [token_offset(t, ENDPOINT_LIST_MEMBERS, "123", SEED) for t in tokens] == [0, 100, 4900]
    assert token_offset(tokens[1], ENDPOINT_LIST_MEMBERS, "124", SEED) is None
    assert token_offset(tokens[1], ENDPOINT_LIST_MEMBERSHIPS, "123", SEED) is None
    assert token_offset(tokens[1], ENDPOINT_LIST_MEMBERS, "123", SEED + 1) is None
    for garbage in ("", "abc", "!!!!", tokens[1][:-1] + "a", tokens[1].upper()):
        assert token_offset(garbage, ENDPOINT_LIST_MEMBERS, "123", SEED) is None


def test_lists_cover_every_kind_and_most_topics(graph: ListGraph) -> None:
    kinds = Counter(item.kind for item in graph.lists())
    assert set(kinds) == {"curated", "broad", "noisy", "organisations"}
    assert len({item.topic for item in graph.lists()}) >= 10
