"""``influx-harvest``: the command line over :func:`influx_etl.pipeline.run_harvest`.

Thin on purpose: it turns flags and the environment into one :class:`PipelineConfig`, runs the
pipeline, and prints the funnel.
"""

from __future__ import annotations

import logging
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from influx_etl import harvest_lists, pipeline, plan, project, seeds
from influx_etl.cli import runs, xlists
from influx_etl.cli.options import (
    GroupedCommand,
    option,
    project_file_option,
    setting_option,
    without_options,
)
from influx_etl.config import (
    DEFAULT_SCHEMA,
    LOOKUP_BACKENDS,
    MCP_AUTH_VARIABLES,
    PACKAGE_DIR,
    TOKEN_VARIABLES,
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    PlanSettings,
    RuleFiles,
    Secret,
    Thresholds,
    current_operator,
    repository_root,
    secret_from_file,
    token_from_environment,
)
from influx_etl.errors import ConfigError, SecretMaskingFilter
from influx_etl.exit_codes import ExitCode
from influx_etl.funnel import FUNNEL_LABELS
from influx_etl.progress import HarvestProgress
from influx_etl.safe_text import VisibleControlsFilter

log = logging.getLogger("influx_etl")


_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
MCP_TOOLS = ("RUBE_MULTI_EXECUTE_TOOL", "TWITTER_USER_LOOKUP_BY_USERNAMES")


def harvest_options(batch_size: int = 75) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of every command that looks handles up; ``batch_size`` is its default."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        return _with_options(command, batch_size)

    return decorate


def _with_options(command: Callable[..., Any], batch_size: int) -> Callable[..., Any]:
    options = [
        setting_option(LookupSettings, "source"),
        option(
            "--token-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Read the bearer token from this file (outside the repository; mode 600) "
            "instead of X_BEARER_TOKEN / TWITTER_BEARER_TOKEN.",
            group="Basics",
        ),
        setting_option(LookupSettings, "timeout_s"),
        setting_option(LookupSettings, "max_attempts"),
        setting_option(LookupSettings, "max_retry_time_s"),
        setting_option(LookupSettings, "mcp_url"),
        setting_option(
            LookupSettings,
            "mcp_tool",
            type=click.Choice(["RUBE_MULTI_EXECUTE_TOOL", "TWITTER_USER_LOOKUP_BY_USERNAMES"]),
        ),
        setting_option(LookupSettings, "mcp_auth_header"),
        option(
            "--mcp-auth-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="For --source mcp: read the auth header's value from this file (outside the "
            "repository).",
            group="MCP",
        ),
        setting_option(LookupSettings, "base_url"),
        setting_option(
            LookupSettings,
            "population",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
        ),
        setting_option(LookupSettings, "batch_size", default=batch_size),
        setting_option(LookupSettings, "parallel_batches"),
        setting_option(LookupSettings, "backend", type=click.Choice(LOOKUP_BACKENDS)),
        setting_option(LookupSettings, "scheduler"),
        setting_option(PipelineConfig, "chunk_rows"),
        setting_option(PipelineConfig, "store_memory"),
        setting_option(Thresholds, "min_followers"),
        setting_option(Thresholds, "verified_min_followers"),
        project_file_option(
            project.BRAND_RULES,
            help="Brand/official heuristics (YAML, influx format).",
            group="Filters",
        ),
        project_file_option(
            project.RISK_RULES, help="Risk terms (YAML, influx format).", group="Filters"
        ),
        option(
            "--allow-brands",
            is_flag=True,
            help="Keep accounts the brand rules flag.",
            group="Filters",
        ),
        option(
            "--allow-risk",
            "allow_risk",
            default="",
            metavar="FLAGS",
            help="Comma-separated risk flags that do not exclude (e.g. political,controversy).",
            group="Filters",
        ),
        setting_option(OutputPaths, "data_dir", type=click.Path(file_okay=False, path_type=Path)),
        option(
            "--schema",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=DEFAULT_SCHEMA,
            show_default="the packaged schema",
            help="JSON Schema every exported record must pass.",
            group="Other",
        ),
        option(
            "--also-validate",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            multiple=True,
            help="Another schema records must also pass (e.g. the original influx schema).",
            group="Other",
        ),
        option(
            "--from-raw",
            "from_raw",
            is_flag=False,
            flag_value="latest",
            default=None,
            metavar="[RUN_ID]",
            help="Send no request: recompute threshold, rules, scores and the export from the raw "
            "lookups stored for RUN_ID (default: the latest run), e.g. after a rules change.",
            group="Basics",
        ),
        option(
            "--no-resume",
            is_flag=True,
            help="Start afresh even if an earlier run of the same seeds was interrupted "
            "(by default its stored batches are reused and not requested again).",
            group="Basics",
        ),
        option(
            "-v", "--verbose", count=True, help="More log output (-vv for debug).", group="Basics"
        ),
        *plan_options,
    ]
    for decorator in reversed(options):
        command = decorator(command)
    return command


