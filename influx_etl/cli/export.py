"""``influx-export``: write a dataset's export files from its DuckDB file.

Thin over :func:`influx_etl.export.export_authors`, the same function every pipeline run ends
with, so the files are the same whichever wrote them (and byte-identical when nothing changed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from influx_etl import export, project, score, validate
from influx_etl.cli.datasets import dataset_options
from influx_etl.cli.harvest import configure_logging
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import InfluxError
from influx_etl.safe_text import visible_text
from influx_etl.store import Store


def schema_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--schema``, ``--also-validate`` and ``--scoring``: what rendering records needs."""
    options = [
        click.option(
            "--schema",
            type=click.Path(dir_okay=False, path_type=Path),
            default=DEFAULT_SCHEMA,
            show_default="the packaged schema",
            help="JSON Schema every exported record must pass (its schema_version goes into "
            "the manifest).",
        ),
        click.option(
            "--also-validate",
            type=click.Path(dir_okay=False, path_type=Path),
            multiple=True,
            help="Another schema records must also pass (e.g. the original influx schema).",
        ),
        click.option(
            "--scoring",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            callback=project.scoring_or_default,
            show_default=project.default_help(project.SCORING),
            help="Composite score weights (YAML).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@dataset_options
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the files go.  [default: latest/ beside the dataset file]",
)
@click.option(
    "--snapshot",
    is_flag=True,
    help="Also write a dated copy: snapshots/YYYY-MM-DD/ beside the dataset file (UTC date; a "
    "later export the same day replaces it).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSONL records here.",
)
@click.option(
    "--raw-csv",
    is_flag=True,
    help="Write latest.csv with its cells as they are, for programs: a name or bio starting "
    "with = + - @ stays a formula to a spreadsheet [default: such a cell gets a leading '].",
)
@schema_options
def main(
    dataset: Path,
    out_dir: Path | None,
    snapshot: bool,
    out: Path | None,
    raw_csv: bool,
    schema: Path,
    also_validate: tuple[Path, ...],
    scoring: Path,
) -> None:
    """Export the dataset: latest.jsonl, latest.jsonl.gz, latest.parquet, latest.csv and
    manifest.json (sha256 and size of each file, the record count).

    \b
    Records go by meta.score desc, followers desc, handle. Files whose content would not
    change are left untouched; the manifest's generated_at is when this content was first
    exported, so an unchanged dataset exports byte-identical files.
    """
    configure_logging(0)
    out_dir = out_dir or dataset.parent / "latest"
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    snapshot_dir = dataset.parent / "snapshots" / day if snapshot else None
    try:
        validators = validate.validators_for([schema, *also_validate])
        first = validate.schema_document(validators[0])
        weights = score.load_scoring(scoring)
        with Store.open_existing(dataset) as store:
            # the store itself: the export reads it in slices (bounded memory)
            manifest = export.export_authors(
                store,
                out_dir,
                validators,
                validate.schema_version(first),
                weights,
                out,
                snapshot_dir=snapshot_dir,
                raw_csv=raw_csv,
            )
            stored = store.author_columns(("id",)).height
    except InfluxError as exc:
        click.echo(visible_text(f"error: {exc}"), err=True)
        sys.exit(1)
    left_out = stored - manifest.count
    click.echo(
        f"exported {manifest.count} records from {dataset}"
        + (f" ({left_out} invalid, left out: see the log above)" if left_out else "")
    )
    width = max(len(str(out_dir / name)) for name in (*export.EXPORT_FILES, "manifest.json"))
    for exported in manifest.files:
        path = str(out_dir / exported.name)
        click.echo(f"  {path:<{width}}  {exported.bytes:>10} B  sha256 {exported.sha256}")
    manifest_path = str(out_dir / export.MANIFEST_FILE)
    click.echo(f"  {manifest_path:<{width}}  generated_at {manifest.generated_at}")
    if snapshot_dir is not None:
        click.echo(f"snapshot: {snapshot_dir}")
