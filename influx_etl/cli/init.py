"""``influx init [DIR]``: write a project folder that every ``influx`` command works in."""

from __future__ import annotations

from pathlib import Path

import click

from influx_etl import project
from influx_etl.cli import runs


@click.command("init", epilog="Exit status: 0 written; 1 a file exists already (nothing written).")
@click.argument(
    "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."), required=False
)
def init_command(folder: Path) -> None:
    """Write a project folder in FOLDER (default: here): lists/seeds/ with an example seed
    list, lists/rules/ with the default rules, data/ and a short README. Refuses to overwrite."""
    with runs.guarded():
        result = project.init_project(folder)
    for path in result.written:
        click.echo(f"wrote {path}")
    where = "" if folder == Path(".") else f"cd {folder} && "
    click.echo(f"next: {where}influx harvest")
