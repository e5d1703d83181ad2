"""The lookup stage's normalisation, from raw API documents and prefetched files to one row per
requested handle.

Fetching over HTTP is covered in tests/sources/ and test_pipeline.py against the real embedded
server; here the input is raw documents as the store keeps them, and files stored by reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from influx_etl import lookup
from influx_etl.batching import requested_handles
from influx_etl.errors import SourceError
from influx_etl.frames import PROFILES_SCHEMA
from influx_etl.lookup import file_profiles, profiles, raw_frame
from influx_etl.sources import PrefetchedSource, RawBatch, RawFile
from tests.sources.prefetched_files import damaged_file, file_user, users_file


def _document(
    users: list[dict[str, Any]], errors: list[dict[str, str]] | None = None, **extra: Any
) -> str:
    doc: dict[str, Any] = {}
    if users:
        doc["data"] = users
    if errors:
        doc["errors"] = errors
    doc.update(extra)
    return json.dumps(doc)


def _batch(
    batch_id: int, handles: list[str], body: str | None, error: str | None = None
) -> RawBatch:
    return RawBatch(
        batch_id, tuple(handles), "2026-01-01T00:00:00.000Z", 200 if body else None, body, error
    )


def test_every_requested_handle_gets_exactly_one_outcome() -> None:
    users = [{"id": "1", "username": "Alice", "name": "A"}]
    errors = [
        {
            "value": "ghost",
            "detail": "Could not find user with usernames: [ghost].",
            "title": "Not Found Error",
        },
        {"value": "gone", "detail": "User has been suspended: [gone].", "title": "Forbidden"},
    ]
    raw = raw_frame(
        [
            _batch(0, ["alice", "Ghost", "gone", "silent"], _document(users, errors)),
            _batch(1, ["x", "y"], None, error="HTTP 503 after 4 attempts"),
        ]
    )
    result = profiles(raw)
    assert result.schema == PROFILES_SCHEMA
    outcomes = dict(zip(result["handle_key"], result["outcome"], strict=True))
    assert outcomes == {
        "alice": "found",
        "ghost": "not_found",
        "gone": "suspended",
        "silent": "failed",
        "x": "failed",
        "y": "failed",
    }
    failed = result.filter(pl.col("handle_key") == "x")
    assert failed["outcome_detail"].item() == "HTTP 503 after 4 attempts"
    assert result.filter(pl.col("handle_key") == "alice")["username"].item() == "Alice"


def test_user_fields_are_flattened_and_normalised() -> None:
    user = {
        "id": "1234567890123456789",
        "username": "Bob",
        "name": "Bob",
        "verified": "blue",  # seen in recorded payloads: the type in the legacy field
        "public_metrics": {"followers_count": 10, "listed_count": 2},
        "pinned_tweet_id": "77",
        "entities": {
            "url": {"urls": [{"url": "https://t.co/a", "expanded_url": "https://bob.dev"}]},
            "description": {
                "urls": [{"url": "https://t.co/b", "expanded_url": "https://shop.example"}]
            },
        },
        "_influx_origin": "synthetic",
    }
    includes = {"tweets": [{"id": "77", "text": "hi", "created_at": "2025-05-01T10:00:00.000Z"}]}
    row = profiles(raw_frame([_batch(0, ["bob"], _document([user], includes=includes))])).row(
        0, named=True
    )
    assert row["id"] == "1234567890123456789"
    assert row["verified"] is None and row["verified_type"] == "blue"
    assert row["followers_count"] == 10 and row["like_count"] is None
    assert row["urls"] == ["https://bob.dev", "https://shop.example"]
    assert row["pinned_tweet_created_at"] == "2025-05-01T10:00:00.000Z"
    assert row["origin"] == "synthetic"


def test_origin_defaults_to_the_source_of_the_batch() -> None:
    batch = RawBatch(0, ("a",), "t", 200, _document([{"id": "1", "username": "a", "name": "a"}]))
    assert profiles(raw_frame([batch]))["origin"].item() == "x-api-v2"


def test_real_user_objects_parse_without_loss(shared_real_users: Path) -> None:
    users = [json.loads(line) for line in shared_real_users.read_text().splitlines()]
    handles = [u["username"] for u in users]
    batches = [
        _batch(i // 100, handles[i : i + 100], _document(users[i : i + 100]))
        for i in range(0, len(users), 100)
    ]
    result = profiles(raw_frame(batches))
    assert result.height == len(users)
    assert (result["outcome"] == "found").all()
    by_id = {row["id"]: row for row in result.iter_rows(named=True)}
    for user in users:
        row = by_id[user["id"]]
        assert row["followers_count"] == user["public_metrics"]["followers_count"]
        assert row["description"] == user["description"]
        legacy = user.get("verified")
        if isinstance(legacy, bool):
            assert row["verified"] is legacy
        expected_type = user.get("verified_type") or (legacy if isinstance(legacy, str) else None)
        assert row["verified_type"] == expected_type


def test_a_file_reference_answers_like_the_file_read_batch_by_batch(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import influx_etl.sources.prefetched as sources_module

    monkeypatch.setattr(sources_module, "utc_now_iso", lambda: "2026-01-01T00:00:00.000Z")
    source = PrefetchedSource(users_file(tmp_path / "users.jsonl"))
    work = [(0, ["ANN", "bob", "Cy"]), (1, ["dee", "NoId", "nobody"])]
    by_reference = profiles(raw_frame(source.fetch_batches(work)))
    by_batch = profiles(raw_frame([source.fetch_batch(i, handles) for i, handles in work]))
    assert by_reference.equals(by_batch)
    rows = {row["handle_key"]: row for row in by_reference.to_dicts()}
    assert rows["ann"]["id"] == "11"  # the later line wins
    assert rows["ann"]["urls"] == ["https://ann.example"]
    assert (rows["dee"]["outcome"], rows["nobody"]["outcome"]) == ("suspended", "not_found")
    assert (
        rows["nobody"]["outcome_detail"]
        == "@nobody is not in the prefetched users file users.jsonl. 1 broken line in "
        "users.jsonl could have held it (line 5)."
    )
    assert rows["noid"]["outcome"] == "not_found"


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    path = users_file(tmp_path / "users.jsonl")
    raw = raw_frame(PrefetchedSource(path).fetch_batches([(0, ["ann"])]))
    path.write_text(json.dumps(file_user("9", "Ann", 1)) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="changed since it was looked up"):
        profiles(raw)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5, None])
def test_a_file_read_in_chunks_answers_as_the_whole_file(
    tmp_path: Path, chunk_rows: int | None
) -> None:
    path = users_file(tmp_path / "users.jsonl")
    # Eve is answered by an error first and a user later; Fay the other way round
    with path.open("a", encoding="utf-8") as extra:
        extra.write(json.dumps({"errors": [{"value": "eve", "title": "Not Found Error"}]}) + "\n")
        extra.write(json.dumps(file_user("5", "Fay", 50)) + "\n")
        extra.write(json.dumps(file_user("4", "Eve", 40)) + "\n")
        extra.write(json.dumps({"errors": [{"value": "fay", "title": "Forbidden"}]}) + "\n")
    handles = ["ANN", "bob", "Cy", "dee", "NoId", "nobody", "eve", "fay"]
    raw = raw_frame(PrefetchedSource(path).fetch_batches([(0, handles[:4]), (1, handles[4:])]))
    whole = profiles(raw).sort("handle_key")

    reference = RawFile.from_json(raw["raw_file"][0])
    chunks = list(file_profiles(reference, requested_handles(raw), chunk_rows))
    if chunk_rows == 1:
        assert len(chunks) > 3  # the file really was read in pieces
    # the last row given for a handle is its answer
    streamed = pl.concat(chunks).unique("handle_key", keep="last").sort("handle_key")
    assert streamed.schema == PROFILES_SCHEMA
    assert streamed.equals(whole)
    assert streamed.filter(pl.col("handle_key") == "ann")["id"].item() == "11"
    outcomes = dict(zip(streamed["handle_key"], streamed["outcome"], strict=True))
    assert (outcomes["eve"], outcomes["fay"], outcomes["dee"]) == ("found", "found", "suspended")


def test_skipped_lines_of_a_chunked_file_are_reported_once_with_their_line_numbers(
    tmp_path: Path, caplog: Any
) -> None:
    path = users_file(tmp_path / "users.jsonl")
    raw = raw_frame(PrefetchedSource(path).fetch_batches([(0, ["ann"])]))
    reference = RawFile.from_json(raw["raw_file"][0])
    with caplog.at_level("WARNING", logger="influx_etl.sources.prefetched"):
        list(file_profiles(reference, requested_handles(raw), 2))
    reported = sorted(
        int(record.getMessage().split(":")[1])
        for record in caplog.records
        if ": skipped: " in record.getMessage()
    )
    assert reported == [5, 7]


def _by_handle(rows: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["handle_key"]: row for row in rows.to_dicts()}


@pytest.mark.parametrize("path_kind", ["reference", "documents", "chunked"])
def test_a_handle_only_a_broken_line_names_says_so(tmp_path: Path, path_kind: str) -> None:
    path = damaged_file(tmp_path / "users.jsonl")
    source = PrefetchedSource(path)
    work = [(0, ["ann", "DAN", "eve", "zed"])]
    damage = lookup.LookupNotes()
    if path_kind == "documents":
        rows = profiles(raw_frame([source.fetch_batch(0, work[0][1])]), damage)
    else:
        raw = raw_frame(source.fetch_batches(work))
        if path_kind == "reference":
            rows = profiles(raw, damage)
        else:
            reference = RawFile.from_json(raw["raw_file"][0])
            chunks = file_profiles(reference, requested_handles(raw), 1, notes=damage)
            rows = pl.concat(list(chunks)).unique("handle_key", keep="last")
    by_handle = _by_handle(rows)
    assert (by_handle["ann"]["outcome"], by_handle["eve"]["outcome"]) == ("found", "found")
    assert by_handle["dan"]["outcome"] == "failed"
    assert by_handle["dan"]["outcome_detail"] == (
        "@DAN is only named by broken JSON on line 2 of the prefetched users file users.jsonl "
        "(truncated or not JSON), which may hold it: fix the line and run again with --no-resume."
    )
    assert by_handle["zed"]["outcome"] == "not_found"
    assert by_handle["zed"]["outcome_detail"] == (
        "@zed is not in the prefetched users file users.jsonl. 1 broken line in users.jsonl "
        "could have held it (line 4)."
    )
    assert (damage.broken_lines, damage.files) == (3, [str(path.resolve())])
