"""``influx discover``: the next authors, proposed from the X Lists the dataset's authors are on.

1. For the dataset's best authors (``max_authors``, by score), read their List memberships
   (``GET /2/users/:id/list_memberships``; stored page by page, fresh reads reused).
2. Rank the Lists by how many dataset authors they hold relative to their size and by topic
   words of their names (:func:`influx_etl.list_ranking.ranked_lists`); read the members of the
   top ``max_lists`` (``GET /2/lists/:id/members``: full user objects, no lookup).
3. Rank every member not in the dataset by the distinct chosen Lists it shares with dataset
   authors; screen them with the threshold and the rules (the member objects are the data).
4. Write the ones that pass to ``discovered-YYYY-MM-DD.csv`` in the seed format, best first, with
   their List evidence. Nothing enters the dataset: the curator edits the file, and the next
   harvest answers its handles with the stored member objects instead of looking them up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from influx_etl import (
    batching,
    list_members,
    list_ranking,
    list_reads,
    pipeline,
    safe_text,
    seeds,
)
from influx_etl.config import PipelineConfig
from influx_etl.sources import source_kind
from influx_etl.sources.lists import open_lists_api
from influx_etl.sources.pacing import WaitObserver
from influx_etl.sources.xclient import ENDPOINT_LIST_MEMBERS, ENDPOINT_LIST_MEMBERSHIPS, PAGE_SIZE
from influx_etl.store import Store

log = logging.getLogger(__name__)

DISCOVERED_COLUMNS = ("handle", "category", "source", "note", "evidence", "shared_lists")
DISCOVERED_SOURCE = "x-lists:discover"


@dataclass(frozen=True)
class DiscoverySettings:
    max_lists: int = 10
    min_shared: int = 1
    max_authors: int = 75
    """Dataset authors whose memberships are read (75: one 15-minute window of that endpoint)."""
    out: Path | None = None
    """The seed file to write (default: ``discovered-YYYY-MM-DD.csv`` in the seeds folder)."""
    seeds_dir: Path = Path("lists/seeds")


@dataclass(frozen=True)
class Discovery:
    authors: int
    """Dataset authors whose memberships were used."""
    lists: pl.DataFrame
    """The chosen Lists (:func:`~influx_etl.list_ranking.ranked_lists` rows)."""
    candidates: pl.DataFrame
    """Every ranked candidate with its ``decision`` (kept, below_threshold, brand, risk)."""
    out: Path | None
    sent: dict[str, int] = field(default_factory=dict)
    capped: bool = False
    failed_reads: int = 0
    users_read: int = 0
    """Member objects this command's requests read (user reads, billed as a lookup's)."""

    @property
    def passing(self) -> pl.DataFrame:
        return self.candidates.filter(pl.col("decision") == "kept")


def discover(
    config: PipelineConfig,
    settings: DiscoverySettings,
    *,
    observer: WaitObserver | None = None,
    now: datetime | None = None,
) -> Discovery:
    rulebook = pipeline.load_rulebook(config)
    kind = source_kind(config.lookup)
    usage_run = pipeline.new_run_id()
    since = list_reads.fresh_since(config.plan, datetime.now(UTC))
    budget = list_reads.Budget(
        config.plan.max_requests, config.plan.max_cost, config.plan.price_per_user
    )
    with pipeline.open_dataset(config, kind) as store:
        authors = _best_authors(store, settings.max_authors)
        world = authors["handle"].to_list() if kind == "simulated" else []
        with open_lists_api(config.lookup, observer, world_handles=world) as api:
            reader = list_reads.Reader(api, store, usage_run, budget, since)
            reads = reader.read_all(ENDPOINT_LIST_MEMBERSHIPS, authors["id"].to_list())
            found = list_ranking.memberships(
                store.list_page_items(list_reads.finished_reads(reads))
            )
            words = list_ranking.topic_words(authors["topic_tags"])
            chosen = list_ranking.ranked_lists(found, words).head(settings.max_lists)
            member_reads = reader.read_all(ENDPOINT_LIST_MEMBERS, chosen["list_id"].to_list())
        items = store.list_page_items(list_reads.finished_reads(member_reads))
        every = store.authors()
        candidates = list_ranking.ranked_candidates(
            items,
            chosen,
            every["id"],
            every["handle"].str.to_lowercase(),
            settings.min_shared,
        )
        answers = store.member_answers(candidates["handle_key"], None)
    decided = screened(candidates, answers, rulebook, config)
    out = None
    passing = decided.filter(pl.col("decision") == "kept")
    if passing.height:
        out = write_discovered(passing, settings, now or datetime.now(UTC))
    failed = sum(r.status in ("failed", "capped") for r in [*reads, *member_reads])
    return Discovery(
        authors=authors.height,
        lists=chosen,
        candidates=decided,
        out=out,
        sent=dict(budget.sent),
        capped=budget.capped,
        failed_reads=failed,
        users_read=budget.users_read,
    )


def _best_authors(store: Store, limit: int) -> pl.DataFrame:
    authors = store.author_columns(("id", "handle", "score", "topic_tags"))
    # X user ids are digits; anything else (an odd imported record) is not asked about
    authors = authors.filter(pl.col("id").str.contains(r"^\d{1,20}$"))
    return authors.sort(["score", "id"], descending=[True, False], nulls_last=True).head(limit)


def screened(
    candidates: pl.DataFrame,
    answers: pl.DataFrame,
    rulebook: pipeline.Rulebook,
    config: PipelineConfig,
) -> pl.DataFrame:
    """The candidates with the ``decision`` the threshold and the rules give their member
    objects (as :func:`pipeline.decided_profiles` decides a looked-up user)."""
    if candidates.is_empty():
        return candidates.with_columns(pl.lit(None, pl.String).alias("decision"))
    seed_load = seeds.seeds_from_handles(candidates["handle"].to_list(), DISCOVERED_SOURCE)
    frame = batching.batched(seed_load.frame, config.lookup.batch_size)
    raw = list_members.member_answer_batches(frame, answers).with_columns(
        pl.lit(200, pl.Int64).alias("status"),
        pl.lit(None, pl.String).alias("error"),
        pl.lit(None, pl.String).alias("raw_file"),
    )
    decided = pipeline.decided_profiles(raw, frame, rulebook, config)
    return candidates.join(
        decided.select("handle_key", "decision"), on="handle_key", how="left", maintain_order="left"
    )


def discovered_path(settings: DiscoverySettings, now: datetime) -> Path:
    """``settings.out``, or ``discovered-YYYY-MM-DD.csv`` in the seeds folder; never over a file
    a curator may have edited (``-2``, ``-3``… when the day's name is taken)."""
    if settings.out is not None:
        return settings.out
    stem = f"discovered-{now:%Y-%m-%d}"
    path = settings.seeds_dir / f"{stem}.csv"
    number = 2
    while path.exists():
        path = settings.seeds_dir / f"{stem}-{number}.csv"
        number += 1
    return path


def write_discovered(passing: pl.DataFrame, settings: DiscoverySettings, now: datetime) -> Path:
    """The passing candidates as a seed file, best first, spreadsheet-safe."""
    rows = passing.select(
        "handle",
        pl.col("topic").fill_null("").alias("category"),
        pl.lit(DISCOVERED_SOURCE).alias("source"),
        "note",
        "evidence",
        pl.col("shared_lists").cast(pl.String),
    )
    path = discovered_path(settings, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(safe_text.spreadsheet_csv(rows))
    return path


def candidates_per_topic(discovery: Discovery) -> pl.DataFrame:
    """``topic``, ``candidates``, ``passing`` (threshold and rules), most candidates first."""
    return (
        discovery.candidates.group_by(pl.col("topic").fill_null("(no topic word)"))
        .agg(
            pl.len().alias("candidates"),
            (pl.col("decision") == "kept").sum().alias("passing"),
        )
        .sort(["candidates", "topic"], descending=[True, False])
    )


@dataclass(frozen=True)
class DiscoveryPlan:
    """What ``influx discover`` would send (``--plan``), from what the dataset knows."""

    authors: int
    memberships_fresh: int
    membership_requests: int
    """At least: one per author not read freshly (more when an author is on over 100 Lists)."""
    lists_known: bool
    """Whether the memberships are stored, so the chosen Lists and their sizes are known."""
    member_requests: int
    members: int
    price_per_user: float
    price_per_list: float = 0.0

    @property
    def cost(self) -> float:
        """At most: member objects as user reads, a full page of List objects per memberships
        request."""
        lists = self.membership_requests * PAGE_SIZE
        return self.members * self.price_per_user + lists * self.price_per_list


def plan_discovery(config: PipelineConfig, settings: DiscoverySettings) -> DiscoveryPlan:
    since = list_reads.fresh_since(config.plan, datetime.now(UTC))
    with pipeline.open_dataset(config) as store:
        authors = _best_authors(store, settings.max_authors)
        ids = authors["id"].to_list()
        reads = store.latest_list_reads(ENDPOINT_LIST_MEMBERSHIPS, ids)
        fresh = reads.filter(pl.col("finished_at") >= since)
        found = list_ranking.memberships(
            store.list_page_items(reads.filter(pl.col("status") == "ok")["read_id"].to_list())
        )
        words = list_ranking.topic_words(authors["topic_tags"])
        chosen = list_ranking.ranked_lists(found, words).head(settings.max_lists)
        member_reads = store.latest_list_reads(ENDPOINT_LIST_MEMBERS, chosen["list_id"].to_list())
    lists_known = reads.height == len(ids) and len(ids) > 0
    fresh_lists = set(member_reads.filter(pl.col("finished_at") >= since)["resource_id"].to_list())
    unread = chosen.filter(~pl.col("list_id").is_in(list(fresh_lists)))
    if lists_known:
        pages = sum(list_reads.member_pages(n) for n in unread["member_count"].to_list())
        members = int(unread["member_count"].sum())
    else:
        pages = settings.max_lists * list_reads.MAX_MEMBER_PAGES
        members = settings.max_lists * list_ranking.MAX_LIST_MEMBERS
    return DiscoveryPlan(
        authors=len(ids),
        memberships_fresh=fresh.height,
        membership_requests=len(ids) - fresh.height,
        lists_known=lists_known,
        member_requests=pages,
        members=members,
        price_per_user=config.plan.price_per_user,
        price_per_list=config.plan.price_per_list,
    )
