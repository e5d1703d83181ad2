"""The checks of a whole JSONL file (``influx-validate``, :func:`checked_file`).

A file gets the schema validation plus the original project's guard checks (:data:`CHECKS`):
unique ids and handles (case-insensitive), ids of 1-19 digits, evidence and ``fetched_at`` on every
source, and the manifest's count and SHA-256. The guards run vectorised over the whole file
(Polars); so does the schema validation (:func:`influx_etl.validate.schema.cleared`). Some checks
are warnings (:data:`WARNING_CHECKS`) unless ``strict``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
from jsonschema import Draft7Validator

from influx_etl.errors import ValidationError
from influx_etl.validate.schema import ROOT_PATH, cleared, schema_failures, schema_id_of

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
    # decoded line by line so that bad bytes cost only their own line (and name it); cheap next
    # to the schema validation that follows
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
    schema_ids = [schema_id_of(validator) for validator in validators]
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
        found = schema_failures(instance, validators, schema_ids)
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
