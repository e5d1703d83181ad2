"""The original project's batch tools, over the same pipeline as ``influx-harvest``.

* ``influx-batch-harvest`` — several handle files in one parallel run, with a metrics summary.
* ``influx-batch-automation run`` — pending seed files until the target, refresh, target report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from influx_etl import automation, pipeline, project, seeds
from influx_etl.cli import runs
from influx_etl.cli.harvest import (
    common_options,
    config_from_options,
    configure_logging,
    finish,
    harvest_options,
    print_plan,
    print_report,
    print_spend,
    rate_model,
)
from influx_etl.cli.options import GroupedCommand, option
from influx_etl.exit_codes import ExitCode
from influx_etl.progress import HarvestProgress

AUTOMATION_BATCH_SIZE = 100
"""The automation's default: full 100-handle requests, 25 % fewer than 75 for the same users
(docs/lookup.md)."""


@click.command(
    cls=GroupedCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=runs.EPILOG,
)
@option(
    "--handles-file",
    "handles_files",
    group="Basics",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Seed list (*.csv or *.txt); repeat for several. Handles are deduplicated across files.",
)
@option(
    "--out",
    group="Basics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the export here.",
)
@common_options
def harvest_main(handles_files: tuple[Path, ...], out: Path | None, **options: Any) -> None:
    """Look up the handles of several files in parallel batches and summarise the run.

    A batch that keeps failing is recorded (its handles end as `failed`, a later run retries
    them) and the run goes on.
    """
    configure_logging(options["verbose"])
    with runs.guarded():
        config = config_from_options(list(handles_files), out, options)
        runs.echo_used_files(config)
        if options["plan_only"]:
            print_plan(pipeline.plan_harvest(config))
            return
        with HarvestProgress(rate_limit=rate_model(config)) as progress:
            report = pipeline.run_harvest(config, progress=progress)
    print_report(report)
    print_metrics(report)
    finish(report)


def print_metrics(report: pipeline.RunReport) -> None:
    funnel = report.funnel
    looked_up = funnel["looked_up"]
    rate = looked_up / report.elapsed_s if report.elapsed_s > 0 else 0.0
    found_rate = funnel["found"] / looked_up if looked_up else 0.0
    click.echo("metrics:")
    click.echo(f"  batches requested   {report.batches}")
    click.echo(f"  wall time           {report.elapsed_s:.2f} s")
    click.echo(f"  handles per second  {rate:.1f}")
    click.echo(f"  found rate          {found_rate:.1%}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def automation_main() -> None:
    """Grow the dataset toward a target from the seed lists, run after run."""


@automation_main.command("run", cls=GroupedCommand, epilog=runs.EPILOG)
@option(
    "--seeds-dir",
    group="Basics",
    type=click.Path(file_okay=False, path_type=Path),
    default=project.SEEDS_DIR,
    show_default=True,
    help="Folder of seed lists; a file is pending until a run processed its current content.",
)
@option(
    "--target-authors",
    group="Basics",
    type=click.IntRange(1),
    default=1500,
    show_default=True,
    help="Stop processing seed files once the dataset holds this many authors.",
)
@option(
    "--refresh-days",
    group="Basics",
    type=click.FloatRange(0, min_open=True),
    default=7.0,
    show_default=True,
    help="Look authors up again when their last lookup is older than this.",
)
@harvest_options(batch_size=AUTOMATION_BATCH_SIZE)
def automation_run(
    seeds_dir: Path, target_authors: int, refresh_days: float, **options: Any
) -> None:
    """Look up every pending seed file and the stale authors in one plan (fresh outcomes
    reused, full batches), and print the target report. Once the dataset holds the target,
    seed files wait; the refresh goes on."""
    configure_logging(options["verbose"])
    with runs.guarded():
        if not seeds.seed_paths(project.checked_seeds_dir(seeds_dir)):
            click.echo(f"{seeds_dir}: no *.csv or *.txt seed file: nothing to look up", err=True)
            sys.exit(int(ExitCode.NOTHING_LOOKED_UP))
        config = config_from_options([], None, options)
        runs.echo_used_files(config)
        if options["plan_only"]:
            print_plan(
                automation.plan_automation(
                    config, seeds_dir, target_authors, refresh_days=refresh_days
                )
            )
            return
        with HarvestProgress(rate_limit=rate_model(config)) as progress:
            report = automation.run_automation(
                config, seeds_dir, target_authors, refresh_days=refresh_days, progress=progress
            )
    print_seed_table(report)
    for run in report.runs:
        print_spend(run)
    print_target_report(report)
    status = runs.worst(runs.run_status(run) for run in report.runs)
    if not report.runs:
        click.echo(
            f"every seed file in {seeds_dir} was processed in its current content and no author "
            f"is older than {refresh_days:g} days: add or edit a seed file, or lower "
            "--refresh-days, for the next run to look anything up"
        )
    elif status is ExitCode.OK:
        for line in runs.next_steps_lines():
            click.echo(line)
    runs.exit_with(status)


def print_seed_table(report: automation.TargetReport) -> None:
    """One line per seed file (and one for the refresh): what each run kept and dropped."""
    if not report.runs:
        return
    run = report.runs[-1]
    kind = "SYNTHETIC, not real data" if run.synthetic else "live"
    click.echo(f"run {run.run_id} from {run.source} ({kind}) into {run.dataset}")
    for line in runs.seed_table_lines(run.per_file):
        click.echo(f"  {line}")
    click.echo()


def print_target_report(report: automation.TargetReport) -> None:
    click.echo(f"target report ({report.target} authors)")
    click.echo(f"  authors now          {report.authors_now}")
    click.echo(f"  added by this run    {report.added}")
    click.echo(f"  still needed         {report.still_needed}")
    click.echo(f"  refreshed            {report.refreshed}")
    pending = ", ".join(report.pending_files) or "none (nothing pending)"
    click.echo(f"  seed files pending   {pending}")
    if not report.runs:
        click.echo("  requests sent        0 (nothing to look up)")
    estimate = report.estimated_runs_to_target
    click.echo(
        "  runs to target       "
        + (
            str(estimate)
            if estimate is not None
            else "unknown (no seed-file run has added authors yet)"
        )
    )
    if report.mean_added_per_file_run is not None:
        click.echo(f"  mean added per run   {report.mean_added_per_file_run:.1f}")
    click.echo("  topic coverage:")
    if not report.topic_coverage:
        click.echo("    (no authors yet)")
    for topic, count in report.topic_coverage.items():
        click.echo(f"    {topic:<24} {count}")
