"""``influx discover`` on the embedded server: ranked candidates with List evidence, no lookup,
and the next automation run adds them from the stored member objects."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from influx_etl import discover
from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.apisim.contract import (
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    ENDPOINT_USERS_BY,
)
from influx_etl.apisim.lists import list_graph
from influx_etl.automation import run_automation
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig
from influx_etl.pipeline import open_dataset, run_harvest
from tests.test_pipeline import RULES, write_seeds

GRAPH = ApiServerConfig(list_universe=3_000, list_count=60)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(GRAPH) as running:
        yield running


def harvested(tmp_path: Path, server: RunningServer, count: int = 300) -> PipelineConfig:
    """A dataset of ``count`` seed handles drawn from the graph's accounts."""
    accounts = sorted(list_graph(GRAPH).accounts())
    handles = random.Random(7).sample(accounts, count)
    seeds_dir = tmp_path / "lists/seeds"
    write_seeds(seeds_dir, handles)
    config = PipelineConfig(
        seed_paths=(seeds_dir / "seeds.csv",),
        lookup=LookupSettings(source=server.base_url, batch_size=100),
        rules=RULES,
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )
    report = run_harvest(config)
    assert report.funnel["kept"] > 10
    return config


def test_discover_writes_ranked_candidates_with_list_evidence_and_looks_nobody_up(
    tmp_path: Path, server: RunningServer
) -> None:
    config = harvested(tmp_path, server)
    lookups = server.endpoint_counts[ENDPOINT_USERS_BY]
    settings = discover.DiscoverySettings(max_lists=5, seeds_dir=tmp_path / "lists/seeds")
    plan = discover.plan_discovery(config, settings)
    with open_dataset(config) as store:
        authors = store.authors().height
    assert plan.membership_requests == min(authors, 75) and not plan.lists_known
    found = discover.discover(config, settings, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert server.endpoint_counts[ENDPOINT_USERS_BY] == lookups  # no user lookup
    assert found.authors == min(authors, 75)
    assert server.endpoint_counts[ENDPOINT_LIST_MEMBERSHIPS] >= found.authors
    assert 0 < found.lists.height <= 5
    assert server.endpoint_counts[ENDPOINT_LIST_MEMBERS] == found.sent[ENDPOINT_LIST_MEMBERS]
    assert found.users_read == int(found.lists["member_count"].sum())  # every member, once
    assert found.out == tmp_path / "lists/seeds/discovered-2026-12-02.csv"
    with found.out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(discover.DISCOVERED_COLUMNS)
    assert len(rows) == found.passing.height > 0
    with open_dataset(config) as store:
        known = set(store.authors()["handle"].str.to_lowercase().to_list())
    chosen = set(found.lists["list_id"].to_list())
    shared = [int(row["shared_lists"]) for row in rows]
    assert shared == sorted(shared, reverse=True)  # best first
    for row in rows:
        assert row["handle"].lower() not in known
        urls = row["evidence"].split(" ")
        assert len(urls) == int(row["shared_lists"])
        assert {url.rsplit("/", 1)[1] for url in urls} <= chosen
        assert row["note"].startswith(urls[0])
    # everything written passed the threshold and the rules on its member object
    assert set(found.passing["decision"].to_list()) == {"kept"}
    # a second discovery the same day never overwrites the curator's file
    again = discover.discover(config, settings, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert again.out == tmp_path / "lists/seeds/discovered-2026-12-02-2.csv"
    assert again.sent == {}  # every read was fresh


def test_the_next_automation_run_adds_the_discovered_authors_from_stored_members(
    tmp_path: Path, server: RunningServer
) -> None:
    config = harvested(tmp_path, server)
    settings = discover.DiscoverySettings(max_lists=5, seeds_dir=tmp_path / "lists/seeds")
    found = discover.discover(config, settings)
    assert found.out is not None
    lookups = server.endpoint_counts[ENDPOINT_USERS_BY]
    with open_dataset(config) as store:
        before = store.authors().height
    result = run_automation(config, tmp_path / "lists/seeds", target=1_500)
    assert server.endpoint_counts[ENDPOINT_USERS_BY] == lookups  # answered by member objects
    assert result.processed_files == (found.out.name,)
    (run,) = result.runs
    assert run.plan is not None
    assert (run.plan.from_lists, run.plan.requests) == (found.passing.height, 0)
    assert result.added == found.passing.height
    with open_dataset(config) as store:
        assert store.authors().height - before == found.passing.height
