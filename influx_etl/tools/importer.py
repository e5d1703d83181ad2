"""``influx import``: the original influx project's release records into the dataset.

A release file is JSONL in the original record format, with the extra fields that project wrote
over time (top-level ``quality_score`` and ``entry_threshold_passed`` copies, ``provenance``,
``meta.activity_metrics``, a free-form ``ext`` ...). Each record is:

1. validated against the *import schema* (:func:`import_schema`): our record schema with the
   original's freedoms, so the original's extra keys pass (and are dropped), and any source
   ``method`` and timestamp offset pass;
2. mapped into the author frame (``AUTHORS_SCHEMA``, :func:`author_frame`) with origin
   ``imported``: ``meta.sources`` kept as they are (timestamps written as UTC ``Z``, the same
   instants), ``meta.score`` and ``meta.quality_score`` kept, topic tags normalised to our tags,
   the metrics of ``ext`` (or of the original's ``ext.activity_metrics``) taken when well typed;
3. rendered as our record and validated against our schema (and any extra ones) — what is stored
   must export.

A record failing either validation is reported (line, id, handle, path, message) and left out;
so are the records whose id another record of the file has with newer data (``last_refresh_at``;
of equals, the first is kept), the second and later records with a handle (ignoring case)
already seen in the file, and a record whose handle belongs to another id in the dataset (unless
the file gives that id another handle: two accounts that swapped handles). A record whose id is
in the dataset with newer data (``last_refresh_at``) is left as it is. The rest goes into the
dataset in one transaction (:meth:`influx_etl.store.Store.upsert_authors`), so an import never
half-happens; importing the same file again changes nothing.

Records go to the live dataset, except those whose sources say they came from the embedded API
server (``influx-api-sim:...``), which go to the synthetic one.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
from jsonschema import Draft7Validator

from influx_etl import transform, validate
from influx_etl.config import OutputPaths
from influx_etl.errors import ValidationError
from influx_etl.frames import AUTHORS_SCHEMA, PUBLIC_METRICS
from influx_etl.pipeline import new_run_id
from influx_etl.sources import DatasetKind
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.store import Integration, Store, from_embedded_server

IMPORTED_ORIGIN: Final = "imported"

_VERIFIED_TYPES: Final = ("blue", "business", "government", "none")
_METRIC_ALIASES: Final = {"like_count": ("like_count", "total_like_count")}
"""Names the original's ``ext.activity_metrics`` used for our ``ext`` metrics."""

_SOURCE: Final = pl.Struct(
    {"method": pl.String(), "fetched_at": pl.String(), "evidence": pl.String()}
)
_STRINGS: Final = ("created_at", "description", "location", "url", "profile_image_url")
IMPORT_READ_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String(),
        "handle": pl.String(),
        "name": pl.String(),
        "verified": pl.String(),
        "followers_count": pl.Int64(),
        "is_org": pl.Boolean(),
        "is_official": pl.Boolean(),
        "lang_primary": pl.String(),
        "topic_tags": pl.List(pl.String()),
        "meta": pl.Struct(
            {
                "score": pl.Float64(),
                "quality_score": pl.Float64(),
                "last_refresh_at": pl.String(),
                "last_active_at": pl.String(),
                "sources": pl.List(_SOURCE),
                "provenance_hash": pl.String(),
                "entry_threshold_passed": pl.Boolean(),
            }
        ),
        "ext": pl.Struct(
            {
                "verified_type": pl.String(),
                **{metric: pl.Int64() for metric in PUBLIC_METRICS if metric != "followers_count"},
                **{name: pl.String() for name in _STRINGS},
                "risk_flags": pl.List(pl.String()),
                "activity_metrics": pl.Struct(
                    {
                        "account_created_at": pl.String(),
                        "total_like_count": pl.Int64(),
                        **{m: pl.Int64() for m in PUBLIC_METRICS if m != "followers_count"},
                    }
                ),
            }
        ),
    }
)
"""What :func:`author_frame` reads of a record (leniently: ``ext`` is free-form in the original
format, so a value of another type there is read as unknown)."""


# -- the import schema ----------------------------------------------------------------------------


