"""``influx``: dataset housekeeping commands (import, ban, report, QA sample...).

Each subcommand lives in a module of its own; this group only collects them.
"""

from __future__ import annotations

import click

from influx_etl.cli.ban import ban_command
from influx_etl.cli.importer import import_command
from influx_etl.cli.qa import qa_sample_command
from influx_etl.cli.report import report_command
from influx_etl.cli.usage import usage_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Work with the influx dataset: import existing records, bans, reports, QA samples, API
    usage."""


main.add_command(ban_command)
main.add_command(import_command)
main.add_command(report_command)
main.add_command(qa_sample_command)
main.add_command(usage_command)
