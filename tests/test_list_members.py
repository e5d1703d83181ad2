"""List members as seeds and as answers: seeds of x-list:ID, verbatim member objects, evidence."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from influx_etl import batching, list_members, lookup, transform
from tests.factories import api_user


def items(list_id: str, users: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "read_id": f"r-{list_id}",
            "resource_id": list_id,
            "position": list(range(1, len(users) + 1)),
            "requested_at": "2026-12-01T00:00:00.000Z",
            "item": [json.dumps(u) for u in users],
        },
        schema={
            "read_id": pl.String,
            "resource_id": pl.String,
            "position": pl.Int64,
            "requested_at": pl.String,
            "item": pl.String,
        },
    )


def infos(rows: list[tuple[str, int, str]]) -> pl.DataFrame:
    return list_members.list_infos(
        pl.DataFrame(
            {
                "resource_id": [r[0] for r in rows],
                "status": [r[1] for r in rows],
                "body": [r[2] for r in rows],
            }
        )
    )


def test_list_metadata_answers_say_read_private_or_gone() -> None:
    found = infos(
        [
            ("11", 200, json.dumps({"data": {"id": "11", "name": "AI folks", "member_count": 3}})),
            ("12", 200, json.dumps({"errors": [{"title": "Not Found Error", "detail": "gone"}]})),
            ("13", 200, json.dumps({"errors": [{"title": "Forbidden", "detail": "private"}]})),
            ("14", 404, json.dumps({"title": "Not Found", "detail": "no such List"})),
            ("15", 403, json.dumps({"title": "Forbidden", "detail": "nope"})),
        ]
    )
    assert found.select("list_id", "outcome", "name", "member_count", "detail").rows() == [
        ("11", "ok", "AI folks", 3, None),
        ("12", "not_found", None, None, "gone"),
        ("13", "forbidden", None, None, "private"),
        ("14", "not_found", None, None, "no such List"),
        ("15", "forbidden", None, None, "nope"),
    ]


def test_members_become_seeds_of_their_list_once_each_with_the_list_as_evidence() -> None:
    a = api_user(id="1", username="Ann")
    b = api_user(id="2", username="bob")
    bad = api_user(id="3", username="not a handle!")
    members = pl.concat([items("11", [a, b, bad]), items("12", [b])])
    load = list_members.list_seeds(
        members,
        infos([("11", 200, json.dumps({"data": {"id": "11", "name": "AI folks"}}))]),
    )
    rows = load.frame.select("handle", "seed_file", "seed_files", "source", "note", "line").rows()
    assert rows == [
        (
            "Ann",
            "x-list:11",
            ["x-list:11"],
            "https://x.com/i/lists/11",
            'https://x.com/i/lists/11 "AI folks"',
            1,
        ),
        (
            "bob",
            "x-list:11",
            ["x-list:11", "x-list:12"],
            "https://x.com/i/lists/11",
            'https://x.com/i/lists/11 "AI folks"',
            2,
        ),
    ]
    assert load.rejects.select("seed_file", "line").rows() == [("x-list:11", 3)]
    assert load.rows_read == 4
    assert sorted(load.files["name"].to_list()) == ["x-list:11", "x-list:12"]
    assert load.files["sha256"].str.len_chars().to_list() == [64, 64]


def answers(users: list[dict[str, Any]], tweets: dict[str, dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "handle_key": [u["username"].lower() for u in users],
            "list_id": "11",
            "requested_at": "2026-12-01T00:00:00.000Z",
            "user_json": [json.dumps(u) for u in users],
            "tweet_json": [
                json.dumps(tweets[u["pinned_tweet_id"]]) if "pinned_tweet_id" in u else None
                for u in users
            ],
        }
    )


def test_stored_members_answer_batches_as_a_lookup_would() -> None:
    ann = api_user(id="1", username="Ann", pinned_tweet_id="77", _influx_origin="synthetic")
    bob = api_user(id="2", username="Bob")
    tweet = {"id": "77", "text": "hi", "created_at": "2026-11-30T00:00:00.000Z"}
    seeds_frame = batching.batched(
        pl.DataFrame({"handle": ["ann", "Bob", "cy"], "handle_key": ["ann", "bob", "cy"]}), 2
    )
    raw = list_members.member_answer_batches(seeds_frame, answers([ann, bob], {"77": tweet}))
    assert raw["batch_id"].to_list() == [0, 1]
    first = json.loads(raw["body"][0])
    assert first["data"] == [ann, bob]
    assert first["includes"] == {"tweets": [tweet]}
    assert json.loads(raw["body"][1]) == {"data": []}
    profiles = lookup.profiles(
        raw.with_columns(status=pl.lit(200), error=pl.lit(None, pl.String))
    ).sort("handle_key")
    assert profiles.select("handle_key", "outcome", "origin", "pinned_tweet_created_at").rows() == [
        ("ann", "found", "synthetic:list-members", "2026-11-30T00:00:00.000Z"),
        ("bob", "found", "list-members", None),
        # no stored object: not settled, so a later run asks the API
        ("cy", "failed", None, None),
    ]


def test_a_list_member_record_names_its_list_and_method() -> None:
    member = api_user(id="1", username="Ann")
    raw = list_members.member_answer_batches(
        batching.batched(pl.DataFrame({"handle": ["Ann"], "handle_key": ["ann"]}), 100),
        answers([member], {}),
    ).with_columns(status=pl.lit(200), error=pl.lit(None, pl.String))
    profiles = lookup.profiles(raw).with_columns(
        seed_file=pl.lit("x-list:11"),
        seed_files=pl.lit(["x-list:11"]),
        categories=pl.lit([], dtype=pl.List(pl.String)),
        note=pl.lit('https://x.com/i/lists/11 "AI folks"'),
        passes_threshold=pl.lit(True),
        is_org=pl.lit(False),
        is_official=pl.lit(False),
        brand_matches=pl.lit([], dtype=pl.List(pl.String)),
        brand_confidence=pl.lit(0.0),
        risk_flags=pl.lit([], dtype=pl.List(pl.String)),
    )
    records = transform.author_records(profiles, "2026-12-01T00:00:00.000Z")
    source = records["sources"][0][0]
    assert source["method"] == "x-api-v2:list-members"
    assert source["evidence"] == (
        'GET /2/lists/:id/members https://x.com/i/lists/11 "AI folks" username=Ann (batch 0); '
        "seeds: x-list:11"
    )
