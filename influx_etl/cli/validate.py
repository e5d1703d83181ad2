"""``influx-validate [--strict] -s SCHEMA [-m manifest.json] FILE``: check a JSONL file of records.

Thin over :func:`influx_etl.validate.checked_file`. Exit status: 0 when every check holds
(warnings allowed unless ``--strict``), 1 when any fails, 2 when the file, a schema or the
manifest cannot be read (or the command line is wrong).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from influx_etl import validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import InfluxError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-s",
    "--schema",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_SCHEMA,
    show_default="schema/bigv.schema.json",
    help="JSON Schema (draft-07) every record must pass.",
)
@click.option(
    "--also-validate",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="Another schema every record must pass too (e.g. the original influx schema).",
)
@click.option(
    "-m",
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="manifest.json whose count and sha256 must match FILE.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Warnings are errors too: blank lines, records out of export order, a manifest for "
    "another file or schema version, or listing files that are missing or differ.",
)
def main(
    file: Path,
    schema: Path,
    also_validate: tuple[Path, ...],
    manifest: Path | None,
    strict: bool,
) -> None:
    """Validate FILE (JSONL records) against the schema and the dataset's guard checks.

    \b
    Errors: a line that is not a UTF-8 JSON object; a schema violation (date-time
    formats checked); an id that is not 1-19 digits; an id or handle (ignoring case)
    on two lines; meta.sources empty, or a source without evidence or fetched_at;
    a manifest whose count or sha256 does not match FILE.
    Exit status 0 only when none is found (1 otherwise, 2 if an input is unreadable).
    """
    try:
        validators = validate.validators_for([schema, *also_validate])
        first = validate.schema_document(validators[0])
        version = first.get("schema_version")
        result = validate.checked_file(
            file,
            validators,
            manifest_path=manifest,
            schema_version=version if isinstance(version, str) else None,
            strict=strict,
        )
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNUSABLE)
    for row in result.failures.iter_rows(named=True):
        click.echo(_failure_line(file, manifest, row))
    errors, warnings = result.errors.height, result.warnings.height
    verdict = "OK" if result.ok else "FAILED"
    checked = f"{file}: {result.records} records; {errors} errors, {warnings} warnings"
    click.echo(f"{checked}{' (strict)' if strict else ''} — {verdict}")
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


def _failure_line(file: Path, manifest: Path | None, row: dict[str, object]) -> str:
    where = f"{file}:{row['line']}" if row["line"] is not None else str(manifest)
    record = ", ".join(
        part
        for part in (
            f"id={row['id']}" if row["id"] is not None else "",
            f"@{row['handle']}" if row["handle"] is not None else "",
        )
        if part
    )
    subject = f" {record}:" if record else ""
    return f"{where}: {row['severity']} [{row['check']}]{subject} {row['path']}: {row['message']}"
