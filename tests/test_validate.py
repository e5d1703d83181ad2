from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from jsonschema import Draft7Validator

from influx_etl import export, score, transform, validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ValidationError
from tests.factories import api_user, kept_frame, load_users
from tests.release_records import scored_authors, user

OURS_ID = validate.load_schema(DEFAULT_SCHEMA)["$id"]
ORIGINAL_ID = "https://influx.local/schema/bigv.schema.json"


@pytest.fixture
def ours() -> Draft7Validator:
    return validate.validator_for(validate.load_schema(DEFAULT_SCHEMA))


@pytest.fixture
def original_schema(shared_compat_dir: Path) -> dict[str, Any]:
    return validate.load_schema(shared_compat_dir / "bigv.schema.json")


@pytest.fixture
def original(original_schema: dict[str, Any]) -> Draft7Validator:
    return validate.validator_for(original_schema)


def documents_for(kept: pl.DataFrame) -> pl.DataFrame:
    authors = score.ranked(score.scored(transform.author_records(kept, "2025-11-20T09:00:00Z")))
    return transform.record_documents(authors)


def good_record() -> dict[str, Any]:
    kept = kept_frame(
        [api_user(pinned_tweet_id="7")], pinned_tweets={"7": "2025-11-01T14:33:22.000Z"}
    )
    return dict(json.loads(documents_for(kept)["json"].item()))


def documents_of(*records: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [str(record.get("id")) for record in records],
            "handle": [str(record.get("handle")) for record in records],
            "json": [json.dumps(record, ensure_ascii=False) for record in records],
        }
    )


# -- schemas -----------------------------------------------------------------------------------


def test_schema_version_is_read_from_our_schema() -> None:
    schema = json.loads(DEFAULT_SCHEMA.read_text(encoding="utf-8"))
    assert schema["schema_version"] == validate.SCHEMA_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", validate.SCHEMA_VERSION)
    assert validate.SCHEMA_VERSION in schema["title"]


def test_our_schema_keeps_the_original_contract(original_schema: dict[str, Any]) -> None:
    ours = validate.load_schema(DEFAULT_SCHEMA)
    assert ours["$id"] != original_schema["$id"]
    assert set(ours["required"]) == set(original_schema["required"])
    assert set(ours["properties"]) == set(original_schema["properties"])
    assert set(ours["properties"]["meta"]["required"]) == set(
        original_schema["properties"]["meta"]["required"]
    )
    assert set(ours["properties"]["meta"]["properties"]) == set(
        original_schema["properties"]["meta"]["properties"]
    )
    assert ours["additionalProperties"] is False


def test_date_time_format_is_checked(ours: Draft7Validator, original: Draft7Validator) -> None:
    record = good_record()
    record["meta"]["last_refresh_at"] = "2025-13-45"
    assert not ours.is_valid(record)
    assert not original.is_valid(record)
    record["meta"]["last_refresh_at"] = "2025-11-20T10:00:00Z"
    assert ours.is_valid(record)


# -- validated ---------------------------------------------------------------------------------


def test_real_users_validate_against_both_schemas(
    shared_real_users: Path, ours: Draft7Validator, original: Draft7Validator
) -> None:
    documents = documents_for(kept_frame(load_users(shared_real_users)))
    checked = validate.validated(documents, [ours, original])
    assert checked.invalid.height == 0, checked.invalid.head(5).to_dicts()
    assert checked.valid.equals(documents)


@pytest.mark.parametrize("origin", ["x-api-v2", "recorded", "synthetic", "prefetched"])
def test_every_origin_validates(
    origin: str, ours: Draft7Validator, original: Draft7Validator
) -> None:
    documents = documents_for(kept_frame([api_user()], origin=origin))
    assert validate.validated(documents, [ours, original]).invalid.height == 0


def test_record_with_sparse_profile_validates(
    ours: Draft7Validator, original: Draft7Validator
) -> None:
    user = api_user(description=None, created_at=None, public_metrics={"followers_count": 0})
    documents = documents_for(kept_frame([user], categories=[], seed_files=[]))
    assert validate.validated(documents, [ours, original]).invalid.height == 0


def failures(documents: pl.DataFrame, validators: list[Draft7Validator]) -> set[tuple[str, str]]:
    invalid = validate.validated(documents, validators).invalid
    return set(zip(invalid["path"].to_list(), invalid["schema"].to_list(), strict=True))


