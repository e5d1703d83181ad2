"""JSON Schema validation of record documents, and the checks of a whole JSONL file.

Records are checked against our schema (``schema/bigv.schema.json``, :data:`SCHEMA_VERSION`) and,
when the caller gives it, the original influx schema, so that every exported record stays valid for
consumers of either. Format checks are on: ``date-time`` needs ``rfc3339-validator`` (installed by
``jsonschema[format-nongpl]``); :func:`validator_for` refuses a validator that would skip it, or
``iri`` / ``iri-reference``, whose checker the package keeps out of jsonschema (see
:data:`CHECKED_FORMATS`).

A JSONL file (``influx-validate``, :func:`checked_file`) gets the schema validation plus the
original project's guard checks (:data:`CHECKS`): unique ids and handles (case-insensitive), ids of
1-19 digits, evidence and ``fetched_at`` on every source, and the manifest's count and SHA-256.
The guards run vectorised over the whole file (Polars). So does the schema validation: the schemas
are compiled into Polars expressions (:mod:`influx_etl.compiled_schema`) that clear the records
certainly valid, all at once; jsonschema then checks only the records not cleared, and its verdict
and messages are the ones reported. Records we render
(:func:`influx_etl.transform.record_documents` with ``record=True``) are cleared on the very values
their JSON was encoded from, without decoding it
(:meth:`influx_etl.compiled_schema.CompiledSchemas.checked_values`). Some checks are warnings
(:data:`WARNING_CHECKS`) unless ``strict``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsonschema.exceptions
import polars as pl
from jsonschema import Draft7Validator

from influx_etl.compiled_schema import CompiledSchemas, UnsupportedSchema, compiled_schemas
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ValidationError
from influx_etl.transform import OMITTED_WHEN_NULL, RECORD_COLUMN, record_text

log = logging.getLogger(__name__)

INVALID_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String,
        "handle": pl.String,
        "path": pl.String,
        "message": pl.String,
        "schema": pl.String,
    }
)
"""One row per schema violation: record, JSON path of the failing value, message, schema ``$id``."""

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
            path=_json_path(error.absolute_path),
        ) from error
    checker = Draft7Validator.FORMAT_CHECKER
    for name, remedy in CHECKED_FORMATS.items():
        if _uses_format(schema, name) and name not in checker.checkers:
            raise ValidationError(f"format {name!r} would not be checked: {remedy}")
    return Draft7Validator(schema, format_checker=checker)


def _json_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or ROOT_PATH


def _failure_path(error: jsonschema.exceptions.ValidationError) -> str:
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
    return _json_path(parts)


def _schema_id(validator: Draft7Validator) -> str:
    schema = validator.schema
    return str(schema.get("$id", "")) if isinstance(schema, dict) else ""


@dataclass(frozen=True)
class Validated:
    """Documents split by validity: ``valid`` keeps the input columns; ``invalid`` is
    :data:`INVALID_SCHEMA`, one row per violation (a record may have several)."""

    valid: pl.DataFrame
    invalid: pl.DataFrame
    records: pl.DataFrame | None = field(default=None, repr=False)
    """The ``valid`` documents decoded (or the values their texts were encoded from), one column
    per top-level key in the schemas' shape, when the compiled schemas cleared every one of them
    (else None): what the export writes to Parquet and CSV, without decoding the JSON again."""


def validated(documents: pl.DataFrame, validators: Sequence[Draft7Validator]) -> Validated:
    """Split ``documents`` (columns ``id``, ``handle``, ``json``) by validity for all validators.

    A record is valid when all validators accept it; every violation of every schema is reported
    (schema named by its ``$id``). Text that is not JSON at all is reported at path ``$``.
    The compiled schemas clear the valid records in one vectorised pass (:func:`cleared`); the
    others, normally none, are checked by jsonschema, whose verdict and messages count.

    Documents of :func:`influx_etl.transform.record_documents` with ``record=True`` carry the
    struct each text was encoded from (:data:`RECORD_COLUMN`): the compiled schemas check those
    values rather than decoding the texts
    (:meth:`~influx_etl.compiled_schema.CompiledSchemas.checked_values`); ``valid`` leaves that
    column out. Such documents may come without ``json`` (``record_documents(..., text=False)``):
    the values are checked as the texts they will make
    (:meth:`~influx_etl.compiled_schema.CompiledSchemas.checked_unencoded`), and only the
    records not cleared are rendered, for jsonschema; ``valid`` then has no ``json`` either
    (unless the values cannot be checked so: then every text is made, and ``valid`` has them).
    """
    source = documents.get_column(RECORD_COLUMN) if RECORD_COLUMN in documents.columns else None
    unencoded = (
        "json" not in documents.columns
        and source is not None
        and isinstance(source.dtype, pl.Struct)
    )
    required = ("id", "handle") if unencoded else ("id", "handle", "json")
    missing = [name for name in required if name not in documents.columns]
    if missing:
        raise ValidationError(f"documents lack column(s) {', '.join(missing)}")
    values = None
    if source is not None:
        documents = documents.drop(RECORD_COLUMN)
        if isinstance(source.dtype, pl.Struct):
            values = source.struct.unnest()
    compiled = compiled_for(validators)
    checked = None
    if compiled is not None and values is not None:
        checked = (
            compiled.checked_unencoded(values, OMITTED_WHEN_NULL)
            if unencoded
            else compiled.checked_values(values, documents["json"])
        )
    if unencoded and checked is None:
        # the values are not of the compiled type (or nothing compiles): the texts, then
        assert source is not None
        documents = documents.with_columns(_texts(source))
        unencoded = False
    if compiled is not None and checked is None:
        checked = compiled.checked(documents["json"])
    passed = _none_cleared(documents.height) if checked is None else checked.cleared
    if checked is not None and passed.all():
        # nothing to filter: the usual case, and filtering copies every text and value
        return Validated(
            valid=documents, invalid=pl.DataFrame(schema=INVALID_SCHEMA), records=checked.decoded
        )
    suspects = documents.filter(~passed)
    if unencoded:
        # jsonschema reads the texts: made for the records not cleared only
        assert source is not None
        suspects = suspects.with_columns(_texts(source.filter(~passed)))
    # jsonschema validates Python objects, so this is a per-record loop by necessity; it runs on
    # the records the compiled schemas did not clear only (~0.3 ms per record and schema).
    schema_ids = [_schema_id(validator) for validator in validators]
    failures: list[tuple[str | None, str | None, str, str, str]] = []
    suspect_valid: list[bool] = []
    for record_id, handle, text in suspects.select("id", "handle", "json").iter_rows():
        try:
            instance = json.loads(text)
        except (TypeError, json.JSONDecodeError) as not_json:
            failures.append((record_id, handle, ROOT_PATH, f"not JSON: {not_json}", ""))
            suspect_valid.append(False)
            continue
        found = _schema_failures(instance, validators, schema_ids)
        failures += [(record_id, handle, *failure) for failure in found]
        suspect_valid.append(not found)
    records = None
    if checked is not None and not any(suspect_valid):
        records = checked.decoded.filter(passed)
    if suspects.height:
        passed = passed.scatter((~passed).arg_true(), pl.Series(suspect_valid, dtype=pl.Boolean))
    invalid = pl.DataFrame(failures, schema=INVALID_SCHEMA, orient="row")
    valid = documents.filter(passed)
    return Validated(valid=valid, invalid=invalid, records=records)


def _texts(records: pl.Series) -> pl.Series:
    """The ``json`` texts of record structs (:func:`influx_etl.transform.record_text`)."""
    return records.to_frame().select(record_text(pl.col(records.name)).alias("json")).to_series()


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
    return _none_cleared(texts.len()) if compiled is None else compiled.cleared(texts)


def _none_cleared(count: int) -> pl.Series:
    return pl.Series("cleared", [False] * count, dtype=pl.Boolean)


def _schema_failures(
    instance: Any, validators: Sequence[Draft7Validator], schema_ids: Sequence[str]
) -> list[tuple[str, str, str]]:
    """``(path, message, schema $id)`` of every violation of every schema."""
    return [
        (_failure_path(failure), failure.message, schema_id)
        for validator, schema_id in zip(validators, schema_ids, strict=True)
        for failure in validator.iter_errors(instance)
    ]


# --------------------------------------------------------------------------------------------------
# a whole JSONL file: lines, schema, guards, manifest

CHECKS: Final = {
    "utf8": "the line is UTF-8 text",
    "json": "the line is one JSON object",
    "schema": "the record is valid against every schema",
    "id_digits": "id is a string of 1 to 19 decimal digits (a 64-bit X user id)",
    "unique_id": "no other record has the same id",
    "unique_handle": "no other record has the same handle, ignoring case",
    "sources": "meta.sources is a non-empty list of objects",
    "source_evidence": "every source has a non-empty evidence",
    "source_fetched_at": "every source has a non-empty fetched_at",
    "manifest": "the manifest is a JSON object",
    "manifest_count": "the manifest's count is the number of records",
    "manifest_sha256": "the manifest's sha256 is the file's",
    "blank_line": "no blank line between records",
    "order": "records are in export order: score desc, followers desc, handle, id",
    "manifest_schema_version": "the manifest's schema_version is the schema's",
    "manifest_file": "the manifest's file names the file checked",
    "manifest_files": "every other file the manifest lists is there with its sha256",
}
"""Every check of :func:`checked_file`, by name, with what it requires."""

WARNING_CHECKS: Final = frozenset(
    {"blank_line", "order", "manifest_schema_version", "manifest_file", "manifest_files"}
)
"""Checks whose failures are warnings unless strict: the records themselves are sound."""

FAILURES_SCHEMA: Final = pl.Schema(
    {
        "line": pl.Int64,  # 1-based line of the JSONL file; null for the manifest's checks
        "id": pl.String,
        "handle": pl.String,
        "check": pl.String,  # a key of CHECKS
        "severity": pl.String,  # error | warning
        "path": pl.String,  # JSON path in the record (or the manifest key)
        "message": pl.String,
    }
)
"""One row per failed check of :func:`checked_file` (and per schema violation)."""

LINES_SCHEMA: Final = pl.Schema({"line": pl.Int64, "text": pl.String})

MAX_ID_DIGITS: Final = 19

_SOURCE_GUARD: Final = pl.Struct({"fetched_at": pl.String(), "evidence": pl.String()})

_GUARD_FIELDS: Final = pl.Schema(
    {
        "id": pl.String(),
        "handle": pl.String(),
        "followers_count": pl.Int64(),
        "meta": pl.Struct({"score": pl.Float64(), "sources": pl.List(_SOURCE_GUARD)}),
    }
)
"""What the guards read of each record (read leniently: a value of another type is null)."""


def jsonl_lines(data: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The lines of a JSONL file (:data:`LINES_SCHEMA`, blank ones included, the final newline
    ending the last line) and the ``utf8`` failures of lines that are not UTF-8 (left out)."""
    texts: list[str | None] = []
    # decoded line by line so that bad bytes cost only their own line (and name it): 10k lines
    # take ~10 ms (measured), nothing next to the schema validation that follows
    for raw in data.split(b"\n"):
        try:
            texts.append(raw.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError:
            texts.append(None)
    if texts and texts[-1] == "":
        texts.pop()
    lines = pl.DataFrame({"text": texts}, schema={"text": pl.String}).with_row_index(
        "line", offset=1
    )
    lines = lines.with_columns(pl.col("line").cast(pl.Int64)).select(list(LINES_SCHEMA))
    bad = lines.filter(pl.col("text").is_null()).select(
        "line",
        check=pl.lit("utf8"),
        path=pl.lit(ROOT_PATH),
        message=pl.lit("not UTF-8 text"),
    )
    return lines.drop_nulls("text"), _failures(bad)


@dataclass(frozen=True)
class ParsedRecords:
    """Non-blank lines split by what they hold: ``objects`` (every JSON object, ``line, json``),
    ``valid`` (the objects every schema accepts) and ``failures`` (:data:`FAILURES_SCHEMA`:
    ``json`` and ``schema`` checks)."""

    objects: pl.DataFrame
    valid: pl.DataFrame
    failures: pl.DataFrame


def parsed_records(lines: pl.DataFrame, validators: Sequence[Draft7Validator]) -> ParsedRecords:
    """Parse and schema-validate each non-blank line (``line, text``).

    The lines the compiled schemas clear (:func:`cleared`) are valid JSON objects; the others are
    parsed and validated one by one with jsonschema (see :func:`validated`).
    """
    schema_ids = [_schema_id(validator) for validator in validators]
    rows: list[tuple[int, str | None, str | None, str, str, str]] = []
    object_lines: list[int] = []
    valid_lines: list[int] = []
    records = lines.filter(pl.col("text").str.strip_chars() != "")
    passed = cleared(records["text"], validators)
    for line, text in records.filter(~passed).select("line", "text").iter_rows():
        try:
            instance = json.loads(text)
        except json.JSONDecodeError as not_json:
            rows.append((line, None, None, "json", ROOT_PATH, f"not JSON: {not_json}"))
            continue
        if not isinstance(instance, dict):
            kind = type(instance).__name__
            rows.append((line, None, None, "json", ROOT_PATH, f"expected an object, got {kind}"))
            continue
        object_lines.append(line)
        record_id, handle = _text_or_none(instance.get("id")), _text_or_none(instance.get("handle"))
        found = _schema_failures(instance, validators, schema_ids)
        for path, message, schema_id in found:
            rows.append((line, record_id, handle, "schema", path, _with_schema(message, schema_id)))
        if not found:
            valid_lines.append(line)
    failures = pl.DataFrame(
        rows,
        schema={
            "line": pl.Int64,
            "id": pl.String,
            "handle": pl.String,
            "check": pl.String,
            "path": pl.String,
            "message": pl.String,
        },
        orient="row",
    )
    cleared_lines = records.filter(passed)["line"]
    is_object = pl.col("line").is_in(cleared_lines.implode()) | pl.col("line").is_in(object_lines)
    is_valid = pl.col("line").is_in(cleared_lines.implode()) | pl.col("line").is_in(valid_lines)
    return ParsedRecords(
        objects=records.filter(is_object).rename({"text": "json"}),
        valid=records.filter(is_valid).rename({"text": "json"}),
        failures=_failures(failures),
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _with_schema(message: str, schema_id: str) -> str:
    return f"{message} (schema {schema_id})" if schema_id else message


def _failures(frame: pl.DataFrame, severity: str = "error") -> pl.DataFrame:
    """``frame`` (any of the :data:`FAILURES_SCHEMA` columns) completed and ordered."""
    columns = [
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in FAILURES_SCHEMA.items()
        if name != "severity"
    ]
    return (
        frame.select(columns).with_columns(severity=pl.lit(severity)).select(list(FAILURES_SCHEMA))
    )


def guard_fields(objects: pl.DataFrame) -> pl.DataFrame:
    """``line`` + what the guards read (:data:`_GUARD_FIELDS`) of each JSON object line.

    Read with ``pl.read_ndjson(ignore_errors=True)``: a value of an unexpected type is null rather
    than an error for the whole file (the schema check reports the type).
    """
    if objects.height == 0:
        return pl.DataFrame(schema={"line": pl.Int64, **_GUARD_FIELDS})
    text = objects.select(pl.col("json").str.join("\n")).item()
    fields = pl.read_ndjson(
        io.BytesIO(text.encode("utf-8")), schema=_GUARD_FIELDS, ignore_errors=True
    )
    return fields.with_columns(objects["line"]).select("line", *_GUARD_FIELDS)


def guard_failures(fields: pl.DataFrame) -> pl.DataFrame:
    """The guard checks over :func:`guard_fields` (vectorised): ``id_digits``, ``unique_id``,
    ``unique_handle``, ``sources``, ``source_evidence``, ``source_fetched_at``, ``order``."""
    keyed = fields.with_columns(handle_key=pl.col("handle").str.to_lowercase())
    id_digits = keyed.filter(
        ~pl.col("id").str.contains(rf"^[0-9]{{1,{MAX_ID_DIGITS}}}$").fill_null(False)
    ).select(
        "line",
        "id",
        "handle",
        check=pl.lit("id_digits"),
        path=pl.lit("id"),
        message=pl.when(pl.col("id").is_null())
        .then(pl.lit("no id: expected 1 to 19 decimal digits"))
        .otherwise(pl.format("id {} is not 1 to 19 decimal digits", pl.col("id").str.slice(0, 40))),
    )
    failures = [
        id_digits,
        _duplicates(keyed, "id", "unique_id", "id {} is also on line(s) {}"),
        _duplicates(
            keyed, "handle_key", "unique_handle", "handle @{} (ignoring case) is also on line(s) {}"
        ),
        *_source_failures(keyed),
        _order_failures(keyed),
    ]
    return pl.concat([_failures(frame) for frame in failures])


def _duplicates(fields: pl.DataFrame, key: str, check: str, template: str) -> pl.DataFrame:
    others = (
        fields.drop_nulls(key)
        .filter(pl.col(key).is_duplicated())
        .with_columns(lines=pl.col("line").implode().over(key))
        .with_columns(
            others=pl.col("lines")
            .list.set_difference(pl.concat_list("line"))
            .list.sort()
            .list.eval(pl.element().cast(pl.String))
            .list.join(", ")
        )
    )
    shown = pl.col("handle") if key == "handle_key" else pl.col(key)
    return others.select(
        "line",
        "id",
        "handle",
        check=pl.lit(check),
        path=pl.lit("handle" if key == "handle_key" else key),
        message=pl.format(template, shown, pl.col("others")),
    )


def _source_failures(fields: pl.DataFrame) -> list[pl.DataFrame]:
    sources = fields.select("line", "id", "handle", pl.col("meta").struct.field("sources"))
    missing = sources.filter(pl.col("sources").list.len().fill_null(0) == 0).select(
        "line",
        "id",
        "handle",
        check=pl.lit("sources"),
        path=pl.lit("meta.sources"),
        message=pl.lit(
            "no sources: every record needs at least one {method, fetched_at, evidence}"
        ),
    )
    each = (
        sources.filter(pl.col("sources").list.len() > 0)
        .with_columns(index=pl.int_ranges(pl.col("sources").list.len()))
        .explode("sources", "index")
    )
    not_object = each.filter(pl.col("sources").is_null()).select(
        "line",
        "id",
        "handle",
        check=pl.lit("sources"),
        path=pl.format("meta.sources[{}]", pl.col("index")),
        message=pl.lit("a source must be an object with method, fetched_at and evidence"),
    )
    objects = each.drop_nulls("sources")
    blank = [
        objects.filter(
            pl.col("sources").struct.field(name).str.strip_chars().fill_null("") == ""
        ).select(
            "line",
            "id",
            "handle",
            check=pl.lit(check),
            path=pl.format("meta.sources[{}].{}", pl.col("index"), pl.lit(name)),
            message=pl.lit(f"source without {name}: every source needs a non-empty {name}"),
        )
        for name, check in (("evidence", "source_evidence"), ("fetched_at", "source_fetched_at"))
    ]
    return [missing, not_object, *blank]


def _order_failures(fields: pl.DataFrame) -> pl.DataFrame:
    """A record that export order puts before the record above it (records lacking a sort key
    are left to the schema check)."""
    keys = fields.select(
        "line",
        "id",
        "handle",
        score=pl.col("meta").struct.field("score"),
        followers=pl.col("followers_count"),
    ).drop_nulls(["id", "handle", "score", "followers"])
    above = {name: pl.col(name).shift(1) for name in ("score", "followers", "handle", "id")}
    same_score = pl.col("score") == above["score"]
    same_followers = same_score & (pl.col("followers") == above["followers"])
    earlier = (
        (pl.col("score") > above["score"])
        | (same_score & (pl.col("followers") > above["followers"]))
        | (same_followers & (pl.col("handle") < above["handle"]))
        | (same_followers & (pl.col("handle") == above["handle"]) & (pl.col("id") < above["id"]))
    )
    return (
        keys.with_columns(line_above=pl.col("line").shift(1), handle_above=above["handle"])
        .filter(earlier.fill_null(False))
        .select(
            "line",
            "id",
            "handle",
            check=pl.lit("order"),
            path=pl.lit(ROOT_PATH),
            message=pl.format(
                "out of export order: belongs before line {} (@{}); records go by "
                "meta.score desc, followers_count desc, handle, id",
                pl.col("line_above"),
                pl.col("handle_above"),
            ),
        )
    )


def manifest_failures(
    manifest: Any,
    *,
    data: bytes,
    records: int,
    file_name: str,
    folder: Path,
    schema_version: str | None,
) -> pl.DataFrame:
    """The manifest's checks against the file's bytes and record count (a dict's few keys: no
    frame work to vectorise)."""
    rows: list[tuple[str, str, str]] = []
    if not isinstance(manifest, dict):
        rows.append(("manifest", ROOT_PATH, "the manifest must be a JSON object"))
        return _failures(_manifest_rows(rows))
    count = manifest.get("count")
    if isinstance(count, bool) or not isinstance(count, int):
        rows.append(("manifest_count", "count", f"expected a whole number, got {count!r}"))
    elif count != records:
        rows.append(
            ("manifest_count", "count", f"manifest says {count} records, the file has {records}")
        )
    actual = hashlib.sha256(data).hexdigest()
    listed = _listed_files(manifest)
    claimed = [
        (where, value)
        for where, value in (
            ("sha256", manifest.get("sha256")),
            (f"files[{file_name}].sha256", listed.get(file_name, {}).get("sha256")),
        )
        if value is not None
    ]
    if not claimed:
        rows.append(("manifest_sha256", "sha256", f"the manifest gives no sha256 of {file_name}"))
    for where, value in claimed:
        if not isinstance(value, str) or value.lower() != actual:
            rows.append(
                ("manifest_sha256", where, f"manifest says {value!r}, {file_name} is {actual}")
            )
    version = manifest.get("schema_version")
    if schema_version is not None and version is not None and version != schema_version:
        rows.append(
            (
                "manifest_schema_version",
                "schema_version",
                f"manifest says {version!r}, the schema is {schema_version!r}",
            )
        )
    named = manifest.get("file")
    if named is not None and named != file_name:
        rows.append(("manifest_file", "file", f"manifest describes {named!r}, not {file_name!r}"))
    for name, entry in listed.items():
        if name == file_name:
            continue
        rows += _listed_file_failures(folder, name, entry)
    return _failures(_manifest_rows(rows))


def _listed_files(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    files = manifest.get("files")
    if not isinstance(files, list):
        return {}
    return {
        str(entry["name"]): entry
        for entry in files
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    }


def _listed_file_failures(
    folder: Path, name: str, entry: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    path = folder / name
    where = f"files[{name}]"
    try:
        content = path.read_bytes()
    except OSError as error:
        return [("manifest_files", where, f"{path}: {error.strerror or error}")]
    digest = hashlib.sha256(content).hexdigest()
    if entry.get("sha256") != digest:
        return [
            (
                "manifest_files",
                f"{where}.sha256",
                f"manifest says {entry.get('sha256')!r}, {name} is {digest}",
            )
        ]
    return []


def _manifest_rows(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"check": pl.String, "path": pl.String, "message": pl.String}, orient="row"
    )


@dataclass(frozen=True)
class FileCheck:
    """What :func:`checked_file` found: ``records`` (non-blank lines) and ``failures``
    (:data:`FAILURES_SCHEMA`, by line; the manifest's last)."""

    records: int
    failures: pl.DataFrame

    @property
    def errors(self) -> pl.DataFrame:
        return self.failures.filter(pl.col("severity") == "error")

    @property
    def warnings(self) -> pl.DataFrame:
        return self.failures.filter(pl.col("severity") == "warning")

    @property
    def ok(self) -> bool:
        return self.errors.height == 0


def checked_file(
    path: Path,
    validators: Sequence[Draft7Validator],
    *,
    manifest_path: Path | None = None,
    schema_version: str | None = None,
    strict: bool = False,
) -> FileCheck:
    """Every check of :data:`CHECKS` on a JSONL file of records.

    ``schema_version`` (of the first schema) is compared with the manifest's. With ``strict``,
    the :data:`WARNING_CHECKS` are errors too. An unreadable file or manifest raises
    :class:`ValidationError`; a manifest that is not JSON is a ``manifest`` failure.
    """
    data = _read_bytes(path, "the JSONL file")
    lines, not_utf8 = jsonl_lines(data)
    blank = lines.filter(pl.col("text").str.strip_chars() == "").select(
        "line",
        check=pl.lit("blank_line"),
        path=pl.lit(ROOT_PATH),
        message=pl.lit("blank line"),
    )
    parsed = parsed_records(lines, validators)
    records = lines.height - blank.height + not_utf8.height
    parts = [not_utf8, _failures(blank), parsed.failures]
    parts.append(guard_failures(guard_fields(parsed.objects)))
    if manifest_path is not None:
        manifest_bytes = _read_bytes(manifest_path, "the manifest")
        try:
            manifest = json.loads(manifest_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            parts.append(
                _failures(
                    _manifest_rows([("manifest", ROOT_PATH, f"{manifest_path}: not JSON: {error}")])
                )
            )
        else:
            parts.append(
                manifest_failures(
                    manifest,
                    data=data,
                    records=records,
                    file_name=path.name,
                    folder=manifest_path.parent,
                    schema_version=schema_version,
                )
            )
    failures = pl.concat(parts).with_columns(
        severity=pl.when(pl.lit(strict) | ~pl.col("check").is_in(list(WARNING_CHECKS)))
        .then(pl.lit("error"))
        .otherwise(pl.lit("warning"))
    )
    ordered = failures.sort("line", nulls_last=True, maintain_order=True)
    return FileCheck(records=records, failures=ordered)


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValidationError(f"{path}: cannot read {what}: {error.strerror or error}") from None
