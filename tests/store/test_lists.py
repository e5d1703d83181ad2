"""List reads in the store: pages committed with their usage, resumed, reused, answering handles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from influx_etl.sources.lists import Page
from influx_etl.sources.xclient import (
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    ApiResponse,
)
from influx_etl.store import Store
from influx_etl.store.schema import _MIGRATIONS
from tests.factories import api_user


def page(
    users: list[dict[str, Any]],
    next_token: str | None,
    *,
    at: str = "2026-12-01T00:00:00.000Z",
    endpoint: str = ENDPOINT_LIST_MEMBERS,
    resource: str = "11",
    tweets: list[dict[str, Any]] | None = None,
) -> Page:
    body: dict[str, Any] = {"data": users, "meta": {"result_count": len(users)}}
    if next_token:
        body["meta"]["next_token"] = next_token
    if tweets:
        body["includes"] = {"tweets": tweets}
    return Page(endpoint, resource, None, ApiResponse(200, json.dumps(body), at, 0.01), 1)


def test_a_read_killed_after_a_page_resumes_at_its_token(store: Store) -> None:
    first = store.open_list_read(ENDPOINT_LIST_MEMBERS, "11")
    assert (first.next_page, first.token, first.resumed) == (0, None, False)
    store.save_list_page(first.read_id, 0, page([api_user(id="1", username="a")], "T1"), "run-1")
    again = store.open_list_read(ENDPOINT_LIST_MEMBERS, "11")
    assert (again.read_id, again.next_page, again.token, again.resumed) == (
        first.read_id,
        1,
        "T1",
        True,
    )
    store.save_list_page(first.read_id, 1, page([api_user(id="2", username="b")], None), "run-2")
    store.finish_list_read(first.read_id, "ok")
    latest = store.latest_list_reads(ENDPOINT_LIST_MEMBERS, ["11"])
    assert latest.select("resource_id", "status", "pages", "requests").rows() == [
        ("11", "ok", 2, 2)
    ]
    items = store.list_page_items([first.read_id])
    assert items["position"].to_list() == [1, 2]
    assert [json.loads(i)["username"] for i in items["item"]] == ["a", "b"]
    # every page is in the usage ledger with the users it read
    usage = store.usage()
    assert usage.select("run_id", "endpoint", "requests", "users_read").sort("run_id").rows() == [
        ("run-1", "GET /2/lists/:id/members", 1, 1),
        ("run-2", "GET /2/lists/:id/members", 1, 1),
    ]
    # a finished read is not taken over: the next read of the List is a new one
    assert store.open_list_read(ENDPOINT_LIST_MEMBERS, "11").read_id != first.read_id


def test_membership_pages_read_lists_not_users(store: Store) -> None:
    state = store.open_list_read(ENDPOINT_LIST_MEMBERSHIPS, "1")
    lists_page = Page(
        ENDPOINT_LIST_MEMBERSHIPS,
        "1",
        None,
        ApiResponse(
            200, json.dumps({"data": [{"id": "11", "name": "AI"}]}), "2026-12-01T00:00:00Z", 0.0
        ),
        1,
    )
    store.save_list_page(state.read_id, 0, lists_page, "run-1")
    assert store.usage()["users_read"].to_list() == [0]


def test_stored_members_answer_handles_newest_first_within_the_window(store: Store) -> None:
    old = store.open_list_read(ENDPOINT_LIST_MEMBERS, "11")
    ann_old = api_user(id="1", username="Ann", name="Old Ann")
    store.save_list_page(old.read_id, 0, page([ann_old], None, at="2026-11-01T00:00:00.000Z"), "r")
    store.finish_list_read(old.read_id, "ok")
    new = store.open_list_read(ENDPOINT_LIST_MEMBERS, "12")
    ann = api_user(id="1", username="ann", name="Ann", pinned_tweet_id="7")
    tweet = {"id": "7", "text": "pinned", "created_at": "2026-11-30T00:00:00.000Z"}
    bob = api_user(id="2", username="Bob")
    store.save_list_page(
        new.read_id,
        0,
        page([ann, bob], None, resource="12", tweets=[{"id": "8", "text": "x"}, tweet]),
        "r",
    )
    unfinished = store.open_list_read(ENDPOINT_LIST_MEMBERS, "13")
    store.save_list_page(unfinished.read_id, 0, page([api_user(id="3", username="cy")], "T"), "r")
    store.finish_list_read(new.read_id, "ok")
    keys = pl.Series(["ann", "bob", "cy", "dan"])
    answers = store.member_answers(keys, None).sort("handle_key")
    assert answers.select("handle_key", "list_id").rows() == [("ann", "12"), ("bob", "12")]
    assert json.loads(answers["user_json"][0]) == ann
    assert json.loads(answers["tweet_json"][0]) == tweet
    assert answers["tweet_json"][1] is None
    # a read finished before the window is not fresh: only the new one answers
    assert store.member_answers(keys, "2099-01-01T00:00:00.000Z").is_empty()


def test_a_version_5_file_gains_the_list_tables(tmp_path: Path) -> None:
    path = tmp_path / "v5.duckdb"
    con = duckdb.connect(str(path))
    for version in (1, 2, 3, 4, 5):
        con.execute(_MIGRATIONS[version])
    con.execute("INSERT INTO dataset_info VALUES ('kind', 'live'), ('schema_version', '5')")
    con.close()
    with Store.open(path, "live") as store:
        assert store.latest_list_reads(ENDPOINT_LIST_MEMBERS).is_empty()
        state = store.open_list_read(ENDPOINT_LIST_MEMBERS, "11")
        assert state.next_page == 0