plan_options = [
    option(
        "--plan",
        "plan_only",
        is_flag=True,
        help="Send no request: print seed rows, distinct handles, reused (fresh), to look up, "
        "requests, rate-limit windows, least time and estimated cost, and exit 0.",
        group="Plan and cost",
    ),
    option(
        "--refresh",
        is_flag=True,
        help="Look every handle up, even those whose stored outcome is still fresh.",
        group="Plan and cost",
    ),
    option(
        "--max-age",
        "max_age",
        multiple=True,
        metavar="CLASS=DAYS",
        help="How long an outcome class (found, not_found, suspended, invalid) stays fresh, "
        "overriding --freshness; DAYS is a number or 'forever'. Repeat for several.",
        group="Plan and cost",
    ),
    project_file_option(
        project.FRESHNESS,
        "freshness_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Days each outcome class stays fresh (YAML).",
        group="Plan and cost",
    ),
    option(
        "--rate-limit",
        default="300/15m",
        show_default=True,
        metavar="R/WINDOW",
        help="The rate limit the plan's least time assumes: R requests per WINDOW (s, m, h "
        "or d; app-only auth on /2/users/by allows 300/15m, legacy Basic 500/24h).",
        group="Plan and cost",
    ),
    setting_option(PlanSettings, "price_per_user"),
    setting_option(PlanSettings, "price_per_list"),
    setting_option(PlanSettings, "max_requests"),
    setting_option(PlanSettings, "max_cost"),
]
"""How a run plans and what it may spend (:mod:`influx_etl.plan`)."""

common_options = harvest_options()

LOOKUP_ONLY = (
    "batch_size",
    "parallel_batches",
    "backend",
    "scheduler",
    "mcp_url",
    "mcp_tool",
    "mcp_auth_header",
    "mcp_auth_file",
    "rate_limit",
)
"""Options of the user lookup alone: List reads send none (``x-lists``, ``discover``)."""

