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
    DEFAULT_CHUNK_ROWS,
    DEFAULT_SCHEMA,
    DEFAULT_STORE_MEMORY,
    LOOKUP_BACKENDS,
    MAX_BATCH_SIZE,
    MCP_AUTH_VARIABLES,
    PACKAGE_DIR,
    TOKEN_VARIABLES,
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    RuleFiles,
    Secret,
    Thresholds,
    current_operator,
    repository_root,
    secret_from_file,
    token_from_environment,
)
from influx_etl.errors import InfluxError, SecretMaskingFilter
from influx_etl.exit_codes import ExitCode
from influx_etl.progress import HarvestProgress

log = logging.getLogger("influx_etl")

FUNNEL_LABELS = (
    ("seed_rows", "seed rows read"),
    ("invalid_seed_rows", "invalid seed rows (reported, skipped)"),
    ("refused_seed_files", "seed files refused (not UTF-8; see above)"),
    ("broken_input_lines", "broken lines in the prefetched file (see above)"),
    ("unrequested_users", "users in answers nobody asked for (ignored)"),
    ("looked_up", "distinct handles looked up"),
    ("found", "found"),
    ("not_found", "not found"),
    ("suspended", "suspended"),
    ("invalid", "invalid (rejected by the API)"),
    ("failed", "failed (retry with a later run)"),
    ("below_threshold", "below the entry threshold"),
    ("brand", "brand / official / media"),
    ("risk", "risky"),
    ("banned", "banned (asked to be removed)"),
    ("kept", "kept"),
    ("invalid_records", "failed schema validation"),
    ("new", "new in the dataset"),
    ("updated", "updated in the dataset"),
    ("unchanged", "unchanged in the dataset"),
    ("removed", "removed from the dataset"),
    ("exported", "exported (whole dataset)"),
)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--source",
            default="auto",
            show_default=True,
            help="Where users are looked up: auto (x-api when a token is set, else sim), "
            "x-api (the X API), sim (the embedded server; alias: embedded), prefetched:FILE "
            "(saved user objects or API responses, JSONL), mcp (the Rube MCP route: see "
            "--mcp-url) or http://HOST:PORT (a running influx-api-sim).",
        ),
        click.option(
            "--token-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Read the bearer token from this file (outside the repository; mode 600) "
            "instead of X_BEARER_TOKEN / TWITTER_BEARER_TOKEN.",
        ),
        click.option(
            "--timeout",
            "timeout_s",
            type=click.FloatRange(min=0, min_open=True),
            default=30.0,
            show_default=True,
            help="Seconds to wait for one response.",
        ),
        click.option(
            "--max-attempts",
            type=click.IntRange(1, 50),
            default=4,
            show_default=True,
            help="Tries of one request on 5xx, timeouts, connection errors and malformed bodies "
            "(429s wait for the rate-limit window and do not count).",
        ),
        click.option(
            "--max-retry-seconds",
            "max_retry_time_s",
            type=click.FloatRange(min=0),
            default=300.0,
            show_default=True,
            help="Stop retrying one request this long after its first failure; its handles "
            "end as failed and a later run asks again.",
        ),
        click.option(
            "--mcp-url",
            help="For --source mcp: the MCP server's streamable HTTP endpoint.",
        ),
        click.option(
            "--mcp-tool",
            type=click.Choice(["RUBE_MULTI_EXECUTE_TOOL", "TWITTER_USER_LOOKUP_BY_USERNAMES"]),
            default="RUBE_MULTI_EXECUTE_TOOL",
            show_default=True,
            help="For --source mcp: call the lookup through Rube's multi-execute tool, or "
            "directly.",
        ),
        click.option(
            "--mcp-auth-header",
            default="Authorization",
            show_default=True,
            help="For --source mcp: the header carrying the MCP server's credential, whose "
            "value comes from INFLUX_MCP_AUTH or --mcp-auth-file (e.g. 'Bearer ...').",
        ),
        click.option(
            "--mcp-auth-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="For --source mcp: read the auth header's value from this file (outside the "
            "repository).",
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
            help="Batches in flight at once (joblib workers: threads, loky processes, or tasks "
            "on the Dask cluster).",
        ),
        click.option(
            "--backend",
            type=click.Choice(LOOKUP_BACKENDS),
            default="threading",
            show_default=True,
            help="Where the lookup workers run. threading is right for one token: the rate limit, "
            "not this machine, bounds lookups. loky runs them in worker processes here; dask on "
            "a Dask cluster (--scheduler, else a local one for the run), e.g. to send requests "
            "from other machines. Every backend paces by one rate budget, so none raises the "
            "token's request ceiling; the dataset is written by this process only. HTTP sources "
            "only (not prefetched:FILE or mcp).",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            help="With --backend dask: the address of a running Dask scheduler (e.g. "
            "tcp://HOST:8786, started by `dask scheduler`, with workers from `dask worker "
            "ADDRESS`). Without it, a local cluster is started for the run.",
        ),
        click.option(
            "--chunk-rows",
            type=click.IntRange(1),
            default=DEFAULT_CHUNK_ROWS,
            show_default=True,
            help="For --source prefetched:FILE: decide this many lines of the file at a time, "
            "so a file larger than memory streams through (peak memory grows with it, speed "
            "hardly does; see the README's Streaming section).",
        ),
        click.option(
            "--store-memory",
            metavar="SIZE",
            default=DEFAULT_STORE_MEMORY,
            show_default=True,
            help="Memory DuckDB may use for the dataset file (e.g. 500MB, 2GB); past it, it "
            "writes to disk (influx.duckdb.tmp/ beside the file) instead of growing. 'none': "
            "DuckDB's own default, 80%% of RAM.",
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
@common_options
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
@common_options
def bulk_command(handles_files: tuple[Path, ...], out: Path | None, **options: Any) -> None:
    """Bulk-look up the handles in the given files (the original harvester's command line)."""
    _run(lambda: list(handles_files), out, options)


def _run(seed_paths: Callable[[], list[Path]], out: Path | None, options: dict[str, Any]) -> None:
    configure_logging(options["verbose"])
    try:
        extra_schemas = tuple(options["also_validate"])
        if options["from_raw"] is not None:
            config = config_from_options([], out, options)
            source_run = None if options["from_raw"] == "latest" else options["from_raw"]
            report = pipeline.replay_run(config, source_run, extra_schemas=extra_schemas)
        else:
            config = config_from_options(seed_paths(), out, options)
            with HarvestProgress() as progress:
                report = pipeline.run_harvest(
                    config,
                    progress=progress,
                    extra_schemas=extra_schemas,
                    resume=not options["no_resume"],
                )
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    print_report(report)
    if report.funnel.get("refused_seed_files") or report.funnel.get("broken_input_lines"):
        click.echo(
            "input damaged: refused seed files or broken lines (reported above); the rest was "
            "processed",
            err=True,
        )
        sys.exit(ExitCode.INPUT_DAMAGED)


def config_from_options(
    seed_paths: list[Path], out: Path | None, options: dict[str, Any]
) -> PipelineConfig:
    allow_risk = frozenset(f.strip() for f in options["allow_risk"].split(",") if f.strip())
    return PipelineConfig(
        seed_paths=tuple(seed_paths),
        lookup=LookupSettings(
            source=options["source"],
            base_url=options["base_url"],
            token=_secret(options["token_file"], TOKEN_VARIABLES, "--token-file"),
            batch_size=options["batch_size"],
            parallel_batches=options["parallel_batches"],
            backend=options["backend"],
            scheduler=options["scheduler"],
            timeout_s=options["timeout_s"],
            max_attempts=options["max_attempts"],
            max_retry_time_s=options["max_retry_time_s"],
            population=options["population"],
            mcp_url=options["mcp_url"],
            mcp_tool=options["mcp_tool"],
            mcp_auth_header=options["mcp_auth_header"],
            mcp_auth=_secret(options["mcp_auth_file"], MCP_AUTH_VARIABLES, "--mcp-auth-file"),
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
        operator=current_operator(),
        chunk_rows=options["chunk_rows"],
        store_memory=None if options["store_memory"].lower() == "none" else options["store_memory"],
    )


def _secret(path: Path | None, variables: tuple[str, ...], flag: str) -> Secret | None:
    """A secret from its file flag (refused inside a repository) or else its variables."""
    if path is None:
        return token_from_environment(variables=variables)
    roots = {repository_root(Path.cwd()), repository_root(PACKAGE_DIR)}
    return secret_from_file(
        path, repositories=tuple(r for r in roots if r is not None), what=f"{flag} file"
    )


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretMaskingFilter())
    log.setLevel(min(level, logging.INFO))


def print_report(report: pipeline.RunReport) -> None:
    kind = "SYNTHETIC (embedded server; not real data)" if report.synthetic else "live"
    click.echo(f"run {report.run_id} — {kind}")
    width = max(len(label) for _, label in FUNNEL_LABELS)
    for key, label in FUNNEL_LABELS:
        click.echo(f"  {label:<{width}}  {report.funnel.get(key, 0):>7}")
    click.echo(f"dataset:  {report.dataset}")
    click.echo(f"export:   {report.export_dir / 'latest.jsonl'} ({report.manifest.count} records)")
    click.echo(f"manifest: {report.export_dir / 'manifest.json'}")