def test_bad_id_is_reported_with_its_path(ours: Draft7Validator, original: Draft7Validator) -> None:
    record = good_record()
    record["id"] = "12ab"
    found = failures(documents_of(record), [ours, original])
    assert ("id", OURS_ID) in found
    assert ("id", ORIGINAL_ID) in found


def test_missing_sources_is_reported_at_the_missing_key(
    ours: Draft7Validator, original: Draft7Validator
) -> None:
    record = good_record()
    del record["meta"]["sources"]
    invalid = validate.validated(documents_of(record), [ours, original]).invalid
    assert invalid.height == 2
    assert set(invalid["path"]) == {"meta.sources"}
    assert all("sources" in message for message in invalid["message"])
    assert set(invalid["handle"]) == {record["handle"]}
    assert set(invalid["id"]) == {record["id"]}


def test_bad_date_time_is_reported_with_index_path(
    ours: Draft7Validator, original: Draft7Validator
) -> None:
    record = good_record()
    record["meta"]["sources"][0]["fetched_at"] = "2025-13-45"
    found = failures(documents_of(record), [ours, original])
    assert ("meta.sources[0].fetched_at", OURS_ID) in found
    assert ("meta.sources[0].fetched_at", ORIGINAL_ID) in found


def test_ours_is_stricter_than_the_original(
    ours: Draft7Validator, original: Draft7Validator
) -> None:
    record = good_record()
    record["meta"]["sources"][0]["method"] = "web-scrape"
    record["unexpected"] = True
    assert original.is_valid(record)
    found = failures(documents_of(record), [ours])
    assert {path for path, _ in found} == {"meta.sources[0].method", "$"}


def test_null_optional_value_is_invalid(ours: Draft7Validator, original: Draft7Validator) -> None:
    # why record_documents omits null optional keys
    record = good_record()
    record["meta"]["last_active_at"] = None
    assert not ours.is_valid(record)
    assert not original.is_valid(record)


def test_valid_and_invalid_are_split(ours: Draft7Validator) -> None:
    good = good_record()
    bad = copy.deepcopy(good)
    bad["id"], bad["handle"] = "not-a-number", "Broken"
    documents = documents_of(good, bad).with_columns(extra=pl.lit(1))
    checked = validate.validated(documents, [ours])
    assert checked.valid.columns == documents.columns
    assert checked.valid["handle"].to_list() == [good["handle"]]
    assert checked.invalid.schema == validate.INVALID_SCHEMA
    assert set(checked.invalid["handle"]) == {"Broken"}


# -- validated on the values the texts were encoded from (record_documents(record=True)) ----------

DEFECTS: dict[str, pl.Expr] = {
    "handle": pl.lit("bad handle!"),
    "followers_count": pl.lit(-5, pl.Int64),
    "score": pl.lit(float("nan")),
    "quality_score": pl.lit(101.0),
    "brand_confidence": pl.lit(float("inf")),  # optional: the text leaves it out, and is valid
    "name": pl.lit(None, pl.String),
    "topic_tags": pl.lit(["A B"], pl.List(pl.String)),
    "last_refresh_at": pl.lit("2025-13-45"),
    "description": pl.lit('a string with ":null} and ":null, in it'),  # valid
    "verified": pl.lit("weird"),
    "provenance_hash": pl.lit("xyz"),
    "lang_primary": pl.lit("english"),
    "last_active_at": pl.lit(None, pl.String),  # optional: left out, valid
    "created_at": pl.lit("2023-02-29T00:00:00Z"),
}
"""One defect per author (or a corner that is valid), each in a column of the authors frame."""


def defective_authors(*, rescored: bool) -> pl.DataFrame:
    users = [
        api_user(id=str(1000 + index), username=f"user{index}") for index in range(len(DEFECTS) + 2)
    ]
    authors = score.ranked(
        score.scored(transform.author_records(kept_frame(users), "2025-11-20T09:00:00Z"))
    )
    if rescored:
        authors = score.rescored(authors, score.Scoring())
    row = pl.int_range(pl.len())
    return authors.with_columns(
        pl.when(row == index).then(defect).otherwise(pl.col(name)).alias(name)
        for index, (name, defect) in enumerate(DEFECTS.items())
    )


