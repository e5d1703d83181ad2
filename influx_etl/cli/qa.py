"""``influx qa-sample``: draw kept authors for a manual review, and record the verdicts."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from influx_etl.cli.datasets import dataset_options
from influx_etl.errors import InfluxError
from influx_etl.frames import VERDICTS
from influx_etl.safe_text import visible_text
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.tools import qa


@click.command("qa-sample")
@click.option(
    "--n", "n", type=click.IntRange(min=1), default=30, show_default=True, help="Authors to draw."
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Random seed: the same dataset and seed draw the same authors [default: a new one, "
    "printed].",
)
@dataset_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The CSV to write [default: qa/qa-sample-seed-SEED.csv beside the dataset].",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Store the verdicts of a reviewed sample instead ({', '.join(VERDICTS)}).",
)
@click.option(
    "--raw-csv",
    is_flag=True,
    help="Write the cells as they are: a name or bio starting with = + - @ stays a formula to a "
    "spreadsheet [default: such a cell gets a leading ' (read back by --record)].",
)
def qa_sample_command(
    n: int,
    seed: int | None,
    dataset: Path,
    out: Path | None,
    record: Path | None,
    raw_csv: bool,
) -> None:
    """Write a CSV of randomly chosen kept authors for a person to review (fill in the verdict
    and note columns), or with --record FILE store the reviewed file's verdicts in the dataset
    (table qa_verdicts) for rule tuning. Bad rows are reported with their line and skipped:
    the good ones are stored, and the command exits 1 so the reviewer fixes the file and records
    it again (verdicts from a file of the same name replace the earlier ones)."""
    path = dataset
    try:
        if record is not None:
            _record(path, record)
            return
        seed = secrets.randbelow(2**31) if seed is None else seed
        target = out or path.parent / "qa" / f"qa-sample-seed-{seed}.csv"
        sample = qa.write_qa_sample(path, target, n, seed, raw_csv=raw_csv)
    except InfluxError as exc:
        click.echo(visible_text(f"error: {exc}"), err=True)
        sys.exit(1)
    click.echo(f"{sample.height} kept authors (seed {seed}) written to {target}")
    if sample.height < n:
        click.echo(f"the dataset holds only {sample.height} authors: all of them are in the sample")
    click.echo(
        f"fill in verdict ({', '.join(VERDICTS)}) and note, then: influx qa-sample "
        f"--record {target}"
    )


def _record(dataset: Path, review_file: Path) -> None:
    result = qa.record_verdicts(dataset, review_file, utc_now_iso())
    for line, message in result.bad.iter_rows():
        click.echo(visible_text(f"{review_file}:{line}: {message} (row skipped)"), err=True)
    counts = ", ".join(f"{v} {result.by_verdict[v]}" for v in VERDICTS if v in result.by_verdict)
    click.echo(f"{result.stored} verdicts stored in {dataset}" + (f" ({counts})" if counts else ""))
    if result.not_in_dataset:
        click.echo(f"of them on authors no longer in the dataset: {result.not_in_dataset}")
    if result.unreviewed:
        click.echo(f"skipped, no verdict yet: {result.unreviewed}")
    if result.bad.height:
        click.echo(f"skipped, bad (see above): {result.bad.height}", err=True)
        sys.exit(1)
