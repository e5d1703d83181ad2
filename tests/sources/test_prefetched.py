"""Prefetched users files: the one reader (lines, skipped and broken lines, read-ahead) and the
source answering one batch from a file."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from influx_etl.config import LookupSettings
from influx_etl.errors import SourceError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import PROBLEM_NOT_FOUND, PrefetchedSource, prefetched, source_kind
from influx_etl.sources.prefetched import prefetched_answers
from tests.sources.conftest import RECORDED
from tests.sources.prefetched_files import damaged_file, users_file


def test_prefetched_users_answer_like_the_api(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(
        json.dumps(RECORDED["alice"])
        + "\n"
        + json.dumps({"data": RECORDED["bob"]})
        + "\n"
        + "not json at all\n"
        + json.dumps({"name": "no id or username"})
        + "\n",
        encoding="utf-8",
    )
    batch = PrefetchedSource(path).fetch_batch(0, ["alice", "BOB", "carol"])
    rows = profiles(raw_frame([batch])).sort("handle_key")
    assert rows.select("handle_key", "outcome", "id", "origin").rows() == [
        ("alice", "found", "101", "prefetched"),
        ("bob", "found", "102", "prefetched"),
        ("carol", "not_found", None, None),
    ]


def test_prefetched_real_users(shared_real_users: Path) -> None:
    users = [json.loads(line) for line in shared_real_users.read_text().splitlines()]
    source = PrefetchedSource(shared_real_users)
    batch = source.fetch_batch(0, [u["username"].upper() for u in users[:100]])
    found = profiles(raw_frame([batch]))
    assert (found["outcome"] == "found").all()
    assert found["id"].to_list() == [u["id"] for u in users[:100]]


def test_prefetched_whole_api_responses_and_missing_handles(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    response = {
        "data": [RECORDED["alice"], RECORDED["bob"]],
        "errors": [
            {
                "value": "gone",
                "detail": "User has been suspended: [gone].",
                "title": "Forbidden",
                "resource_type": "user",
                "parameter": "usernames",
                "resource_id": "gone",
                "type": PROBLEM_NOT_FOUND,
            }
        ],
    }
    path.write_text(json.dumps(response) + "\n[1, 2]\n", encoding="utf-8")
    source = PrefetchedSource(path)
    rows = profiles(raw_frame([source.fetch_batch(0, ["Alice", "bob", "gone", "carol"])]))
    result = {r["handle_key"]: (r["outcome"], r["outcome_detail"]) for r in rows.to_dicts()}
    assert result["alice"][0] == result["bob"][0] == "found"
    assert result["gone"][0] == "suspended"
    assert result["carol"] == (
        "not_found",
        "@carol is not in the prefetched users file responses.jsonl.",
    )


def test_skipped_lines_are_reported_with_their_line_numbers(tmp_path: Path, caplog: Any) -> None:
    path = users_file(tmp_path / "users.jsonl")
    with caplog.at_level("WARNING", logger="influx_etl.sources.prefetched"):
        answers = prefetched_answers(path)
    assert sorted(answers.users["handle_key"]) == ["ann", "bob", "cy"]
    assert answers.errors["handle_key"].to_list() == ["dee"]
    assert (answers.lines, answers.skipped) == (6, 2)
    reported = sorted(
        int(record.getMessage().split(":")[1])
        for record in caplog.records
        if ": skipped: " in record.getMessage()
    )
    assert reported == [5, 7]  # "not json" and the user without an id (blank lines count)


@pytest.mark.parametrize("reader", ["prefetched_answers", "documents"])
def test_broken_lines_are_reported_as_broken_json_with_their_line_numbers(
    tmp_path: Path, caplog: Any, reader: str
) -> None:
    path = damaged_file(tmp_path / "users.jsonl")
    with caplog.at_level("WARNING"):
        if reader == "documents":
            PrefetchedSource(path).fetch_batch(0, ["ann"])
        else:
            answers = prefetched_answers(path)
            assert answers.broken.sort("line").rows() == [(2, "dan"), (4, None), (6, "eve")]
    skipped = {
        int(message.split(":")[1]): message.split(": skipped: ")[1]
        for message in (record.getMessage() for record in caplog.records)
        if ": skipped: " in message
    }
    assert sorted(skipped) == [2, 4, 5, 6]
    assert all(skipped[n].startswith("broken JSON (") for n in (2, 4, 6))
    assert "names @dan" in skipped[2]
    assert skipped[5].startswith("not a ")  # valid JSON that holds no user
    assert "not a user object" not in " ".join(skipped[n] for n in (2, 4, 6))


def test_read_ahead_keeps_order_passes_errors_on_and_closes_the_reader() -> None:
    closed: list[bool] = []

    def chunks(fail_at: int | None) -> Generator[pl.DataFrame]:
        try:
            for index in range(4):
                if index == fail_at:
                    raise SourceError(f"bad chunk {index}")
                yield pl.DataFrame({"index": [index]})
        finally:
            closed.append(True)

    assert [c["index"][0] for c in prefetched._read_ahead(chunks(None))] == [0, 1, 2, 3]
    with pytest.raises(SourceError, match="bad chunk 2"):
        list(prefetched._read_ahead(chunks(2)))
    early = prefetched._read_ahead(chunks(None))
    assert next(early)["index"][0] == 0
    early.close()  # the caller stops after one chunk: the reader is closed all the same
    assert closed == [True, True, True]


_MARKED = {**RECORDED["alice"], "_influx_origin": "synthetic"}
_ERRORS_LINE = {"errors": [{"value": "gone", "title": "Not Found Error"}]}


@pytest.mark.parametrize(
    ("lines", "kind"),
    [
        ([_MARKED, RECORDED["bob"]], "simulated"),
        ([_ERRORS_LINE, {"data": [_MARKED]}], "simulated"),  # the first user decides
        ([{"data": {**_MARKED, "_influx_origin": "recorded"}}], "simulated"),
        ([RECORDED["bob"], _MARKED], "live"),  # the live dataset's guard refuses the later one
        ([_ERRORS_LINE], "live"),
    ],
)
def test_a_file_of_the_embedded_servers_users_belongs_to_the_synthetic_dataset(
    tmp_path: Path, lines: list[dict[str, Any]], kind: str
) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text("not json\n\n" + "".join(json.dumps(v) + "\n" for v in lines), "utf-8")
    assert PrefetchedSource(path).kind == kind
    assert source_kind(LookupSettings(source=f"prefetched:{path}")) == kind
