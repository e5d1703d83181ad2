"""Fixtures of the validation tests: our schema's validator and the original project's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from influx_etl import validate
from influx_etl.config import DEFAULT_SCHEMA


@pytest.fixture
def ours() -> Draft7Validator:
    return validate.validator_for(validate.load_schema(DEFAULT_SCHEMA))


@pytest.fixture
def original_schema(shared_compat_dir: Path) -> dict[str, Any]:
    return validate.load_schema(shared_compat_dir / "bigv.schema.json")


@pytest.fixture
def original(original_schema: dict[str, Any]) -> Draft7Validator:
    return validate.validator_for(original_schema)
