"""The checks of a whole JSONL file (``influx validate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from jsonschema import Draft7Validator

from influx_etl import export, score, validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ValidationError
from tests.release_records import scored_authors, user

OURS_ID = validate.load_schema(DEFAULT_SCHEMA)["$id"]
ORIGINAL_ID = "https://influx.local/schema/bigv.schema.json"


# -- checked_file: the guards of a whole file ---------------------------------------------------


@pytest.fixture
def exported(tmp_path: Path, ours: Draft7Validator) -> Path:
    """A clean export of four authors: ``latest.jsonl`` and its ``manifest.json``."""
    authors = scored_authors(
        [user(str(900 + i), f"Person_{i}", 100_000 * (i + 1)) for i in range(4)]
    )
    export.export_authors(authors, tmp_path, [ours], validate.SCHEMA_VERSION, score.Scoring())
    return tmp_path / "latest.jsonl"


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def check(path: Path, validator: Draft7Validator, **options: Any) -> validate.FileCheck:
    return validate.checked_file(
        path, [validator], schema_version=validate.SCHEMA_VERSION, **options
    )


def found(result: validate.FileCheck) -> set[tuple[int | None, str, str]]:
    return set(result.failures.select("line", "check", "severity").iter_rows())


def test_a_clean_export_passes_every_check(exported: Path, ours: Draft7Validator) -> None:
    result = check(exported, ours, manifest_path=exported.parent / "manifest.json", strict=True)
    assert result.ok and result.failures.is_empty()
    assert result.records == 4


def test_duplicate_handles_are_caught_ignoring_case(exported: Path, ours: Draft7Validator) -> None:
    records = records_of(exported)
    records[2]["handle"] = records[0]["handle"].upper()
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    failures = result.failures.filter(pl.col("check") == "unique_handle")
    assert failures["line"].to_list() == [1, 3]
    assert "also on line(s) 3" in failures["message"][0]
    assert failures["id"].to_list() == [records[0]["id"], records[2]["id"]]
    assert not result.ok


def test_duplicate_ids_are_caught(exported: Path, ours: Draft7Validator) -> None:
    records = records_of(exported)
    records[3]["id"] = records[1]["id"]
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    failures = result.failures.filter(pl.col("check") == "unique_id")
    assert failures.select("line", "path").rows() == [(2, "id"), (4, "id")]
    assert f"id {records[1]['id']} is also on line(s) 4" == failures["message"][0]


@pytest.mark.parametrize("bad_id", ["12345678901234567890", "12ab", "", "-5"])
def test_ids_must_be_one_to_nineteen_digits(
    exported: Path, ours: Draft7Validator, bad_id: str
) -> None:
    records = records_of(exported)
    records[1]["id"] = bad_id
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    assert (2, "id_digits", "error") in found(result)
    assert (2, "schema", "error") in found(result)


def test_nineteen_digits_pass_the_guard(exported: Path, ours: Draft7Validator) -> None:
    records = records_of(exported)
    records[1]["id"] = "9" * 19
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    assert result.ok, result.failures.to_dicts()


@pytest.mark.parametrize(
    ("change", "check_name", "path"),
    [
        ({"evidence": "   "}, "source_evidence", "meta.sources[0].evidence"),
        ({"evidence": None}, "source_evidence", "meta.sources[0].evidence"),
        ({"fetched_at": ""}, "source_fetched_at", "meta.sources[0].fetched_at"),
        ({"fetched_at": None}, "source_fetched_at", "meta.sources[0].fetched_at"),
    ],
)
def test_every_source_needs_evidence_and_fetched_at(
    exported: Path, ours: Draft7Validator, change: dict[str, Any], check_name: str, path: str
) -> None:
    records = records_of(exported)
    source = records[2]["meta"]["sources"][0]
    for key, value in change.items():
        if value is None:
            del source[key]
        else:
            source[key] = value
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    guard = result.failures.filter(pl.col("check") == check_name)
    assert guard.select("line", "path", "handle").rows() == [(3, path, records[2]["handle"])]
    assert not result.ok


def test_a_second_source_is_checked_too(exported: Path, ours: Draft7Validator) -> None:
    records = records_of(exported)
    records[0]["meta"]["sources"].append(
        {"method": "x-api-v2", "fetched_at": "2025-11-20T10:00:00Z"}
    )
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    guard = result.failures.filter(pl.col("check") == "source_evidence")
    assert guard["path"].to_list() == ["meta.sources[1].evidence"]


@pytest.mark.parametrize("sources", [[], None, "not a list", [5]])
def test_records_without_usable_sources_are_caught(
    exported: Path, ours: Draft7Validator, sources: Any
) -> None:
    records = records_of(exported)
    if sources is None:
        del records[1]["meta"]["sources"]
    else:
        records[1]["meta"]["sources"] = sources
    result = check(write_lines(exported, [json.dumps(r) for r in records]), ours)
    assert (2, "sources", "error") in found(result)


def test_lines_that_are_not_records_are_caught(exported: Path, ours: Draft7Validator) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines()
    exported.write_bytes(
        "\n".join([lines[0], '{"id": ', "[1, 2]", lines[1]]).encode() + b"\n\xff\xfe\n"
    )
    result = check(exported, ours)
    assert {(2, "json"), (3, "json"), (5, "utf8")} <= {
        (line, name) for line, name, _ in found(result)
    }
    assert result.records == 5


def test_blank_lines_and_disorder_are_warnings_unless_strict(
    exported: Path, ours: Draft7Validator
) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines()
    write_lines(exported, [lines[1], lines[0], "", lines[2], lines[3]])
    relaxed = check(exported, ours)
    assert relaxed.ok
    assert found(relaxed) == {(2, "order", "warning"), (3, "blank_line", "warning")}
    assert (
        "belongs before line 1"
        in relaxed.warnings.filter(pl.col("check") == "order")["message"].item()
    )
    strict = check(exported, ours, strict=True)
    assert not strict.ok
    assert found(strict) == {(2, "order", "error"), (3, "blank_line", "error")}


def test_the_manifest_count_and_sha256_must_match(exported: Path, ours: Draft7Validator) -> None:
    manifest = exported.parent / "manifest.json"
    lines = exported.read_text(encoding="utf-8").splitlines()
    write_lines(exported, lines[:3])
    result = check(exported, ours, manifest_path=manifest)
    manifest_checks = result.failures.filter(pl.col("line").is_null())
    assert set(manifest_checks["check"]) == {"manifest_count", "manifest_sha256"}
    assert "manifest says 4 records, the file has 3" in manifest_checks["message"].to_list()
    assert set(manifest_checks["path"]) >= {"count", "sha256", "files[latest.jsonl].sha256"}
    assert not result.ok


def test_a_manifest_without_count_or_sha256_fails(exported: Path, ours: Draft7Validator) -> None:
    manifest = exported.parent / "manifest.json"
    manifest.write_text('{"schema_version": "1.2.0"}', encoding="utf-8")
    result = check(exported, ours, manifest_path=manifest)
    assert {name for _, name, _ in found(result)} == {"manifest_count", "manifest_sha256"}
    manifest.write_text("not json", encoding="utf-8")
    assert {name for _, name, _ in found(check(exported, ours, manifest_path=manifest))} == {
        "manifest"
    }


def test_other_listed_files_are_checked_strictly(exported: Path, ours: Draft7Validator) -> None:
    manifest = exported.parent / "manifest.json"
    (exported.parent / "latest.csv").write_text("changed\n", encoding="utf-8")
    (exported.parent / "latest.parquet").unlink()
    relaxed = check(exported, ours, manifest_path=manifest)
    assert relaxed.ok
    assert set(relaxed.warnings["path"]) == {"files[latest.csv].sha256", "files[latest.parquet]"}
    assert not check(exported, ours, manifest_path=manifest, strict=True).ok


def test_a_manifest_of_another_schema_version_is_a_warning(
    exported: Path, ours: Draft7Validator
) -> None:
    manifest = exported.parent / "manifest.json"
    result = validate.checked_file(exported, [ours], manifest_path=manifest, schema_version="0.9.0")
    assert found(result) == {(None, "manifest_schema_version", "warning")}


def test_an_unreadable_file_raises(tmp_path: Path, ours: Draft7Validator) -> None:
    with pytest.raises(ValidationError, match=r"absent\.jsonl"):
        check(tmp_path / "absent.jsonl", ours)


def test_every_check_has_a_description() -> None:
    assert set(validate.CHECKS) >= validate.WARNING_CHECKS
