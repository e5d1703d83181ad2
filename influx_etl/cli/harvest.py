"""``influx-harvest``: the command line over :func:`influx_etl.pipeline.run_harvest`.

Thin on purpose: it turns flags and the environment into one :class:`PipelineConfig`, runs the
pipeline, and prints the funnel.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from influx_etl import pipeline, seeds
from influx_etl.config import (
    DEFAULT_BASE_URL,
    DEFAULT_SCHEMA,
    MAX_BATCH_SIZE,
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    RuleFiles,
    Thresholds,
    token_from_environment,
)
from influx_etl.errors import InfluxError
from influx_etl.sources import RawBatch

log = logging.getLogger("influx_etl")

FUNNEL_LABELS = (
    ("seed_rows", "seed rows read"),
    ("invalid_seed_rows", "invalid seed rows (reported, skipped)"),
    ("looked_up", "distinct handles looked up"),
    ("found", "found"),
    ("not_found", "not found"),
    ("suspended", "suspended"),
    ("invalid", "invalid (rejected by the API)"),
    ("failed", "failed (retry with a later run)"),
    ("below_threshold", "below the entry threshold"),
    ("brand", "brand / official / media"),
    ("risk", "risky"),
    ("kept", "kept"),
    ("invalid_records", "failed schema validation"),
    ("new", "new in the dataset"),
    ("updated", "updated in the dataset"),
    ("unchanged", "unchanged in the dataset"),
    ("removed", "removed from the dataset"),
    ("exported", "exported (whole dataset)"),
)


def _common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--source",
            default="auto",
            show_default=True,
            help="Where users are looked up: auto (X API when X_BEARER_TOKEN or "
            "TWITTER_BEARER_TOKEN is set, else the embedded server), x-api, embedded, "
            "prefetched:FILE (saved user objects, JSONL) or http://HOST:PORT (a running "
            "influx-api-sim).",
        ),
        click.option(
            "--base-url",
            default=DEFAULT_BASE_URL,
            show_default=True,
            help="X API base URL for --source x-api (https://api.twitter.com also works).",
        ),
        click.option(
            "--population",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="For --source embedded: JSONL of recorded API user objects the server answers "
            "from (other handles get deterministic synthetic profiles).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1, MAX_BATCH_SIZE),
            default=75,
            show_default=True,
            help="Handles per /2/users/by request (the API allows at most 100).",
        ),
        click.option(
            "--parallel-batches",
            type=click.IntRange(1, 64),
            default=3,
            show_default=True,
            help="Batches in flight at once (joblib threading workers).",
        ),
        click.option(
            "--min-followers",
            type=click.IntRange(0),
            default=50_000,
            show_default=True,
            help="Followers needed by any account.",
        ),
        click.option(
            "--verified-min-followers",
            type=click.IntRange(0),
            default=30_000,
            show_default=True,
            help="Followers needed by a verified account (blue, business, government or legacy).",
        ),
        click.option(
            "--brand-rules",
            type=click.Path(path_type=Path),
            default=Path("lists/rules/brand_heuristics.yml"),
            show_default=True,
            help="Brand/official heuristics (YAML, influx format).",
        ),
        click.option(
            "--risk-rules",
            type=click.Path(path_type=Path),
            default=Path("lists/rules/risk_terms.yml"),
            show_default=True,
            help="Risk terms (YAML, influx format).",
        ),
        click.option("--allow-brands", is_flag=True, help="Keep accounts the brand rules flag."),
        click.option(
            "--allow-risk",
            "allow_risk",
            default="",
            metavar="FLAGS",
            help="Comma-separated risk flags that do not exclude (e.g. political,controversy).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("data"),
            show_default=True,
            help="Holds influx.duckdb and latest/ (live lookups) and synthetic/ (profiles made "
            "up by the embedded server; never mixed with live ones).",
        ),
        click.option(
            "--schema",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=DEFAULT_SCHEMA,
            show_default="schema/bigv.schema.json",
            help="JSON Schema every exported record must pass.",
        ),
        click.option(
            "--also-validate",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            multiple=True,
            help="Another schema records must also pass (e.g. the original influx schema).",
        ),
        click.option(
            "--from-raw",
            "from_raw",
            is_flag=False,
            flag_value="latest",
            default=None,
            metavar="[RUN_ID]",
            help="Send no request: recompute threshold, rules, scores and the export from the raw "
            "lookups stored for RUN_ID (default: the latest run), e.g. after a rules change.",
        ),
        click.option(
            "--no-resume",
            is_flag=True,
            help="Start afresh even if an earlier run of the same seeds was interrupted "
            "(by default its stored batches are reused and not requested again).",
        ),
        click.option("-v", "--verbose", count=True, help="More log output (-vv for debug)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Look up curated X handles in bulk and maintain the influx dataset.

    \b
    Token: X_BEARER_TOKEN (or TWITTER_BEARER_TOKEN). Without one, the package's own
    X API server runs on 127.0.0.1 and answers with synthetic profiles, which go to
    DATA_DIR/synthetic/, never to the live dataset.
    """


