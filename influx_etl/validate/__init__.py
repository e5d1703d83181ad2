"""Validation against the record schemas: the stage (:mod:`.records`), the schema loading and the
compiled fast path (:mod:`.schema`, :mod:`.compiled`), and the checks of a whole JSONL file
(:mod:`.files`, ``influx validate``)."""

from __future__ import annotations

from influx_etl.validate.files import (
    CHECKS,
    FAILURES_SCHEMA,
    WARNING_CHECKS,
    FileCheck,
    ParsedRecords,
    checked_file,
    guard_failures,
    guard_fields,
    jsonl_lines,
    manifest_failures,
    parsed_records,
)
from influx_etl.validate.records import INVALID_SCHEMA, Validated, validated
from influx_etl.validate.schema import (
    CHECKED_FORMATS,
    ROOT_PATH,
    SCHEMA_VERSION,
    cleared,
    compiled_for,
    load_schema,
    schema_document,
    schema_version,
    validator_for,
    validators_for,
)

__all__ = [
    "CHECKED_FORMATS",
    "CHECKS",
    "FAILURES_SCHEMA",
    "INVALID_SCHEMA",
    "ROOT_PATH",
    "SCHEMA_VERSION",
    "WARNING_CHECKS",
    "FileCheck",
    "ParsedRecords",
    "Validated",
    "checked_file",
    "cleared",
    "compiled_for",
    "guard_failures",
    "guard_fields",
    "jsonl_lines",
    "load_schema",
    "manifest_failures",
    "parsed_records",
    "schema_document",
    "schema_version",
    "validated",
    "validator_for",
    "validators_for",
]
