"""``influx``: dataset housekeeping commands (import, report, QA sample...), one module each."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Work with the influx dataset: import existing records, reports, QA samples."""
