"""What every harvesting command does around a run: the files it used, its exit status, Ctrl-C.

The exit statuses are :class:`influx_etl.exit_codes.ExitCode`; a command ends with the most
serious one of its runs.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click
import polars as pl

from influx_etl import pipeline, project
from influx_etl.config import PipelineConfig
from influx_etl.errors import InfluxError
from influx_etl.exit_codes import EXIT_CODES_HELP, ExitCode
from influx_etl.funnel import PER_FILE_COLUMNS

EPILOG = EXIT_CODES_HELP
"""Every harvesting command's ``--help`` ends with the exit statuses."""


def run_status(report: pipeline.RunReport) -> ExitCode:
    """The most serious of: CAPPED when a cap left handles pending; INPUT_DAMAGED when seed
    files were refused or input lines broken; NOTHING_LOOKED_UP when no handle was asked for
    (none reused either) or every lookup failed; RETRY_LATER when some failed; else OK."""
    funnel = report.funnel
    statuses = [ExitCode.OK]
    if report.plan is not None and report.plan.capped:
        statuses.append(ExitCode.CAPPED)
    if funnel.get("refused_seed_files", 0) or funnel.get("broken_input_lines", 0):
        statuses.append(ExitCode.INPUT_DAMAGED)
    looked_up, failed = funnel.get("looked_up", 0), funnel.get("failed", 0)
    if (looked_up == 0 and funnel.get("reused", 0) == 0) or (looked_up and failed >= looked_up):
        statuses.append(ExitCode.NOTHING_LOOKED_UP)
    elif failed:
        statuses.append(ExitCode.RETRY_LATER)
    return max(statuses)


def worst(statuses: Iterable[ExitCode]) -> ExitCode:
    return max(statuses, default=ExitCode.OK)


def exit_with(status: ExitCode) -> None:
    """Exit with ``status`` unless it is OK (then the command returns normally)."""
    if status is not ExitCode.OK:
        sys.exit(int(status))


def echo_used_files(config: PipelineConfig, extra_schemas: Iterable[Path] = ()) -> None:
    """Name every input file and its sha256 on stderr (what the run records with itself)."""
    for line in project.used_files_lines(pipeline.input_files(config, tuple(extra_schemas))):
        click.echo(line, err=True)


def resume_command(argv: list[str] | None = None) -> str:
    """The command line that resumes this one: the same, less ``--no-resume``."""
    args = list(sys.argv if argv is None else argv)
    return shlex.join([Path(args[0]).name, *(a for a in args[1:] if a != "--no-resume")])


@contextmanager
def guarded() -> Iterator[None]:
    """``error: …`` and exit 1 on an :class:`InfluxError`; exit 130 and the resume command on
    Ctrl-C (click's own ``Aborted!`` would exit 1 and say nothing about resuming)."""
    try:
        yield
    except InfluxError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo(
            "\ninterrupted: the batches looked up so far are stored; the same command resumes "
            f"the run:\n  {resume_command()}",
            err=True,
        )
        sys.exit(int(ExitCode.INTERRUPTED))


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(int(ExitCode.ERROR))


def seed_table_lines(per_file: pl.DataFrame) -> list[str]:
    """One line per seed file (:func:`influx_etl.funnel.per_seed_file`): its handles, how many
    were reused or looked up, kept, and what each rule dropped; columns all zero are left out."""
    shown = [(key, heading) for key, heading in PER_FILE_COLUMNS if per_file[key].sum() > 0]
    headings = ["seed file", *(heading for _, heading in shown)]
    table = [headings] + [
        [str(row["seed_file"]), *(str(row[key]) for key, _ in shown)]
        for row in per_file.iter_rows(named=True)
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(headings))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def next_steps_lines() -> list[str]:
    """The commands worth trying after a harvest (they find the dataset it wrote)."""
    return [
        "next:",
        "  influx report                 an HTML report of the newest run",
        "  influx qa sample              draw kept authors for a manual review",
        "  influx rules explain HANDLE   why an account was kept or dropped",
        "  influx rules flagged          the accounts the brand and risk rules flagged",
    ]
