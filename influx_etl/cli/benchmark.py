"""``influx-batch-benchmark run``: the lookup methods compared against their ceilings.

Thin on purpose: flags become a :class:`~influx_etl.tools.benchmark.BenchmarkSettings`; the work,
the
checks and the files are :mod:`influx_etl.tools.benchmark`'s.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from influx_etl.cli.harvest import configure_logging
from influx_etl.config import DEFAULT_SCHEMA, MAX_BATCH_SIZE, RuleFiles
from influx_etl.errors import InfluxError
from influx_etl.tools import benchmark, benchmark_report


def _scenarios(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part.replace("_", "")) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected handle counts separated by commas (e.g. 50,100,200,1000), got {value!r}"
        ) from None
    if not counts or any(n < 1 for n in counts):
        raise click.BadParameter(f"expected handle counts >= 1, got {value!r}")
    return counts


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Benchmark the lookup methods on the embedded X API server, against stated ceilings."""


@main.command("run")
@click.option(
    "--test-handles",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="The scenario the summary speaks of; added to --scenarios if missing.",
)
@click.option(
    "--scenarios",
    callback=_scenarios,
    default=",".join(map(str, benchmark.DEFAULT_SCENARIOS)),
    show_default=True,
    help="Handle counts to run, comma-separated (e.g. 50,100,200,1000,10000).",
)
@click.option(
    "--compare-methods",
    is_flag=True,
    help="Run per-user, small-batch (15), bulk (100) and parallel-bulk; without it, only "
    "parallel-bulk, the pipeline's own way.",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="Runs of each method per scenario (interleaved); the run with the median wall time "
    "is reported.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH_SIZE),
    default=75,
    show_default=True,
    help="parallel-bulk: handles per /2/users/by request.",
)
@click.option(
    "--parallel-batches",
    type=click.IntRange(1, 64),
    default=3,
    show_default=True,
    help="parallel-bulk: batches in flight at once.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=benchmark.DEFAULT_LATENCY_S * 1000,
    show_default=True,
    help="Latency model: milliseconds the server takes per request.",
)
@click.option(
    "--per-user-ms",
    type=click.FloatRange(min=0),
    default=benchmark.DEFAULT_PER_USER_S * 1000,
    show_default=True,
    help="Latency model: milliseconds the server adds per username in a request.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(1),
    default=None,
    help="Requests per endpoint per window the server allows (default: not enforced); "
    "with a short --window-seconds (e.g. --rate-limit 5 --window-seconds 2).",
)
@click.option(
    "--window-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    help="Length of the rate-limit window.",
)
@click.option(
    "--population",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL of recorded API user objects the server answers from (others: synthetic).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the synthetic handles and profiles.",
)
@click.option(
    "--brand-rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("lists/rules/brand_heuristics.yml"),
    show_default=True,
    help="Brand/official heuristics every method's pipeline uses.",
)
@click.option(
    "--risk-rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("lists/rules/risk_terms.yml"),
    show_default=True,
    help="Risk terms every method's pipeline uses.",
)
@click.option(
    "--schema",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_SCHEMA,
    show_default="schema/bigv.schema.json",
    help="JSON Schema every exported record must pass.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/benchmarks"),
    show_default=True,
    help="benchmark.json, report.md and throughput.png go to a new dated folder here.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def run_command(
    test_handles: int,
    scenarios: tuple[int, ...],
    compare_methods: bool,
    repeats: int,
    batch_size: int,
    parallel_batches: int,
    latency_ms: float,
    per_user_ms: float,
    rate_limit: int | None,
    window_seconds: float,
    population: Path | None,
    seed: int,
    brand_rules: Path,
    risk_rules: Path,
    schema: Path,
    out_dir: Path,
    verbose: int,
) -> None:
    """Look the same synthetic handles up with each method through the whole pipeline, check
    that every method produced the same outcomes and records, and report each one's throughput
    against the ceiling of the server's latency model."""
    configure_logging(verbose)
    try:
        methods = benchmark.comparison_methods(batch_size, parallel_batches)
        settings = benchmark.BenchmarkSettings(
            scenarios=tuple(sorted({*scenarios, test_handles})),
            methods=methods if compare_methods else methods[-1:],
            model=benchmark.LatencyModel(
                latency_s=latency_ms / 1000,
                per_user_s=per_user_ms / 1000,
                rate_limit=rate_limit,
                window_s=window_seconds,
            ),
            seed=seed,
            population=population,
            rules=RuleFiles(brand=brand_rules, risk=risk_rules),
            schema_path=schema,
            headline_handles=test_handles,
            repeats=repeats,
        )
        click.echo("embedded X API server:")
        for line in settings.model.server_config(population, seed).describe():
            click.echo(f"  {line}")
        click.echo(f"ceiling: {benchmark.CEILING_FORMULA}")
        for method in settings.methods:
            click.echo(f"method {method.name}: {method.describe()}")
        command = shlex.join(["influx-batch-benchmark", *sys.argv[1:]])
        result = benchmark.run_benchmark(settings, progress=click.echo, command=command)
        files = benchmark_report.write_outputs(result, out_dir)
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo("")
    for line in benchmark_report.results_table(result):
        click.echo(line)
    click.echo("")
    click.echo(benchmark_report.headline(result))
    click.echo(f"same work: checked for {len(result.compared_records)} scenario(s)")
    click.echo(f"report: {files.report}")
    click.echo(f"data:   {files.json}")
    click.echo(f"chart:  {files.chart}")
