"""The record schemas: loading, draft-07 and format checks, compatibility with the original."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from influx_etl import validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ValidationError
from tests.validate.documents import good_record

OURS_ID = validate.load_schema(DEFAULT_SCHEMA)["$id"]


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


def test_validators_for_builds_one_validator_per_file_in_order(
    shared_compat_dir: Path,
) -> None:
    original = shared_compat_dir / "bigv.schema.json"
    validators = validate.validators_for([DEFAULT_SCHEMA, original])
    assert [v.schema["$id"] for v in validators] == [
        OURS_ID,
        validate.load_schema(original)["$id"],
    ]
    assert validate.schema_document(validators[0]) == validate.load_schema(DEFAULT_SCHEMA)


def test_validators_for_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing\.json"):
        validate.validators_for([DEFAULT_SCHEMA, tmp_path / "missing.json"])
