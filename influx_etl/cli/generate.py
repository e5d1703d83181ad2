"""``influx-generate-profiles``: a prefetched users file of synthetic profiles, and its handles.

Thin over :func:`influx_etl.apisim.generate.write_profiles`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from influx_etl.apisim.generate import write_profiles
from influx_etl.errors import InfluxError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--count",
    type=click.IntRange(0),
    required=True,
    help="User objects to write (the handles file gets about 7 % more: the not-found and "
    "suspended handles met on the way).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The users file (JSONL) for --source prefetched:FILE.",
)
@click.option(
    "--handles-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the handles, one a line (a seed list for --handles-file).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="Worker processes (default: one per CPU); the output is the same with any number.",
)
def main(count: int, out: Path, handles_out: Path | None, seed: int, workers: int | None) -> None:
    """Write COUNT synthetic X user objects as a prefetched users file.

    \b
    The profiles are the embedded server's synthetic ones and keep its synthetic mark
    (_influx_origin): a harvest of the file goes to the SYNTHETIC dataset of its
    --data-dir (DIR/synthetic/influx.duckdb), never the live one, e.g.
      influx-harvest bulk --handles-file handles.txt --source prefetched:profiles.jsonl \\
          --data-dir data/cpubench
    """
    started = time.perf_counter()
    try:
        files = write_profiles(count, out, handles_out, seed=seed, workers=workers)
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"{files.profiles:,} profiles -> {files.profiles_path} ({files.bytes:,} bytes, sha256 "
        f"{files.sha256}) in {time.perf_counter() - started:.1f} s"
    )
    if files.handles_path is not None:
        click.echo(
            f"{files.handles:,} handles -> {files.handles_path} ({files.not_found:,} not found, "
            f"{files.suspended:,} suspended)"
        )
