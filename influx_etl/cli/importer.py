"""``influx import FILE.jsonl``: the original influx project's release records into the dataset.

Thin over :func:`influx_etl.tools.importer.import_file`; then exports each dataset it changed, as a
pipeline run does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from influx_etl import export, score, validate
from influx_etl.cli.export import schema_options
from influx_etl.config import OutputPaths, current_operator
from influx_etl.errors import InfluxError
from influx_etl.store import Store
from influx_etl.tools import importer


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Holds influx.duckdb (the live dataset) and synthetic/ (records whose sources are the "
    "embedded server's go there).",
)
@click.option("--no-export", is_flag=True, help="Do not refresh the export files afterwards.")
@schema_options
def import_command(
    file: Path,
    data_dir: Path,
    no_export: bool,
    schema: Path,
    also_validate: tuple[Path, ...],
    scoring: Path,
) -> None:
    """Import FILE, records of the original influx project (JSONL), keeping their sources and
    scores.

    \b
    Each record is checked against the record schema (the original's extra fields and
    free-form ext are allowed and dropped); one that fails, or repeats an earlier id or
    handle, or whose handle belongs to another author in the dataset, is reported with its
    line and left out. The rest is written in one transaction: all or nothing. A record the
    dataset holds newer data for is left as stored. Importing the same file again changes
    nothing.
    """
    outputs = OutputPaths(data_dir=data_dir)
    try:
        validators = validate.validators_for([schema, *also_validate])
        ours = validate.schema_document(validators[0])
        weights = score.load_scoring(scoring)
        report = importer.import_file(file, outputs, validators, ours, operator=current_operator())
        manifests = []
        if not no_export:
            for dataset in report.datasets:
                with Store.open(dataset.dataset, dataset.kind) as store:
                    manifests.append(
                        export.export_authors(
                            store,
                            dataset.export_dir,
                            validators,
                            validate.schema_version(ours),
                            weights,
                        )
                    )
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for row in report.failures.iter_rows(named=True):
        record = f"id={row['id']}, @{row['handle']}" if row["id"] is not None else "record"
        click.echo(
            f"{file}:{row['line']}: left out [{row['check']}] {record}: {row['path']}: "
            f"{row['message']}",
            err=True,
        )
    click.echo(
        f"{file}: {report.records} records read, {report.failures.height} problem(s) reported "
        "and left out"
    )
    for dataset in report.datasets:
        counts = dataset.integration
        label = "synthetic dataset" if dataset.kind == "simulated" else "dataset"
        click.echo(
            f"  {label} {dataset.dataset} (run {dataset.run_id}): {counts.new} new, "
            f"{counts.updated} updated, {counts.unchanged} unchanged, "
            f"{dataset.stored_newer} kept (newer data stored), {counts.banned} banned"
        )
    for dataset, manifest in zip(report.datasets, manifests, strict=False):
        click.echo(
            f"  export: {dataset.export_dir / export.DATASET_FILE} ({manifest.count} records)"
        )
