"""``influx report``: a self-contained HTML report of one run (see
:mod:`influx_etl.tools.report`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from influx_etl.cli.datasets import dataset_options
from influx_etl.errors import InfluxError
from influx_etl.safe_text import visible_text
from influx_etl.tools.report import write_report


@click.command("report")
@click.option("--run", "run_id", default=None, help="The run to report on [default: the newest].")
@dataset_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The HTML file to write [default: reports/run-RUN_ID.html beside the dataset].",
)
def report_command(run_id: str | None, dataset: Path, out: Path | None) -> None:
    """Write an HTML report of a run: funnel, throughput, rate-limit waits, outcomes per seed
    file, the accounts it dropped and why, and what changed in the dataset. Charts are
    embedded: the file stands alone. A synthetic dataset's report says so at the top."""
    try:
        written = write_report(dataset, out, run_id)
    except InfluxError as exc:
        click.echo(visible_text(f"error: {exc}"), err=True)
        sys.exit(1)
    click.echo(f"report of run {written.run_id} written to {written.path}")