def import_schema(ours: dict[str, Any]) -> dict[str, Any]:
    """Our record schema with the freedoms of the original format, for records about to be mapped.

    Relaxed: extra keys at the top level and in ``meta`` (dropped on import); ``ext`` any object
    (its known metrics are taken when well typed); any non-empty source ``method`` (kept);
    timestamps with any offset (written as UTC ``Z``); ``provenance_hash`` in either case
    (lower-cased); topic tags any strings (normalised). Everything else — the required keys, id
    of 1-19 digits, handle, score ranges, ``date-time`` formats — is checked as for our records.
    """
    schema = copy.deepcopy(ours)
    schema["$id"] = str(ours.get("$id", "bigv")).replace(".schema.json", ".import.schema.json")
    schema.pop("additionalProperties", None)
    schema.pop("if", None)
    schema.pop("then", None)
    schema.pop("else", None)
    properties = schema["properties"]
    properties["ext"] = {"type": "object"}
    properties["topic_tags"] = {"type": "array", "items": {"type": "string"}}
    meta = properties["meta"]
    meta.pop("additionalProperties", None)
    meta["properties"]["provenance_hash"]["pattern"] = "^[A-Fa-f0-9]{64}$"
    source = meta["properties"]["sources"]["items"]["properties"]
    source["method"] = {"type": "string", "minLength": 1}
    _without_timestamp_patterns(schema)
    return schema


def _without_timestamp_patterns(schema: Any) -> None:
    if isinstance(schema, dict):
        if schema.get("format") == "date-time":
            schema.pop("pattern", None)
        for value in schema.values():
            _without_timestamp_patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            _without_timestamp_patterns(item)


# -- mapping --------------------------------------------------------------------------------------


def _metric(name: str) -> pl.Expr:
    ext = pl.col("ext")
    metrics = ext.struct.field("activity_metrics")
    aliases = _METRIC_ALIASES.get(name, (name,))
    value = pl.coalesce(ext.struct.field(name), *(metrics.struct.field(a) for a in aliases))
    return pl.when(value >= 0).then(value)


def author_frame(records: pl.DataFrame) -> pl.DataFrame:
    """``line`` + ``AUTHORS_SCHEMA`` from :data:`IMPORT_READ_SCHEMA` rows (module docstring)."""
    meta = pl.col("meta")
    ext = pl.col("ext")
    source = pl.element()
    sources = meta.struct.field("sources").list.eval(
        pl.struct(
            method=source.struct.field("method"),
            fetched_at=transform.utc_timestamp(source.struct.field("fetched_at")),
            evidence=source.struct.field("evidence"),
        )
    )
    verified_type = ext.struct.field("verified_type")
    no_strings = pl.lit([], dtype=pl.List(pl.String))
    columns: dict[str, pl.Expr] = {
        "id": pl.col("id"),
        "handle": pl.col("handle"),
        "name": pl.col("name"),
        "verified": pl.col("verified"),
        "followers_count": pl.col("followers_count"),
        "is_org": pl.col("is_org"),
        "is_official": pl.col("is_official"),
        "lang_primary": pl.col("lang_primary"),
        "topic_tags": transform.topic_tags(pl.col("topic_tags")),
        "sources": sources,
        "provenance_hash": meta.struct.field("provenance_hash").str.to_lowercase(),
        "last_refresh_at": transform.utc_timestamp(meta.struct.field("last_refresh_at")),
        "last_active_at": transform.utc_timestamp(meta.struct.field("last_active_at")),
        "entry_threshold_passed": meta.struct.field("entry_threshold_passed"),
        "origin": pl.lit(IMPORTED_ORIGIN),
        "verified_type": pl.when(verified_type.is_in(_VERIFIED_TYPES)).then(verified_type),
        **{m: _metric(m) for m in PUBLIC_METRICS if m != "followers_count"},
        "created_at": transform.utc_timestamp(
            pl.coalesce(
                ext.struct.field("created_at"),
                ext.struct.field("activity_metrics").struct.field("account_created_at"),
            )
        ),
        **{name: ext.struct.field(name) for name in _STRINGS if name != "created_at"},
        "seed_files": no_strings,
        "brand_matches": no_strings,
        "brand_confidence": pl.lit(None, pl.Float64),
        "risk_flags": ext.struct.field("risk_flags").fill_null(no_strings),
        "score": meta.struct.field("score"),
        "quality_score": meta.struct.field("quality_score"),
    }
    return records.select(
        "line", *(columns[name].cast(dtype).alias(name) for name, dtype in AUTHORS_SCHEMA.items())
    )


def _read_records(valid: pl.DataFrame) -> pl.DataFrame:
    """:data:`IMPORT_READ_SCHEMA` + ``line`` of validated lines (``line, json``)."""
    if valid.height == 0:
        return pl.DataFrame(schema={"line": pl.Int64, **IMPORT_READ_SCHEMA})
    text: str = valid.select(pl.col("json").str.join("\n")).item()
    read = pl.read_ndjson(
        io.BytesIO(text.encode("utf-8")), schema=IMPORT_READ_SCHEMA, ignore_errors=True
    )
    return read.with_columns(valid["line"])


