"""``influx discover``: propose the next authors from the X Lists the dataset's authors are on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from influx_etl import discover, list_reads, project
from influx_etl.cli import harvest, runs
from influx_etl.cli.options import GroupedCommand, option, without_options
from influx_etl.exit_codes import ExitCode
from influx_etl.sources.xclient import ENDPOINT_LIST_MEMBERS, ENDPOINT_LIST_MEMBERSHIPS


@without_options(
    *harvest.LOOKUP_ONLY,
    "from_raw",
    "no_resume",
    "chunk_rows",
    "store_memory",
    "schema",
    "also_validate",
)
@click.command("discover", cls=GroupedCommand, epilog=runs.EPILOG)
@option(
    "--max-lists",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    group="Basics",
    help="Read the members of this many of the best-ranked Lists.",
)
@option(
    "--min-shared",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    group="Basics",
    help="Propose a member only when it is on at least K of those Lists.",
)
@option(
    "--max-authors",
    type=click.IntRange(min=1),
    default=75,
    show_default=True,
    group="Basics",
    help="Read the List memberships of the dataset's best N authors (by score); 75 fill one "
    "15-minute window of that endpoint.",
)
@option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    group="Basics",
    help="The seed file to write (default: SEEDS_DIR/discovered-YYYY-MM-DD.csv, never over an "
    "existing file).",
)
@option(
    "--seeds-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=project.SEEDS_DIR,
    show_default=True,
    group="Basics",
    help="Where the discovered seed file goes.",
)
@harvest.common_options
def discover_command(
    max_lists: int,
    min_shared: int,
    max_authors: int,
    out: Path | None,
    seeds_dir: Path,
    **options: Any,
) -> None:
    """Propose new authors from the X Lists the dataset's authors are on.

    \b
    Reads the List memberships of the dataset's best authors, ranks the Lists
    by how many dataset authors they hold (relative to their size) and by the
    topic words of their names, reads the members of the top Lists (full user
    objects: no lookup), ranks the members not in the dataset by the Lists
    they share with dataset authors, screens them with the threshold and the
    rules, and writes the ones that pass, best first, as a seed file with
    their List evidence. Nothing enters the dataset: edit the file, then
    `influx run` processes it and reuses the member objects already read.
    """
    harvest.configure_logging(options["verbose"])
    settings = discover.DiscoverySettings(
        max_lists=max_lists,
        min_shared=min_shared,
        max_authors=max_authors,
        out=out,
        seeds_dir=seeds_dir,
    )
    with runs.guarded():
        config = harvest.config_from_options([], None, options)
        if options["plan_only"]:
            print_plan(discover.plan_discovery(config, settings))
            return
        result = discover.discover(config, settings)
    print_discovery(result, config.plan.price_per_user)
    sys.exit(int(status(result)))


def status(result: discover.Discovery) -> ExitCode:
    if result.capped:
        click.echo("capped: reads left for the next run; the same command continues", err=True)
        return ExitCode.CAPPED
    if result.authors == 0:
        click.echo("the dataset has no author yet: run `influx run` first", err=True)
        return ExitCode.NOTHING_LOOKED_UP
    if result.failed_reads:
        click.echo(f"{result.failed_reads} reads failed; the same command retries them", err=True)
        return ExitCode.RETRY_LATER
    return ExitCode.OK


def print_discovery(result: discover.Discovery, price_per_user: float) -> None:
    click.echo(f"authors whose Lists were read: {result.authors}")
    click.echo(f"Lists used: {result.lists.height}")
    for row in result.lists.iter_rows(named=True):
        click.echo(
            f"  {row['list_id']:<20} {row['held']:>4} of ours in {row['member_count']:>5,}  "
            f"{row['name']}"
        )
    passing = result.passing.height
    click.echo(
        f"candidates: {result.candidates.height} not in the dataset; {passing} pass the "
        "threshold and the rules"
    )
    for row in discover.candidates_per_topic(result).iter_rows(named=True):
        click.echo(
            f"  {row['topic']:<24} {row['candidates']:>6} candidates {row['passing']:>6} pass"
        )
    if result.sent:
        parts = ", ".join(f"{n} × GET {e}" for e, n in sorted(result.sent.items()))
        line = f"requests: {sum(result.sent.values())} ({parts}); {result.users_read:,} users read"
        if price_per_user > 0:
            line += f", estimated cost {harvest.usd(result.users_read * price_per_user)}"
        click.echo(line)
    else:
        click.echo("requests: 0 (every read was fresh)")
    if result.out is not None:
        click.echo(
            f"wrote {result.out} ({passing} handles, best first): edit it, then `influx run`"
        )
    else:
        click.echo("no candidate passed: no seed file written")


def print_plan(p: discover.DiscoveryPlan) -> None:
    bound = "" if p.lists_known else " (at most: memberships not read yet)"
    rows = [
        ("dataset authors asked", f"{p.authors:,}"),
        ("  memberships read before and fresh", f"{p.memberships_fresh:,}"),
        (f"GET {ENDPOINT_LIST_MEMBERSHIPS} requests (at least)", f"{p.membership_requests:,}"),
        (
            "  windows at 75/15 min",
            f"{list_reads.windows(ENDPOINT_LIST_MEMBERSHIPS, p.membership_requests):,}",
        ),
        (f"GET {ENDPOINT_LIST_MEMBERS} requests{bound}", f"{p.member_requests:,}"),
        (
            "  windows at 900/15 min",
            f"{list_reads.windows(ENDPOINT_LIST_MEMBERS, p.member_requests):,}",
        ),
        (f"members read{bound}", f"{p.members:,}"),
        ("user lookups", "0"),
    ]
    if p.price_per_user > 0 or p.price_per_list > 0:
        prices = f"{p.price_per_user:.3f} USD/user, {p.price_per_list:.3f} USD/List"
        rows.append((f"estimated cost (at most; {prices})", harvest.usd(p.cost)))
    click.echo("plan (no request sent)")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"  {label:<{width}}  {value:>12}")
