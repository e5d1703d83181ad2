"""``influx ban HANDLE --reason TEXT``: an author who asked to be removed never re-enters."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from influx_etl.errors import InfluxError
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.store import Store


@click.command("ban")
@click.argument("handle")
@click.option(
    "--reason", required=True, help="Why (kept as ban_reason), e.g. 'asked to be removed'."
)
@click.option(
    "--dataset",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/influx.duckdb"),
    show_default=True,
    help="The dataset file (data/synthetic/influx.duckdb for the embedded server's).",
)
def ban_command(handle: str, reason: str, dataset: Path) -> None:
    """Remove an author from the dataset now and keep them out of every later run."""
    try:
        with Store.open_existing(dataset) as store:
            present = store.ban(handle, reason, utc_now_iso())
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    what = "removed and banned" if present else "banned (not in the dataset now)"
    click.echo(f"@{handle.lstrip('@')}: {what}")
