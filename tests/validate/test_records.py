from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pytest
from jsonschema import Draft7Validator

from influx_etl import export, score, transform, validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ValidationError
from tests.factories import api_user, kept_frame, load_users
from tests.validate.documents import documents_for, documents_of, good_record

OURS_ID = validate.load_schema(DEFAULT_SCHEMA)["$id"]
ORIGINAL_ID = "https://influx.local/schema/bigv.schema.json"


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
