"""``influx-harvest x-lists``: the members of X Lists through the one pipeline, with no lookup.

Extract: each List's metadata (``GET /2/lists/:id``) and every member page
(``GET /2/lists/:id/members``, 100 full user objects a page) go to the store page by page
(:mod:`influx_etl.list_reads`). Normalise: the members become seeds of the pseudo-file
``x-list:ID`` (:func:`influx_etl.list_members.list_seeds`). Load: :func:`pipeline.run_harvest`
answers every member by its stored object (threshold, rules, transform, score, validate,
integrate, export as for looked-up users); provenance method ``x-api-v2:list-members``, evidence
the List's URL and name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from influx_etl import list_members, list_reads, pipeline
from influx_etl.config import PipelineConfig
from influx_etl.errors import ConfigError
from influx_etl.sources import source_kind
from influx_etl.sources.lists import ListsApi, list_id, open_lists_api
from influx_etl.sources.pacing import WaitObserver
from influx_etl.sources.xclient import ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS
from influx_etl.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListRef:
    """A ``--list`` as given, and its id (None with the reason when it is not a List)."""

    given: str
    list_id: str | None
    problem: str | None = None


def list_refs(values: tuple[str, ...] | list[str]) -> list[ListRef]:
    """Each ``--list`` value as an id, a bad one kept with its reason (the others go on)."""
    refs: list[ListRef] = []
    for value in values:
        try:
            refs.append(ListRef(value, list_id(value)))
        except ConfigError as exc:
            refs.append(ListRef(value, None, str(exc)))
    return refs


@dataclass(frozen=True)
class ListsRead:
    """What reading some Lists came to: their metadata and the member reads."""

    infos: pl.DataFrame
    """:data:`~influx_etl.list_members.LIST_INFO_SCHEMA`, one row per List asked."""
    member_reads: list[list_reads.ReadResult]
    sent: dict[str, int] = field(default_factory=dict)
    """Requests sent per endpoint by this command."""
    capped: bool = False
    users_read: int = 0
    """Member objects this command's requests read (user reads, billed as a lookup's)."""


@dataclass(frozen=True)
class ListHarvest:
    refs: list[ListRef]
    read: ListsRead
    report: pipeline.RunReport | None
    """The pipeline run over the members (None when no List gave any)."""


@dataclass(frozen=True)
class ListPlan:
    """What ``x-lists`` would send (``--plan``): per endpoint, and the members it would read."""

    lists: int
    reused: int
    requests: dict[str, int]
    members: int
    members_known: bool
    """Whether every List's member count is known (stored metadata); else an upper bound."""
    price_per_user: float
    price_per_list: float = 0.0

    @property
    def cost(self) -> float:
        """Member objects as user reads, and each List read (its metadata) as a List object."""
        lists = self.requests.get(ENDPOINT_LIST, 0)
        return self.members * self.price_per_user + lists * self.price_per_list


def read_lists(
    api: ListsApi | None,
    store: Store,
    ids: list[str],
    config: PipelineConfig,
    *,
    usage_run: str,
    any_age: bool = False,
    budget: list_reads.Budget | None = None,
) -> ListsRead:
    """Read each List's metadata, then its members, into ``store`` (fresh reads reused)."""
    budget = budget or list_reads.Budget(
        config.plan.max_requests, config.plan.max_cost, config.plan.price_per_user
    )
    since = list_reads.fresh_since(config.plan, datetime.now(UTC))
    reader = list_reads.Reader(api, store, usage_run, budget, since, any_age)
    infos: list[list_reads.ReadResult] = []
    members: list[list_reads.ReadResult] = []
    for one in ids:
        info = reader.read(ENDPOINT_LIST, one)
        infos.append(info)
        if info.status == "ok":
            members.append(reader.read(ENDPOINT_LIST_MEMBERS, one))
        elif info.status in ("not_found", "forbidden"):
            log.warning("List %s: %s (%s)", one, info.status, info.detail or "no detail")
    return ListsRead(
        infos=list_infos(store, infos),
        member_reads=members,
        sent=dict(budget.sent),
        capped=budget.capped,
        users_read=budget.users_read,
    )


