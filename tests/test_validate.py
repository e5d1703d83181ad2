from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from jsonschema import Draft7Validator

from influx_etl import score, transform, validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ValidationError
from tests.factories import api_user, kept_frame, load_users

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


def test_schema_without_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        validate.schema_version({"$id": "x"})