@pytest.mark.parametrize("rescored", [False, True])
def test_record_values_are_validated_as_their_texts(ours: Draft7Validator, rescored: bool) -> None:
    """The values path rejects exactly what jsonschema rejects, with its messages: the same
    ``valid`` and ``invalid`` as validating the texts."""
    authors = defective_authors(rescored=rescored)
    by_values = validate.validated(transform.record_documents(authors, record=True), [ours])
    by_texts = validate.validated(transform.record_documents(authors), [ours])
    assert by_values.valid.equals(by_texts.valid)
    assert by_values.invalid.equals(by_texts.invalid)
    texts = transform.record_documents(authors)
    rejected = {
        handle for handle, text in zip(texts["handle"], texts["json"], strict=True)
        if not ours.is_valid(json.loads(text))
    }  # fmt: skip
    assert set(by_values.invalid["handle"]) == rejected
    assert len(rejected) == len(DEFECTS) - 3
    assert (
        "json" in by_values.valid.columns and transform.RECORD_COLUMN not in by_values.valid.columns
    )


def test_record_values_are_validated_as_their_texts_for_both_schemas(
    ours: Draft7Validator, original: Draft7Validator
) -> None:
    authors = defective_authors(rescored=True)
    by_values = validate.validated(
        transform.record_documents(authors, record=True), [ours, original]
    )
    by_texts = validate.validated(transform.record_documents(authors), [ours, original])
    assert by_values.valid.equals(by_texts.valid)
    assert by_values.invalid.equals(by_texts.invalid)


@pytest.mark.parametrize("rescored", [False, True])
def test_records_without_texts_are_validated_as_their_texts(
    ours: Draft7Validator, original: Draft7Validator, rescored: bool
) -> None:
    """No texts made (a run's kept authors): the same verdicts and messages as with the texts,
    for our schema and for both; only the records jsonschema must read get a text."""
    authors = defective_authors(rescored=rescored)
    for validators in ([ours], [ours, original]):
        unencoded = validate.validated(
            transform.record_documents(authors, record=True, text=False), validators
        )
        by_texts = validate.validated(transform.record_documents(authors), validators)
        assert unencoded.invalid.equals(by_texts.invalid)
        assert unencoded.valid.equals(by_texts.valid.drop("json"))
    assert not unencoded.invalid.is_empty()


def test_records_without_texts_under_a_schema_the_compiler_refuses_go_to_jsonschema(
    ours: Draft7Validator,
) -> None:
    """A schema the compiler does not support: every record is rendered and jsonschema decides,
    as for texts."""
    schema = copy.deepcopy(ours.schema)
    schema["minProperties"] = 1  # not compiled (test_compiled_schema: an unsupported keyword)
    refused = validate.validator_for(schema)
    assert validate.compiled_for([refused]) is None
    authors = defective_authors(rescored=False)
    unencoded = validate.validated(
        transform.record_documents(authors, record=True, text=False), [refused]
    )
    by_texts = validate.validated(transform.record_documents(authors), [refused])
    assert unencoded.invalid.equals(by_texts.invalid) and not unencoded.invalid.is_empty()
    assert unencoded.valid.equals(by_texts.valid)  # the texts were made: valid has them


def test_records_without_texts_are_cleared_without_rendering(ours: Draft7Validator) -> None:
    kept = kept_frame([api_user(id=str(10 + i), username=f"u{i}") for i in range(5)])
    authors = score.scored(transform.author_records(kept, "2025-11-20T09:00:00Z"))
    documents = transform.record_documents(authors, record=True, text=False)
    compiled = validate.compiled_for([ours])
    assert compiled is not None
    values = documents[transform.RECORD_COLUMN].struct.unnest()
    checked = compiled.checked_unencoded(values, transform.OMITTED_WHEN_NULL)
    assert checked is not None and checked.cleared.all()
    assert validate.validated(documents, [ours]).valid["id"].to_list() == authors["id"].to_list()