def list_infos(store: Store, reads: list[list_reads.ReadResult]) -> pl.DataFrame:
    """The Lists' metadata from their stored reads, and a row for each List not read."""
    # a List's metadata read is one page: its answer
    documents = store.list_page_documents([r.read_id for r in reads if r.read_id is not None])
    infos = list_members.list_infos(documents.unique("resource_id", keep="last"))
    missing = [r for r in reads if r.resource_id not in set(infos["list_id"].to_list())]
    unread = pl.DataFrame(
        {
            "list_id": [r.resource_id for r in missing],
            "outcome": [r.status for r in missing],
            "detail": [r.detail for r in missing],
        },
        schema={"list_id": pl.String, "outcome": pl.String, "detail": pl.String},
    )
    order = pl.DataFrame({"list_id": [r.resource_id for r in reads]}, schema={"list_id": pl.String})
    every = pl.concat([infos, unread], how="diagonal_relaxed").select(
        list_members.LIST_INFO_SCHEMA.names()
    )
    return order.join(every, on="list_id", how="left", maintain_order="left").cast(
        list_members.LIST_INFO_SCHEMA
    )


def harvest_lists(
    config: PipelineConfig,
    references: tuple[str, ...] | list[str],
    *,
    from_raw: bool = False,
    observer: WaitObserver | None = None,
    progress: pipeline.ProgressCallback | None = None,
    extra_schemas: tuple[Path, ...] = (),
) -> ListHarvest:
    """Read the Lists (``from_raw``: only their stored pages, sending nothing) and run their
    members through the pipeline."""
    refs = list_refs(references)
    for ref in refs:
        if ref.problem:
            log.error("%s", ref.problem)
    ids = list(dict.fromkeys(ref.list_id for ref in refs if ref.list_id is not None))
    pipeline.load_rulebook(config, extra_schemas)  # a rules or schema typo costs no request
    usage_run = pipeline.new_run_id()
    kind = source_kind(config.lookup)
    with pipeline.open_dataset(config, kind) as store:
        if from_raw:
            read = read_lists(None, store, ids, config, usage_run=usage_run, any_age=True)
        else:
            with open_lists_api(config.lookup, observer) as api:
                if api.kind != kind:
                    raise ConfigError(f"the Lists source {api.name} makes {api.kind} data")
                read = read_lists(api, store, ids, config, usage_run=usage_run)
        items = store.list_page_items(list_reads.finished_reads(read.member_reads, "ok"))
    seed_load = list_members.list_seeds(items, read.infos)
    if seed_load.frame.is_empty():
        return ListHarvest(refs, read, None)
    report = pipeline.run_harvest(
        config,
        progress=progress,
        extra_schemas=extra_schemas,
        seed_load=seed_load,
        members_of_any_age=from_raw,
    )
    return ListHarvest(refs, read, report)


def plan_lists(config: PipelineConfig, references: tuple[str, ...] | list[str]) -> ListPlan:
    """What reading the Lists would send, from what the dataset knows (no request)."""
    ids = [ref.list_id for ref in list_refs(references) if ref.list_id is not None]
    ids = list(dict.fromkeys(ids))
    since = list_reads.fresh_since(config.plan, datetime.now(UTC))
    with pipeline.open_dataset(config) as store:
        reads = store.latest_list_reads(ENDPOINT_LIST_MEMBERS, ids)
        info_reads = store.latest_list_reads(ENDPOINT_LIST, ids)
        infos = list_members.list_infos(store.list_page_documents(info_reads["read_id"].to_list()))
    fresh = set(reads.filter(pl.col("finished_at") >= since)["resource_id"].to_list())
    counts = dict(zip(infos["list_id"].to_list(), infos["member_count"].to_list(), strict=True))
    to_read = [i for i in ids if i not in fresh]
    pages = [list_reads.member_pages(counts.get(i)) for i in to_read]
    members = sum(min(counts[i], 5000) if counts.get(i) is not None else 5000 for i in to_read)
    return ListPlan(
        lists=len(ids),
        reused=len(ids) - len(to_read),
        requests={ENDPOINT_LIST: len(to_read), ENDPOINT_LIST_MEMBERS: sum(pages)},
        members=members,
        members_known=all(counts.get(i) is not None for i in to_read),
        price_per_user=config.plan.price_per_user,
        price_per_list=config.plan.price_per_list,
    )