_WINDOW_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def rate_limit(text: str) -> tuple[int, float]:
    """``300/15m`` -> (300, 900.0): requests per window in seconds (a bare number: seconds)."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if match is None or int(match[1]) < 1 or float(match[2]) <= 0:
        raise ConfigError(
            f"--rate-limit {text!r}: expected R/WINDOW such as 300/15m or 500/24h "
            "(R >= 1 requests per WINDOW in s, m, h or d)"
        )
    return int(match[1]), float(match[2]) * _WINDOW_UNITS[match[3] or "s"]


def max_ages(values: tuple[str, ...]) -> dict[str, float | None]:
    """``("found=3", "invalid=forever")`` -> ``{"found": 3.0, "invalid": None}``."""
    ages: dict[str, float | None] = {}
    for value in values:
        name, sep, days = value.partition("=")
        if not sep:
            raise ConfigError(f"--max-age {value!r}: expected CLASS=DAYS, e.g. found=3")
        number: Any = days.strip()
        if number != plan.FOREVER:
            try:
                number = float(number)
            except ValueError:
                number = days
        ages[name.strip()] = plan.window_days(number, f"--max-age {value}")
    return ages


def plan_settings(options: dict[str, Any]) -> PlanSettings:
    limit, window_s = rate_limit(options["rate_limit"])
    return PlanSettings(
        freshness_path=options["freshness_path"] or project.resolved(project.FRESHNESS),
        max_age=max_ages(options["max_age"]),
        refresh=options["refresh"],
        rate_limit=limit,
        rate_window_s=window_s,
        price_per_user=options["price_per_user"],
        price_per_list=options["price_per_list"],
        max_requests=options["max_requests"],
        max_cost=options["max_cost"],
    )


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    epilog=runs.EPILOG,
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Look up curated X handles in bulk and maintain the influx dataset.

    \b
    Without a subcommand: `run` with its defaults (every seed list in lists/seeds/).
    Token: X_BEARER_TOKEN (or TWITTER_BEARER_TOKEN). Without one, the package's own
    X API server runs on 127.0.0.1 and answers with synthetic profiles, which go to
    DATA_DIR/synthetic/, never to the live dataset.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(run_command)


@main.command("run", cls=GroupedCommand, epilog=runs.EPILOG)
@option(
    "--seeds-dir",
    group="Basics",
    type=click.Path(file_okay=False, path_type=Path),
    default=project.SEEDS_DIR,
    show_default=True,
    help="Folder of seed lists (*.csv with a handle column, *.txt one handle a line).",
)
@common_options
def run_command(seeds_dir: Path, **options: Any) -> None:
    """Run the whole pipeline over every seed list in a folder (what `make harvest` runs)."""
    with runs.guarded():
        paths = seeds.seed_paths(project.checked_seeds_dir(seeds_dir))
    if not paths and options["from_raw"] is None:
        click.echo(f"{seeds_dir}: no *.csv or *.txt seed file: nothing to look up", err=True)
        sys.exit(int(ExitCode.NOTHING_LOOKED_UP))
    _run(lambda: paths, None, options)


@main.command("bulk", cls=GroupedCommand, epilog=runs.EPILOG)
@option(
    "--handles-file",
    "handles_files",
    group="Basics",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Seed list (*.csv or *.txt); repeat for several.",
)
@option(
    "--out",
    group="Basics",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the exported records (JSONL) here.",
)
@common_options
def bulk_command(handles_files: tuple[Path, ...], out: Path | None, **options: Any) -> None:
    """Bulk-look up the handles in the given files (the original harvester's command line)."""
    _run(lambda: list(handles_files), out, options)


@without_options(*LOOKUP_ONLY)
@main.command("x-lists", cls=GroupedCommand, epilog=runs.EPILOG)
@option(
    "--list",
    "lists",
    group="Basics",
    multiple=True,
    required=True,
    metavar="ID|URL",
    help="An X List by id or URL (https://x.com/i/lists/ID); repeat for several. A bad one is "
    "reported and the others go on.",
)
@common_options
def xlists_command(lists: tuple[str, ...], **options: Any) -> None:
    """Screen the members of X Lists through the whole pipeline.

    \b
    Each List's metadata and member pages (100 full user objects a page) are
    stored page by page before use, so a killed run resumes where it stopped;
    the members go through threshold, rules, scoring, validation and the
    dataset like looked-up users, with no user lookup. Their seed file is
    x-list:ID; their provenance method x-api-v2:list-members, evidence the
    List's URL and name. A List read within the `found` freshness window is
    not read again (--refresh reads it again); --from-raw sends nothing and
    uses the stored pages.
    """
    configure_logging(options["verbose"])
    with runs.guarded():
        config = config_from_options([], None, options)
        extra = tuple(options["also_validate"])
        runs.echo_used_files(config, extra)
        if options["plan_only"]:
            xlists.print_list_plan(harvest_lists.plan_lists(config, lists))
            return
        with HarvestProgress(rate_limit=rate_model(config)) as progress:
            result = harvest_lists.harvest_lists(
                config,
                lists,
                from_raw=options["from_raw"] is not None,
                observer=progress,
                progress=progress,
                extra_schemas=extra,
            )
    xlists.print_lists(result)
    if result.report is not None:
        print_report(result.report)
    xlists.print_list_spend(result, config.plan.price_per_user)
    sys.exit(int(xlists.list_status(result)))


def _run(seed_paths: Callable[[], list[Path]], out: Path | None, options: dict[str, Any]) -> None:
    configure_logging(options["verbose"])
    with runs.guarded():
        extra_schemas = tuple(options["also_validate"])
        if options["from_raw"] is not None:
            config = config_from_options([], out, options)
            runs.echo_used_files(config, extra_schemas)
            source_run = None if options["from_raw"] == "latest" else options["from_raw"]
            report = pipeline.replay_run(config, source_run, extra_schemas=extra_schemas)
        else:
            config = config_from_options(seed_paths(), out, options)
            runs.echo_used_files(config, extra_schemas)
            if options["plan_only"]:
                print_plan(pipeline.plan_harvest(config))
                return
            with HarvestProgress(rate_limit=rate_model(config)) as progress:
                report = pipeline.run_harvest(
                    config,
                    progress=progress,
                    extra_schemas=extra_schemas,
                    resume=not options["no_resume"],
                )
    print_report(report)
    finish(report)


def finish(report: pipeline.RunReport) -> None:
    """Say what a run that did not settle means, point to the next commands, exit with its
    status."""
    status = runs.run_status(report)
    if status is ExitCode.NOTHING_LOOKED_UP:
        click.echo(
            "nothing was looked up: "
            + (
                "every lookup failed (see the warnings above); the same command retries them"
                if report.funnel.get("looked_up", 0)
                else "the seed files hold no handle"
            ),
            err=True,
        )
    elif status is ExitCode.INPUT_DAMAGED:
        click.echo(
            "input damaged: refused seed files or broken lines (reported above); the rest was "
            "processed",
            err=True,
        )
    elif status is ExitCode.OK:
        for line in runs.next_steps_lines():
            click.echo(line)
    runs.exit_with(status)


def rate_model(config: PipelineConfig) -> tuple[int, float]:
    """The plan's rate-limit model the progress display's ETA keeps to."""
    return config.plan.rate_limit, config.plan.rate_window_s


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
            brand=options["brand_rules"] or project.resolved(project.BRAND_RULES),
            risk=options["risk_rules"] or project.resolved(project.RISK_RULES),
            allow_brands=options["allow_brands"],
            allow_risk=allow_risk,
        ),
        outputs=OutputPaths(data_dir=options["data_dir"]),
        schema_path=options["schema"],
        extra_out=out,
        operator=current_operator(),
        chunk_rows=options["chunk_rows"],
        store_memory=None if options["store_memory"].lower() == "none" else options["store_memory"],
        plan=plan_settings(options),
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
        handler.addFilter(VisibleControlsFilter())
    log.setLevel(min(level, logging.INFO))