def _failure_rows(frame: pl.DataFrame, check: str, path: str, message: pl.Expr) -> pl.DataFrame:
    return frame.select(
        "line",
        "id",
        "handle",
        check=pl.lit(check),
        severity=pl.lit("error"),
        path=pl.lit(path),
        message=message,
    ).cast(validate.FAILURES_SCHEMA)


@dataclass(frozen=True)
class PreparedImport:
    """Records ready for the dataset (``line`` + ``AUTHORS_SCHEMA``) and the ones left out
    (:data:`influx_etl.validate.FAILURES_SCHEMA`)."""

    authors: pl.DataFrame
    failures: pl.DataFrame
    records: int
    """Non-blank lines read."""


def prepared_import(
    data: bytes, validators: Sequence[Draft7Validator], ours: dict[str, Any]
) -> PreparedImport:
    """Steps 1-3 of the module docstring and the in-file duplicates, on a file's bytes.

    ``validators`` are our schema's and any extra ones; ``ours`` is our schema (for
    :func:`import_schema`).
    """
    lines, not_utf8 = validate.jsonl_lines(data)
    parsed = validate.parsed_records(lines, [validate.validator_for(import_schema(ours))])
    authors = author_frame(_read_records(parsed.valid))

    # keyed by line while validating: ids may repeat until the duplicates are settled below
    documents = transform.record_documents(authors).with_columns(
        id=authors["line"].cast(pl.String), line=authors["line"]
    )
    rendered = validate.validated(documents, validators)
    invalid = rendered.invalid.with_columns(line=pl.col("id").cast(pl.Int64)).drop("id")
    invalid = invalid.join(authors.select("line", "id"), on="line", how="left")
    rendered_failures = invalid.select(
        "line",
        "id",
        "handle",
        check=pl.lit("schema"),
        severity=pl.lit("error"),
        path="path",
        message=pl.format("{} (schema {}, after mapping)", pl.col("message"), pl.col("schema")),
    )
    authors = authors.join(rendered.valid.select("line"), on="line", how="semi")

    keyed = authors.with_columns(handle_key=pl.col("handle").str.to_lowercase())
    # ids first, then handles among the records left, so a dropped record never hides another;
    # of one id's records the latest fetched (last_refresh_at) is imported, the first of equals
    latest = pl.col("line").sort_by(
        "last_refresh_at", "line", descending=[True, False], nulls_last=True
    )
    by_id = keyed.with_columns(first=latest.first().over("id"))
    unique_ids = by_id.filter(pl.col("line") == pl.col("first"))
    by_handle = unique_ids.with_columns(first=pl.col("line").first().over("handle_key"))
    duplicates = [
        _failure_rows(
            by_id.filter(pl.col("line") != pl.col("first")),
            "unique_id",
            "id",
            pl.format(
                "id {} is on line {} too, which is imported (the latest last_refresh_at, "
                "the first of equals)",
                "id",
                "first",
            ),
        ),
        _failure_rows(
            by_handle.filter(pl.col("line") != pl.col("first")),
            "unique_handle",
            "handle",
            pl.format("handle @{} is already on line {} (ignoring case)", "handle", "first"),
        ),
    ]
    kept = by_handle.filter(pl.col("line") == pl.col("first")).drop("first")
    failures = pl.concat(
        [
            not_utf8,
            parsed.failures,
            rendered_failures.cast(validate.FAILURES_SCHEMA),
            *duplicates,
        ]
    ).sort("line", maintain_order=True)
    records = lines.filter(pl.col("text").str.strip_chars() != "").height + not_utf8.height
    return PreparedImport(authors=kept.drop("handle_key"), failures=failures, records=records)


def simulated(authors: pl.DataFrame) -> pl.Series:
    """Whether each author's sources say the embedded API server made it (Boolean): the live
    dataset's guard's own test (:func:`~influx_etl.store.from_embedded_server`)."""
    return authors.select(from_embedded_server().alias("simulated")).to_series()


# -- against the dataset --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPlan:
    """What to do with prepared authors given the dataset: ``write`` (new, changed or unchanged:
    the store sorts them out), ``stored_newer`` (left as stored) and ``conflicts`` (failures:
    the handle belongs to another id in the dataset)."""

    write: pl.DataFrame
    stored_newer: pl.DataFrame
    conflicts: pl.DataFrame


