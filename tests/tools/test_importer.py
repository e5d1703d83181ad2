"""``influx import``: the original project's release records into real DuckDB dataset files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from influx_etl import export, score, transform, validate
from influx_etl.config import DEFAULT_SCHEMA, OutputPaths
from influx_etl.errors import StoreError
from influx_etl.frames import AUTHORS_SCHEMA
from influx_etl.store import Store
from influx_etl.tools import importer
from influx_etl.validate.schema import failure_path
from tests.release_records import (
    ORIGINAL_RECORD,
    original_record,
    scored_authors,
    user,
    write_dataset,
)

OURS = validate.load_schema(DEFAULT_SCHEMA)
VALIDATORS = [validate.validator_for(OURS)]


def release(path: Path, *records: dict[str, Any] | str) -> Path:
    """A release file: one record (or raw line) per line."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def run_import(path: Path, data_dir: Path) -> importer.ImportReport:
    return importer.import_file(path, OutputPaths(data_dir=data_dir), VALIDATORS, OURS)


def stored(data_dir: Path, kind: str = "live") -> pl.DataFrame:
    path = data_dir / ("synthetic/influx.duckdb" if kind == "simulated" else "influx.duckdb")
    with Store.open_existing(path) as store:
        return store.authors()


THREE = (
    original_record("1001", "first_one"),
    original_record("1002", "second_one", followers_count=75_000, meta__score=42.0),
    original_record("1003", "third_one", ext={"tweet_count": 50, "location": "Paris"}),
)


# -- the import schema ---------------------------------------------------------------------------


def test_original_records_pass_the_import_schema_but_not_ours() -> None:
    record = original_record("1001", "first_one")
    relaxed = validate.validator_for(importer.import_schema(OURS))
    assert relaxed.is_valid(record), list(relaxed.iter_errors(record))
    assert not VALIDATORS[0].is_valid(record)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"id": "12ab"}, "id"),
        ({"id": "1" * 20}, "id"),
        ({"handle": "no spaces allowed"}, "handle"),
        ({"followers_count": -1}, "followers_count"),
        ({"meta__score": 101}, "meta.score"),
        ({"meta__sources": []}, "meta.sources"),
        ({"meta__provenance_hash": ""}, "meta.provenance_hash"),
        ({"meta__last_refresh_at": "2025-11-13 12:00"}, "meta.last_refresh_at"),
        ({"lang_primary": None}, "lang_primary"),
    ],
)
def test_the_import_schema_keeps_our_rules(change: dict[str, Any], path: str) -> None:
    relaxed = validate.validator_for(importer.import_schema(OURS))
    record = original_record("1001", "first_one")
    for key, value in change.items():
        target, name = (record["meta"], key[6:]) if key.startswith("meta__") else (record, key)
        target[name] = value
    errors = list(relaxed.iter_errors(record))
    assert errors
    assert path in {failure_path(error) for error in errors}


# -- importing -----------------------------------------------------------------------------------


def test_original_records_are_imported_keeping_sources_and_scores(tmp_path: Path) -> None:
    report = run_import(release(tmp_path / "release.jsonl", *THREE), tmp_path / "data")
    assert report.failures.is_empty(), report.failures.to_dicts()
    (live,) = report.datasets
    assert (live.kind, live.integration.new) == ("live", 3)
    authors = stored(tmp_path / "data").sort("id")
    assert authors["id"].to_list() == ["1001", "1002", "1003"]
    first = authors.row(0, named=True)
    original = ORIGINAL_RECORD["meta"]
    assert [s["method"] for s in first["sources"]] == [s["method"] for s in original["sources"]]
    assert [s["evidence"] for s in first["sources"]] == [s["evidence"] for s in original["sources"]]
    assert [s["fetched_at"] for s in first["sources"]] == [
        "2025-11-13T12:00:00Z",
        "2025-11-10T08:30:00Z",
    ]
    assert (first["score"], first["quality_score"]) == (
        original["score"],
        original["quality_score"],
    )
    assert authors.row(1, named=True)["score"] == 42.0
    assert first["origin"] == "imported"
    assert first["provenance_hash"] == original["provenance_hash"].lower()
    assert first["topic_tags"] == ["ai_research", "ml"]
    assert first["last_refresh_at"] == "2025-11-13T12:00:00Z"
    # metrics from the original's ext.activity_metrics, or from ext itself
    metrics = ORIGINAL_RECORD["ext"]["activity_metrics"]
    assert (first["tweet_count"], first["like_count"], first["listed_count"]) == (
        metrics["tweet_count"],
        metrics["total_like_count"],
        metrics["listed_count"],
    )
    assert first["created_at"] == "2012-03-04T05:06:07Z"
    third = authors.row(2, named=True)
    assert (third["tweet_count"], third["location"]) == (50, "Paris")
    assert authors.schema == AUTHORS_SCHEMA