def print_report(report: pipeline.RunReport) -> None:
    kind = "SYNTHETIC (made-up profiles; not real data)" if report.synthetic else "live"
    source = f", source {report.source}" if report.source else ""
    click.echo(f"run {report.run_id} — {kind}{source}")
    width = max(len(label) for _, label in FUNNEL_LABELS)
    for key, label in FUNNEL_LABELS:
        click.echo(f"  {label:<{width}}  {report.funnel.get(key, 0):>7}")
    click.echo(f"dataset:  {report.dataset}")
    click.echo(f"export:   {report.export_dir / 'latest.jsonl'} ({report.manifest.count} records)")
    click.echo(f"manifest: {report.export_dir / 'manifest.json'}")
    print_spend(report)


def print_spend(report: pipeline.RunReport) -> None:
    """What a run sent and cost, and under a cap what is left and the command that continues."""
    if report.plan is not None and report.plan.capped:
        left = report.plan
        click.echo(
            f"capped:   {left.left_handles} handles in {left.left_requests} requests left "
            "pending; continue with:"
        )
        click.echo(f"  {continue_command()}")
    if report.usage is not None:
        usage = report.usage
        line = f"requests: {usage.requests} ({usage.users_read} users read"
        if report.plan is not None and report.plan.settings.price_per_user > 0:
            line += f", {usage.billable} billable; estimated cost {usd(usage.cost)}"
        click.echo(line + ")")


def usd(amount: float) -> str:
    return f"{amount:,.2f} USD"


def continue_command() -> str:
    """The command line this process was started with: run again, it continues."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def print_plan(lookup_plan: plan.LookupPlan | None) -> None:
    """What a run would do, before it sends anything (``--plan``)."""
    if lookup_plan is None:
        click.echo("plan: nothing pending (no seed file changed, no author stale); 0 requests")
        return
    p, settings = lookup_plan, lookup_plan.settings
    rows: list[tuple[str, str]] = [
        ("seed rows", f"{p.seed_rows:,}"),
        ("invalid seed rows", f"{p.invalid_rows:,}"),
        ("distinct handles", f"{p.distinct:,}"),
        ("reused (fresh outcome)", f"{p.reused:,}"),
        ("answered by List members read before", f"{p.from_lists:,}"),
        ("to look up", f"{p.to_look_up:,}"),
        ("requests", f"{p.requests:,}"),
    ]
    if p.capped:
        rows.append(("requests this run (capped)", f"{p.sent_requests:,}"))
        rows.append(("left pending after it", f"{p.left_handles:,} handles"))
    window = plan.duration_text(settings.rate_window_s)
    rows += [
        (f"rate-limit windows ({settings.rate_limit}/{window})", f"{p.windows():,}"),
        ("least time at that limit", plan.duration_text(p.least_time_s())),
    ]
    if settings.price_per_user > 0:
        rows.append(
            (f"estimated cost (at most, {settings.price_per_user:.3f} USD/user)", usd(p.cost()))
        )
    if p.pending_files:
        rows.append(("seed files pending", f"{len(p.pending_files)}"))
    click.echo("plan (no request sent)")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"  {label:<{width}}  {value:>12}")