@main.command("run")
@click.option(
    "--seeds-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("lists/seeds"),
    show_default=True,
    help="Folder of seed lists (*.csv with a handle column, *.txt one handle a line).",
)
@_common_options
def run_command(seeds_dir: Path, **options: Any) -> None:
    """Run the whole pipeline over every seed list in a folder (what `make harvest` runs)."""
    _run(lambda: seeds.seed_paths(seeds_dir), None, options)


@main.command("bulk")
@click.option(
    "--handles-file",
    "handles_files",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Seed list (*.csv or *.txt); repeat for several.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the exported records (JSONL) here.",
)
@_common_options
def bulk_command(handles_files: tuple[Path, ...], out: Path | None, **options: Any) -> None:
    """Bulk-look up the handles in the given files (the original harvester's command line)."""
    _run(lambda: list(handles_files), out, options)


def _run(seed_paths: Callable[[], list[Path]], out: Path | None, options: dict[str, Any]) -> None:
    _configure_logging(options["verbose"])
    try:
        extra_schemas = tuple(options["also_validate"])
        if options["from_raw"] is not None:
            config = _config([], out, options)
            source_run = None if options["from_raw"] == "latest" else options["from_raw"]
            report = pipeline.replay_run(config, source_run, extra_schemas=extra_schemas)
        else:
            config = _config(seed_paths(), out, options)
            report = pipeline.run_harvest(
                config,
                progress=_log_progress,
                extra_schemas=extra_schemas,
                resume=not options["no_resume"],
            )
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    _print_report(report)


def _config(seed_paths: list[Path], out: Path | None, options: dict[str, Any]) -> PipelineConfig:
    allow_risk = frozenset(f.strip() for f in options["allow_risk"].split(",") if f.strip())
    return PipelineConfig(
        seed_paths=tuple(seed_paths),
        lookup=LookupSettings(
            source=options["source"],
            base_url=options["base_url"],
            token=token_from_environment(),
            batch_size=options["batch_size"],
            parallel_batches=options["parallel_batches"],
            population=options["population"],
        ),
        thresholds=Thresholds(
            min_followers=options["min_followers"],
            verified_min_followers=options["verified_min_followers"],
        ),
        rules=RuleFiles(
            brand=options["brand_rules"],
            risk=options["risk_rules"],
            allow_brands=options["allow_brands"],
            allow_risk=allow_risk,
        ),
        outputs=OutputPaths(data_dir=options["data_dir"]),
        schema_path=options["schema"],
        extra_out=out,
    )


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    log.setLevel(min(level, logging.INFO))


def _log_progress(batch: RawBatch, done: int, total: int) -> None:
    status = batch.status if batch.error is None else f"failed ({batch.error})"
    log.info(
        "batch %d/%d (id %d): %d handles, %s",
        done,
        total,
        batch.batch_id,
        len(batch.handles),
        status,
    )


def _print_report(report: pipeline.RunReport) -> None:
    kind = "SYNTHETIC (embedded server; not real data)" if report.synthetic else "live"
    click.echo(f"run {report.run_id} — {kind}")
    width = max(len(label) for _, label in FUNNEL_LABELS)
    for key, label in FUNNEL_LABELS:
        click.echo(f"  {label:<{width}}  {report.funnel.get(key, 0):>7}")
    click.echo(f"dataset:  {report.dataset}")
    click.echo(f"export:   {report.export_dir / 'latest.jsonl'} ({report.manifest.count} records)")
    click.echo(f"manifest: {report.export_dir / 'manifest.json'}")
