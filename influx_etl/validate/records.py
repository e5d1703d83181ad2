"""The validate stage: kept records split by validity against every schema.

The schemas are compiled into Polars expressions (:mod:`influx_etl.validate.compiled`) that clear
the records certainly valid, all at once; jsonschema then checks only the records not cleared, and
its verdict and messages are the ones reported. Records we render
(:func:`influx_etl.transform.record_documents` with ``record=True``) are cleared on the very values
their JSON was encoded from, without decoding it
(:meth:`influx_etl.validate.compiled.CompiledSchemas.checked_values`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl
from jsonschema import Draft7Validator

from influx_etl.errors import ValidationError
from influx_etl.transform import OMITTED_WHEN_NULL, RECORD_COLUMN, record_text
from influx_etl.validate.schema import (
    ROOT_PATH,
    compiled_for,
    none_cleared,
    schema_failures,
    schema_id_of,
)

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
    (:meth:`~influx_etl.validate.compiled.CompiledSchemas.checked_values`); ``valid`` leaves that
    column out. Such documents may come without ``json`` (``record_documents(..., text=False)``):
    the values are checked as the texts they will make
    (:meth:`~influx_etl.validate.compiled.CompiledSchemas.checked_unencoded`), and only the
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
    passed = none_cleared(documents.height) if checked is None else checked.cleared
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
    # the records the compiled schemas did not clear only.
    schema_ids = [schema_id_of(validator) for validator in validators]
    failures: list[tuple[str | None, str | None, str, str, str]] = []
    suspect_valid: list[bool] = []
    for record_id, handle, text in suspects.select("id", "handle", "json").iter_rows():
        try:
            instance = json.loads(text)
        except (TypeError, json.JSONDecodeError) as not_json:
            failures.append((record_id, handle, ROOT_PATH, f"not JSON: {not_json}", ""))
            suspect_valid.append(False)
            continue
        found = schema_failures(instance, validators, schema_ids)
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
