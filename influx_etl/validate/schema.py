"""The record schemas: loaded, checked as draft-07 with format checks on, and compiled.

Records are checked against our schema (``schema/bigv.schema.json``) and, when the caller gives it,
the original influx schema, so that every exported record stays valid for consumers of either.
Format checks are on: ``date-time`` needs ``rfc3339-validator``; :func:`validator_for` refuses a
validator that would skip it, or ``iri`` / ``iri-reference``, whose checker the package keeps out of
jsonschema (see :data:`CHECKED_FORMATS`). :func:`validators_for` is the one way every command builds
its validators from schema files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import jsonschema.exceptions
import polars as pl
from jsonschema import Draft7Validator

from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import UnsupportedSchema, ValidationError
from influx_etl.validate.compiled import CompiledSchemas, compiled_schemas

log = logging.getLogger(__name__)

ROOT_PATH: Final = "$"
"""The ``path`` of a failure of the record as a whole."""


def load_schema(path: Path) -> dict[str, Any]:
    """The JSON Schema in ``path``; unreadable files and bad JSON raise ``ValidationError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"{path}: cannot read the JSON schema: {error}") from error
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
        ) from error
    if not isinstance(schema, dict):
        raise ValidationError(
            f"{path}: a JSON schema must be an object, got {type(schema).__name__}"
        )
    return schema


def schema_version(schema: dict[str, Any]) -> str:
    """The ``schema_version`` keyword of one of our schemas."""
    version = schema.get("schema_version")
    if not isinstance(version, str):
        raise ValidationError(f"schema {schema.get('$id')!r} has no string 'schema_version'")
    return version


SCHEMA_VERSION: Final = schema_version(load_schema(DEFAULT_SCHEMA))
"""Version of the bundled record schema, written into the export manifest."""

_IRI_REMEDY: Final = (
    "its checker, rfc3987-syntax, is kept out of jsonschema when influx_etl imports it (it "
    "costs 0.8 s of start-up on every command, for formats our schemas do not use; see "
    "influx_etl/__init__.py)"
)


CHECKED_FORMATS: Final = {
    "date-time": "install jsonschema[format-nongpl] (it brings rfc3339-validator)",
    "iri": _IRI_REMEDY,
    "iri-reference": _IRI_REMEDY,
}
"""Formats :func:`validator_for` refuses to leave unchecked, with what makes them checked."""


def _uses_format(schema: Any, name: str) -> bool:
    if isinstance(schema, dict):
        return schema.get("format") == name or any(
            _uses_format(value, name) for value in schema.values()
        )
    if isinstance(schema, list):
        return any(_uses_format(item, name) for item in schema)
    return False


def validator_for(schema: dict[str, Any]) -> Draft7Validator:
    """A draft-07 validator with format checks on; a schema that is not valid draft-07 raises."""
    try:
        Draft7Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        raise ValidationError(
            f"schema {schema.get('$id')!r} is not a valid draft-07 schema: {error.message}",
            path=json_path(error.absolute_path),
        ) from error
    checker = Draft7Validator.FORMAT_CHECKER
    for name, remedy in CHECKED_FORMATS.items():
        if _uses_format(schema, name) and name not in checker.checkers:
            raise ValidationError(f"format {name!r} would not be checked: {remedy}")
    return Draft7Validator(schema, format_checker=checker)


def json_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or ROOT_PATH


def failure_path(error: jsonschema.exceptions.ValidationError) -> str:
    """JSON path of the failing value; for a missing required key, the path it should be at."""
    parts: list[str | int] = list(error.absolute_path)
    if (
        error.validator == "required"
        and isinstance(error.instance, dict)
        and isinstance(error.validator_value, list)
    ):
        missing = [
            name
            for name in error.validator_value
            if name not in error.instance and repr(name) in error.message
        ]
        if missing:
            parts.append(missing[0])
    return json_path(parts)


def schema_id_of(validator: Draft7Validator) -> str:
    schema = validator.schema
    return str(schema.get("$id", "")) if isinstance(schema, dict) else ""


def compiled_for(validators: Sequence[Draft7Validator]) -> CompiledSchemas | None:
    """The validators' schemas compiled (memoised), or None when one uses something the compiler
    does not support: then every record goes to jsonschema."""
    schemas = [validator.schema for validator in validators]
    objects = [schema for schema in schemas if isinstance(schema, Mapping)]
    if not schemas or len(objects) != len(schemas):
        return None
    try:
        return compiled_schemas(objects)
    except UnsupportedSchema as unsupported:
        log.info("validating record by record with jsonschema: %s", unsupported)
        return None


def cleared(texts: pl.Series, validators: Sequence[Draft7Validator]) -> pl.Series:
    """Per JSON text, whether the compiled schemas clear it (certainly valid for every validator);
    all False when the schemas cannot be compiled."""
    compiled = compiled_for(validators)
    return none_cleared(texts.len()) if compiled is None else compiled.cleared(texts)


def none_cleared(count: int) -> pl.Series:
    return pl.Series("cleared", [False] * count, dtype=pl.Boolean)


def schema_failures(
    instance: Any, validators: Sequence[Draft7Validator], schema_ids: Sequence[str]
) -> list[tuple[str, str, str]]:
    """``(path, message, schema $id)`` of every violation of every schema."""
    return [
        (failure_path(failure), failure.message, schema_id)
        for validator, schema_id in zip(validators, schema_ids, strict=True)
        for failure in validator.iter_errors(instance)
    ]


def validators_for(paths: Sequence[Path]) -> tuple[Draft7Validator, ...]:
    """One validator per schema file, in order (our schema first, then any compatibility schema)."""
    return tuple(validator_for(load_schema(path)) for path in paths)


def schema_document(validator: Draft7Validator) -> dict[str, Any]:
    """The schema a validator checks against, as the JSON object it was loaded from."""
    schema = validator.schema
    if not isinstance(schema, dict):
        raise ValidationError("a record schema must be a JSON object")
    return schema
