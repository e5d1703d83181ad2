"""``influx usage``: the usage ledger — requests, users read and their cost per UTC day and run."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
import polars as pl

from influx_etl.cli.datasets import dataset_options
from influx_etl.config import DEFAULT_PRICE_PER_USER
from influx_etl.errors import InfluxError
from influx_etl.store import Store


@click.command("usage")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="From this UTC day on (YYYY-MM-DD) [default: everything recorded].",
)
@dataset_options
@click.option(
    "--price-per-user",
    type=click.FloatRange(min=0),
    default=DEFAULT_PRICE_PER_USER,
    show_default=True,
    help="USD per billable user read; 0 leaves the cost out.",
)
def usage_command(since: date | None, dataset: Path, price_per_user: float) -> None:
    """Print the API usage per UTC day and per run: requests per endpoint, users read,
    billable users (a user read again the same UTC day is billed once) and estimated cost."""
    try:
        with Store.open_existing(dataset) as store:
            usage = store.usage(since.strftime("%Y-%m-%d") if since else None)
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for line in usage_lines(usage, price_per_user):
        click.echo(line)


def usage_lines(usage: pl.DataFrame, price_per_user: float) -> list[str]:
    """The ledger (:meth:`Store.usage`) as a table: a line per day, run and endpoint, then the
    day's total."""
    if usage.is_empty():
        return ["no requests recorded"]
    costed = price_per_user > 0
    header = f"{'day':<10}  {'run':<24}  {'endpoint':<34}  {'requests':>8}  {'users':>7}  "
    header += f"{'billable':>8}" + (f"  {'cost USD':>9}" if costed else "")
    lines = [header]

    def line(day: str, run: str, endpoint: str, requests: int, users: int, billable: int) -> str:
        text = f"{day:<10}  {run:<24}  {endpoint:<34}  {requests:>8,}  {users:>7,}  {billable:>8,}"
        return text + (f"  {billable * price_per_user:>9,.2f}" if costed else "")

    for (day,), rows in usage.group_by("day", maintain_order=True):
        for row in rows.iter_rows(named=True):
            lines.append(
                line(
                    str(day),
                    row["run_id"],
                    row["endpoint"],
                    row["requests"],
                    row["users_read"],
                    row["billable"],
                )
            )
        lines.append(
            line(
                str(day),
                "(day total)",
                "",
                int(rows["requests"].sum()),
                int(rows["users_read"].sum()),
                int(rows["billable"].sum()),
            )
        )
    return lines