def test_re_import_is_idempotent(tmp_path: Path) -> None:
    path = release(tmp_path / "release.jsonl", *THREE)
    run_import(path, tmp_path / "data")
    before = stored(tmp_path / "data")
    again = run_import(path, tmp_path / "data")
    (live,) = again.datasets
    counts = live.integration
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 3)
    assert stored(tmp_path / "data").equals(before)


def test_imported_records_export_and_validate_against_both_schemas(
    tmp_path: Path, shared_compat_dir: Path
) -> None:
    run_import(release(tmp_path / "release.jsonl", *THREE), tmp_path / "data")
    original = validate.validator_for(validate.load_schema(shared_compat_dir / "bigv.schema.json"))
    manifest = export.export_authors(
        stored(tmp_path / "data"),
        tmp_path / "latest",
        [*VALIDATORS, original],
        validate.SCHEMA_VERSION,
        score.Scoring(),
    )
    assert manifest.count == 3
    records = [
        json.loads(line) for line in (tmp_path / "latest" / "latest.jsonl").read_text().splitlines()
    ]
    by_id = {record["id"]: record for record in records}
    assert by_id["1001"]["meta"]["sources"][1]["method"] == "manual_csv"
    assert by_id["1001"]["meta"]["score"] == ORIGINAL_RECORD["meta"]["score"]
    assert by_id["1001"]["ext"]["origin"] == "imported"
    assert "provenance" not in by_id["1001"]  # the original's extra fields are not carried
    assert "activity_metrics" not in by_id["1001"]["meta"]


def test_invalid_records_are_reported_and_left_out(tmp_path: Path) -> None:
    path = release(
        tmp_path / "release.jsonl",
        THREE[0],
        original_record("1004", "bad_count", followers_count="many"),
        "not json at all",
        original_record("1005", "no_sources", meta__sources=None),
        THREE[1],
    )
    report = run_import(path, tmp_path / "data")
    assert stored(tmp_path / "data")["id"].sort().to_list() == ["1001", "1002"]
    rows = report.failures.select("line", "id", "handle", "path").rows()
    assert (2, "1004", "bad_count", "followers_count") in rows
    assert (3, None, None, "$") in rows
    assert (4, "1005", "no_sources", "meta.sources") in rows
    assert all(report.failures["message"].str.len_chars() > 0)
    assert report.records == 5


def test_repeated_ids_and_handles_keep_the_first(tmp_path: Path) -> None:
    path = release(
        tmp_path / "release.jsonl",
        original_record("1001", "first_one"),
        original_record("1001", "renamed_one"),
        original_record("1009", "FIRST_ONE"),
    )
    report = run_import(path, tmp_path / "data")
    assert stored(tmp_path / "data").select("id", "handle").rows() == [("1001", "first_one")]
    assert report.failures.select("line", "check").rows() == [
        (2, "unique_id"),
        (3, "unique_handle"),
    ]
    assert "on line 1 too, which is imported" in report.failures["message"][0]


