"""``influx``: every command of the package under one name.

Each subcommand lives in a module of its own and is the same click object as the console script
of its older name (``influx harvest`` is ``influx-harvest``, ``influx run`` is
``influx-batch-automation run``...); this group only collects them.
"""

from __future__ import annotations

import click

from influx_etl.cli import apisim, batch, benchmark, export, generate, harvest, rules, score
from influx_etl.cli import validate as validate_cli
from influx_etl.cli.ban import ban_command
from influx_etl.cli.discover import discover_command
from influx_etl.cli.importer import import_command
from influx_etl.cli.init import init_command
from influx_etl.cli.qa import qa_sample_command
from influx_etl.cli.report import report_command
from influx_etl.cli.usage import usage_command
from influx_etl.exit_codes import EXIT_CODES_HELP


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP
    + ' Shell completion: eval "$(_INFLUX_COMPLETE=bash_source influx)" (zsh_source, '
    "fish_source for the other shells; see docs/cli.md).",
)
@click.version_option(package_name="influx_etl", prog_name="influx")
def main() -> None:
    """Build and maintain the influx dataset: start with `influx init`, then `influx harvest`."""


@click.group("qa", context_settings={"help_option_names": ["-h", "--help"]})
def qa_group() -> None:
    """Manual review of kept authors."""


qa_group.add_command(qa_sample_command, "sample")

main.add_command(init_command)
main.add_command(harvest.main, "harvest")
main.add_command(batch.harvest_main, "batch")
main.add_command(batch.automation_run, "run")
main.add_command(export.main, "export")
main.add_command(score.main, "score")
main.add_command(validate_cli.main, "validate")
main.add_command(rules.main, "rules")
main.add_command(report_command)
main.add_command(qa_group)
main.add_command(qa_sample_command)  # the older name, `influx qa-sample`
main.add_command(ban_command)
main.add_command(import_command)
main.add_command(apisim.main, "api-sim")
main.add_command(benchmark.main, "benchmark")
main.add_command(generate.main, "generate-profiles")
main.add_command(usage_command)
main.add_command(discover_command)