def import_plan(authors: pl.DataFrame, stored: pl.DataFrame) -> ImportPlan:
    """Split prepared authors (``line`` + ``AUTHORS_SCHEMA``) against the stored ones."""
    keyed = authors.with_columns(handle_key=pl.col("handle").str.to_lowercase())
    holders = stored.select(handle_key=pl.col("handle").str.to_lowercase(), holder=pl.col("id"))
    refreshed = stored.select("id", stored_refresh=pl.col("last_refresh_at"))
    compared = keyed.join(refreshed, on="id", how="left", maintain_order="left")
    newer = (pl.col("stored_refresh") > pl.col("last_refresh_at")).fill_null(False)
    candidates = compared.filter(~newer).drop("stored_refresh")
    # a stored author this import moves to another handle frees its own (handles swapped)
    moving = candidates.join(
        holders.rename({"handle_key": "stored_key", "holder": "id"}), on="id"
    ).filter(pl.col("stored_key") != pl.col("handle_key"))["id"]
    with_holder = candidates.join(holders, on="handle_key", how="left", maintain_order="left")
    taken = (
        pl.col("holder").is_not_null()
        & (pl.col("holder") != pl.col("id"))
        & ~pl.col("holder").is_in(moving.implode())
    )
    conflicts = _failure_rows(
        with_holder.filter(taken),
        "handle_taken",
        "handle",
        pl.format(
            "handle @{} belongs to id {} in the dataset: left out (look it up to settle it)",
            "handle",
            "holder",
        ),
    )
    return ImportPlan(
        write=with_holder.filter(~taken.fill_null(False)).drop("holder", "handle_key"),
        stored_newer=compared.filter(newer).drop("stored_refresh", "handle_key"),
        conflicts=conflicts,
    )


@dataclass(frozen=True)
class DatasetImport:
    dataset: Path
    kind: DatasetKind
    run_id: str
    integration: Integration
    stored_newer: int
    export_dir: Path


@dataclass(frozen=True)
class ImportReport:
    file: Path
    records: int
    failures: pl.DataFrame
    """Every record left out: :data:`influx_etl.validate.FAILURES_SCHEMA`, by line."""
    datasets: tuple[DatasetImport, ...]


def import_file(
    path: Path,
    outputs: OutputPaths,
    validators: Sequence[Draft7Validator],
    ours: dict[str, Any],
    *,
    operator: str | None = None,
) -> ImportReport:
    """Import a release file into the live (and, for records of the embedded server, the
    synthetic) dataset under ``outputs``; one run and one transaction per dataset."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValidationError(f"{path}: cannot read: {error.strerror or error}") from None
    prepared = prepared_import(data, validators, ours)
    failures = [prepared.failures]
    datasets: list[DatasetImport] = []
    is_simulated = simulated(prepared.authors)
    split: list[tuple[DatasetKind, pl.DataFrame]] = [
        ("live", prepared.authors.filter(~is_simulated)),
        ("simulated", prepared.authors.filter(is_simulated)),
    ]
    for kind, authors in split:
        if authors.height == 0:
            continue
        dataset = outputs.synthetic_dataset if kind == "simulated" else outputs.dataset
        export_dir = outputs.synthetic_export_dir if kind == "simulated" else outputs.export_dir
        with Store.open(dataset, kind) as store:
            plan = import_plan(authors, store.authors())
            failures.append(plan.conflicts)
            run_id = new_run_id()
            args = {
                "file": str(path),
                "sha256": hashlib.sha256(data).hexdigest(),
                "records": prepared.records,
                "importing": plan.write.height,
            }
            store.begin_run(run_id, utc_now_iso(), f"import:{path.name}", args, operator=operator)
            try:
                integration = store.upsert_authors(run_id, plan.write.drop("line"))
            except BaseException:
                store.finish_run(run_id, utc_now_iso(), "failed", {})
                raise
            counts = {
                "new": integration.new,
                "updated": integration.updated,
                "unchanged": integration.unchanged,
                "banned": integration.banned,
                "stored_newer": plan.stored_newer.height,
                "conflicts": plan.conflicts.height,
            }
            store.finish_run(run_id, utc_now_iso(), "succeeded", counts)
        datasets.append(
            DatasetImport(
                dataset=dataset,
                kind=kind,
                run_id=run_id,
                integration=integration,
                stored_newer=plan.stored_newer.height,
                export_dir=export_dir,
            )
        )
    return ImportReport(
        file=path,
        records=prepared.records,
        failures=pl.concat(failures).sort("line", maintain_order=True),
        datasets=tuple(datasets),
    )