def test_a_handle_held_by_another_author_is_left_out(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    write_dataset(data_dir / "influx.duckdb", scored_authors([user("77", "First_One")]))
    report = run_import(release(tmp_path / "release.jsonl", *THREE), data_dir)
    conflict = report.failures.filter(pl.col("check") == "handle_taken")
    assert conflict.select("line", "id").rows() == [(1, "1001")]
    assert "belongs to id 77" in conflict["message"].item()
    assert set(stored(data_dir)["id"]) == {"77", "1002", "1003"}


def test_newer_stored_data_is_kept_and_older_stored_data_is_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    looked_up = scored_authors([user("1001", "first_one", 999_000), user("1002", "second_one")])
    write_dataset(
        data_dir / "influx.duckdb",
        looked_up.with_columns(
            last_refresh_at=pl.Series(["2025-12-01T00:00:00Z", "2025-01-01T00:00:00Z"])
        ),
    )
    report = run_import(release(tmp_path / "release.jsonl", THREE[0], THREE[1]), data_dir)
    (live,) = report.datasets
    assert live.stored_newer == 1 and live.integration.updated == 1
    authors = {row["id"]: row for row in stored(data_dir).iter_rows(named=True)}
    assert authors["1001"]["followers_count"] == 999_000  # newer lookup kept
    assert authors["1001"]["origin"] == "x-api-v2"
    assert authors["1002"]["origin"] == "imported"  # older lookup replaced by the release


def test_records_of_the_embedded_server_go_to_the_synthetic_dataset(tmp_path: Path) -> None:
    simulated = original_record(
        "1010",
        "made_up",
        meta__sources=[
            {
                "method": "influx-api-sim:synthetic",
                "fetched_at": "2025-11-13T12:00:00Z",
                "evidence": "GET /2/users/by usernames=made_up",
            }
        ],
    )
    report = run_import(release(tmp_path / "r.jsonl", THREE[0], simulated), tmp_path / "data")
    assert [(d.kind, d.integration.new) for d in report.datasets] == [
        ("live", 1),
        ("simulated", 1),
    ]
    assert stored(tmp_path / "data")["id"].to_list() == ["1001"]
    assert stored(tmp_path / "data", "simulated")["id"].to_list() == ["1010"]


def test_banned_authors_are_not_imported(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    write_dataset(data_dir / "influx.duckdb", scored_authors([user("5", "someone")]))
    with Store.open(data_dir / "influx.duckdb", "live") as store:
        store.ban("Second_One", "asked to be removed", "2025-11-20T00:00:00Z")
    report = run_import(release(tmp_path / "release.jsonl", *THREE), data_dir)
    assert report.datasets[0].integration.banned == 1
    assert "1002" not in set(stored(data_dir)["id"])


def test_an_import_is_recorded_as_a_run(tmp_path: Path) -> None:
    path = release(tmp_path / "release.jsonl", *THREE)
    report = run_import(path, tmp_path / "data")
    with Store.open_existing(tmp_path / "data" / "influx.duckdb") as store:
        run = store.runs().row(-1, named=True)
    assert run["run_id"] == report.datasets[0].run_id
    assert (run["status"], run["source"]) == ("succeeded", "import:release.jsonl")


# -- Store.upsert_authors: all or nothing --------------------------------------------------------


def imported_rows(tmp_path: Path, *records: dict[str, Any]) -> pl.DataFrame:
    prepared = importer.prepared_import(
        release(tmp_path / "rows.jsonl", *records).read_bytes(), VALIDATORS, OURS
    )
    return prepared.authors.drop("line")


def test_a_conflicting_row_writes_nothing(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "influx.duckdb", scored_authors([user("77", "taken")]))
    rows = imported_rows(
        tmp_path, original_record("1001", "free"), original_record("1002", "Taken")
    )
    with Store.open(path, "live") as store:
        before = store.authors()
        with pytest.raises(StoreError, match="@Taken"):
            store.upsert_authors("import-1", rows)
        assert store.authors().equals(before)


def test_a_live_dataset_refuses_the_embedded_servers_records(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "influx.duckdb", scored_authors([user("77", "someone")]))
    rows = imported_rows(tmp_path, original_record("1001", "free")).with_columns(
        origin=pl.lit("synthetic")
    )
    with Store.open(path, "live") as store, pytest.raises(StoreError, match="synthetic"):
        store.upsert_authors("import-1", rows)


def test_imported_authors_get_a_metrics_snapshot(tmp_path: Path) -> None:
    run_import(release(tmp_path / "release.jsonl", *THREE), tmp_path / "data")
    with Store.open_existing(tmp_path / "data" / "influx.duckdb") as store:
        snapshots = store.snapshots("1001")
    assert snapshots.select("fetched_at", "followers_count").rows() == [
        ("2025-11-13T12:00:00Z", ORIGINAL_RECORD["followers_count"])
    ]


def test_prepared_rows_render_valid_records(tmp_path: Path) -> None:
    # what the mapping accepts must render valid, or it could be stored yet never exported
    rows = imported_rows(tmp_path, *THREE)
    checked = validate.validated(transform.record_documents(rows), VALIDATORS)
    assert checked.invalid.is_empty()
    assert checked.valid.height == 3


def test_of_one_id_in_a_file_the_latest_fetched_record_is_imported(tmp_path: Path) -> None:
    path = release(
        tmp_path / "release.jsonl",
        original_record("1001", "old_one", meta__last_refresh_at="2025-11-13T12:00:00+00:00"),
        original_record("1001", "new_one", meta__last_refresh_at="2025-12-01T12:00:00+00:00"),
    )
    report = run_import(path, tmp_path / "data")
    assert stored(tmp_path / "data").select("id", "handle").rows() == [("1001", "new_one")]
    assert report.failures.select("line", "check").rows() == [(1, "unique_id")]
    assert "on line 2 too, which is imported" in report.failures["message"][0]


def test_two_stored_authors_that_swapped_handles_are_imported_swapped(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    write_dataset(
        data_dir / "influx.duckdb", scored_authors([user("77", "Alpha"), user("78", "Beta")])
    )
    later = "2030-01-01T00:00:00+00:00"
    path = release(
        tmp_path / "release.jsonl",
        original_record("77", "Beta", meta__last_refresh_at=later),
        original_record("78", "Alpha", meta__last_refresh_at=later),
    )
    report = run_import(path, data_dir)
    assert report.failures.is_empty()
    assert stored(data_dir).select("id", "handle").sort("id").rows() == [
        ("77", "Beta"),
        ("78", "Alpha"),
    ]
