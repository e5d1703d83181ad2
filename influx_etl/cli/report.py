"""``influx report``: a self-contained HTML report of one run (see :mod:`influx_etl.report`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from influx_etl.errors import InfluxError
from influx_etl.report import write_report
from influx_etl.safe_text import visible_text

LIVE_DATASET = Path("data/influx.duckdb")
SYNTHETIC_DATASET = Path("data/synthetic/influx.duckdb")


def default_dataset() -> Path:
    """The live dataset if there is one, else the synthetic one ``make harvest`` made without a
    token; the live path when neither exists, so the error names the usual file."""
    for path in (LIVE_DATASET, SYNTHETIC_DATASET):
        if path.is_file():
            return path
    return LIVE_DATASET


dataset_option = click.option(
    "--dataset",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The dataset file [default: {LIVE_DATASET}, else {SYNTHETIC_DATASET}].",
)


@click.command("report")
@click.option("--run", "run_id", default=None, help="The run to report on [default: the newest].")
@dataset_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The HTML file to write [default: reports/run-RUN_ID.html beside the dataset].",
)
def report_command(run_id: str | None, dataset: Path | None, out: Path | None) -> None:
    """Write an HTML report of a run: funnel, throughput, rate-limit waits, outcomes per seed
    file and what changed in the dataset. Charts are embedded: the file stands alone."""
    try:
        written = write_report(dataset or default_dataset(), out, run_id)
    except InfluxError as exc:
        click.echo(visible_text(f"error: {exc}"), err=True)
        sys.exit(1)
    click.echo(f"report written to {written}")
