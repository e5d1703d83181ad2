"""What ``influx-harvest x-lists`` prints: the Lists read, the plan, and the exit status."""

from __future__ import annotations

import click

from influx_etl import harvest_lists, list_reads
from influx_etl.cli import runs
from influx_etl.exit_codes import ExitCode
from influx_etl.sources.xclient import ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS


def list_status(result: harvest_lists.ListHarvest) -> ExitCode:
    """The most serious of: capped (6), a List that is not one, private or gone (5), no List
    with a member (4), a List not answered (3, the same command retries it), the run's own."""
    if result.read.capped:
        click.echo("capped: Lists left unread; the same command continues", err=True)
        return ExitCode.CAPPED
    if result.report is None:
        click.echo("no List gave any member: nothing was screened", err=True)
        return ExitCode.NOTHING_LOOKED_UP
    outcomes = result.read.infos["outcome"]
    refused = any(ref.list_id is None for ref in result.refs) or bool(
        outcomes.is_in(["not_found", "forbidden"]).any()
    )
    unread = bool((outcomes == "failed").any()) or any(
        read.status == "failed" for read in result.read.member_reads
    )
    statuses = [runs.run_status(result.report)]
    if refused:
        click.echo(
            "input damaged: Lists not read (reported above); the rest was screened", err=True
        )
        statuses.append(ExitCode.INPUT_DAMAGED)
    if unread:
        click.echo("some Lists were not answered; the same command retries them", err=True)
        statuses.append(ExitCode.RETRY_LATER)
    return runs.worst(statuses)


def print_lists(result: harvest_lists.ListHarvest) -> None:
    for ref in result.refs:
        if ref.list_id is None:
            click.echo(f"  {ref.given!r}: not a List id or URL")
    members = {r.resource_id: r for r in result.read.member_reads}
    click.echo("Lists")
    for row in result.read.infos.iter_rows(named=True):
        read = members.get(row["list_id"])
        state = row["outcome"] if read is None else read.status
        reused = " (stored, not read again)" if read is not None and read.reused else ""
        name = row["name"] or row["detail"] or ""
        count = row["member_count"]
        size = f"{count:,} members" if count is not None else ""
        click.echo(f"  {row['list_id']:<20} {state:<10} {size:>14}  {name}{reused}")


def print_list_plan(p: harvest_lists.ListPlan) -> None:
    click.echo("plan (no request sent)")
    rows = [
        ("Lists", f"{p.lists:,}"),
        ("read before and fresh", f"{p.reused:,}"),
    ]
    for endpoint in (ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS):
        requests = p.requests.get(endpoint, 0)
        limit = list_reads.DOCUMENTED_LIMITS[endpoint]
        rows.append((f"GET {endpoint} requests", f"{requests:,}"))
        rows.append((f"  windows at {limit}/15 min", f"{list_reads.windows(endpoint, requests):,}"))
    bound = "" if p.members_known else " (at most: member counts unknown)"
    rows.append((f"members read{bound}", f"{p.members:,}"))
    rows.append(("user lookups", "0"))
    if p.price_per_user > 0 or p.price_per_list > 0:
        prices = f"{p.price_per_user:.3f} USD/user, {p.price_per_list:.3f} USD/List"
        rows.append((f"estimated cost ({prices})", f"{p.cost:,.2f} USD"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"  {label:<{width}}  {value:>12}")


def print_list_spend(result: harvest_lists.ListHarvest, price_per_user: float) -> None:
    """What reading the Lists sent and read (the pipeline's own line counts its lookups)."""
    sent = result.read.sent
    if not sent:
        click.echo("List requests: 0 (every List read before and fresh, or none readable)")
        return
    parts = ", ".join(f"{n} × GET {e}" for e, n in sorted(sent.items()))
    line = f"List requests: {sum(sent.values())} ({parts}); {result.read.users_read:,} users read"
    if price_per_user > 0:
        line += f", estimated cost {result.read.users_read * price_per_user:,.2f} USD"
    click.echo(line)