@pytest.mark.parametrize("rescored", [False, True])
def test_record_values_are_checked_without_decoding(ours: Draft7Validator, rescored: bool) -> None:
    """The values of record_documents are of the compiled schemas' type (else the fast path would
    silently be the slow one) and are the records the export writes to Parquet and CSV."""
    kept = kept_frame([api_user(id=str(10 + i), username=f"u{i}") for i in range(5)])
    authors = score.ranked(score.scored(transform.author_records(kept, "2025-11-20T09:00:00Z")))
    if rescored:
        authors = score.rescored(authors, score.Scoring())
    documents = transform.record_documents(authors, record=True)
    compiled = validate.compiled_for([ours])
    assert compiled is not None
    values = documents[transform.RECORD_COLUMN].struct.unnest()
    checked = compiled.checked_values(values, documents["json"])
    assert checked is not None and checked.cleared.all()
    result = validate.validated(documents, [ours])
    assert result.invalid.is_empty()
    assert result.valid.equals(transform.record_documents(authors))
    assert result.records is not None
    assert result.records.equals(export.record_frame(result.valid))


def test_text_that_is_not_json_is_reported_at_root(ours: Draft7Validator) -> None:
    documents = pl.DataFrame({"id": ["1"], "handle": ["h"], "json": ['{"id": ']})
    checked = validate.validated(documents, [ours])
    assert checked.valid.height == 0
    assert checked.invalid["path"].to_list() == ["$"]


def test_documents_need_id_handle_json(ours: Draft7Validator) -> None:
    with pytest.raises(ValidationError, match="handle"):
        validate.validated(pl.DataFrame({"id": ["1"], "json": ["{}"]}), [ours])


# -- loading -----------------------------------------------------------------------------------


def test_unreadable_schema_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.schema.json"
    with pytest.raises(ValidationError, match=r"absent\.schema\.json"):
        validate.load_schema(path)


def test_bad_json_schema_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.schema.json"
    path.write_text('{\n  "type": "object",\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"broken\.schema\.json:3"):
        validate.load_schema(path)


def test_schema_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.schema.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"list\.schema\.json"):
        validate.load_schema(path)


def test_invalid_draft7_schema_is_refused() -> None:
    with pytest.raises(ValidationError, match="draft-07"):
        validate.validator_for({"type": "no-such-type"})


@pytest.mark.parametrize("name", ["iri", "iri-reference", "date-time"])
def test_a_format_the_checker_lacks_is_refused(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(Draft7Validator.FORMAT_CHECKER.checkers, name, raising=False)
    schema = {"type": "object", "properties": {"link": {"type": "string", "format": name}}}
    with pytest.raises(ValidationError, match=f"format '{name}' would not be checked"):
        validate.validator_for(schema)


def test_importing_the_package_leaves_out_the_iri_grammar_only() -> None:
    # rfc3987-syntax builds its grammar on import (0.8 s of every command's start-up); the
    # block is lifted afterwards (no None left in sys.modules), so others may still import it
    code = (
        "import sys, influx_etl, jsonschema; "
        "checkers = jsonschema.Draft7Validator.FORMAT_CHECKER.checkers; "
        "print('rfc3987_syntax' in sys.modules, 'iri' in checkers, 'date-time' in checkers)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False", "True"]


def test_schema_without_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        validate.schema_version({"$id": "x"})


# -- schema 1.1: imported records, composite fields ---------------------------------------------


def test_an_imported_record_keeps_foreign_source_methods(ours: Draft7Validator) -> None:
    record = good_record()
    record["meta"]["sources"][0]["method"] = "twitter-api-v2"
    assert not ours.is_valid(record)
    record["ext"]["origin"] = "imported"
    assert ours.is_valid(record)
    record["meta"]["sources"][0]["method"] = ""
    assert not ours.is_valid(record)


def test_composite_fields_are_typed(ours: Draft7Validator) -> None:
    record = good_record()
    record["ext"].update(
        activity_score=12.5,
        relevance_score=50.0,
        composite_score=30.0,
        rank_topic=[{"topic": "ai_research", "rank": 1}],
    )
    assert ours.is_valid(record)
    for bad in (
        {"composite_score": 101},
        {"rank_topic": [{"topic": "ai_research", "rank": 0}]},
        {"rank_topic": [{"topic": "AI Research", "rank": 1}]},
        {"rank_topic": [{"topic": "ai", "rank": 1, "extra": True}]},
    ):
        assert not ours.is_valid({**record, "ext": {**record["ext"], **bad}}), bad


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
    manifest.write_text('{"schema_version": "1.1.0"}', encoding="utf-8")
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
