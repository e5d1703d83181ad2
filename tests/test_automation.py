"""Automation toward a target: pending seed files by content, refresh, the target report."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.automation import plan_automation, run_automation
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, PlanSettings, RuleFiles
from influx_etl.pipeline import open_dataset
from tests.conftest import REPO_ROOT


def person(user_id: int, handle: str, followers: int) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": handle,
        "name": handle.title(),
        "description": "Researcher.",
        "verified_type": "none",
        "public_metrics": {"followers_count": followers, "listed_count": followers // 200},
    }


# three files of two authors each above the threshold, plus one below it
FILES = {
    "a.csv": ["ann", "abe"],
    "b.csv": ["bea", "bob"],
    "c.csv": ["cal", "cat", "tiny"],
}
POPULATION = {
    h: person(100 + i, h, 10_000 if h == "tiny" else 80_000 + i)
    for i, h in enumerate(h for hs in FILES.values() for h in hs)
}


@pytest.fixture
def server() -> RunningServer:
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as running:
        yield running


def write_files(folder: Path, files: dict[str, list[str]], category: str = "science") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, handles in files.items():
        rows = ["handle,category,source,note", *[f"{h},{category},test," for h in handles]]
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def config_for(tmp_path: Path, server: RunningServer, batch_size: int = 10) -> PipelineConfig:
    return PipelineConfig(
        lookup=LookupSettings(source=server.base_url, batch_size=batch_size),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )


def asked_twice(server: RunningServer) -> dict[str, int]:
    return {key: n for key, n in server.lookups_per_username().items() if n > 1}


def test_every_pending_file_goes_into_one_run_of_full_batches(
    tmp_path: Path, server: RunningServer
) -> None:
    # ann is in two files: one lookup; 7 distinct handles in batches of 3 are 3 requests
    seeds_dir = write_files(tmp_path / "seeds", {**FILES, "b.csv": ["bea", "bob", "ANN"]})
    config = config_for(tmp_path, server, batch_size=3)
    report = run_automation(config, seeds_dir, target=100)
    assert len(report.runs) == 1
    assert server.requests_served == math.ceil(7 / 3) and asked_twice(server) == {}
    assert report.runs[0].funnel["looked_up"] == 7
    assert report.processed_files == ("a.csv", "b.csv", "c.csv") and report.pending_files == ()
    with open_dataset(config) as store:
        ann = store.authors().filter(pl.col("handle") == "ann")
        outcomes = store.handle_outcomes(report.runs[0].run_id)
    assert ann["seed_files"].to_list() == [["a.csv", "b.csv"]]  # provenance from both files
    assert outcomes.height == 7


def test_files_wait_once_the_dataset_holds_the_target(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", {"a.csv": FILES["a.csv"]})
    config = config_for(tmp_path, server)
    run_automation(config, seeds_dir, target=100)
    write_files(seeds_dir, {"b.csv": FILES["b.csv"]})
    report = run_automation(config, seeds_dir, target=2)
    assert report.runs == () and report.pending_files == ("b.csv",)
    assert (report.authors_now, report.still_needed, report.estimated_runs_to_target) == (2, 0, 0)


def test_nothing_changed_sends_nothing_and_a_known_handle_is_reused(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", FILES)
    config = config_for(tmp_path, server)
    first = run_automation(config, seeds_dir, target=100)
    assert len(first.runs) == 1 and first.authors_now == 6

    requests = server.requests_served
    again = run_automation(config, seeds_dir, target=100)
    assert again.runs == () and again.pending_files == ()
    assert server.requests_served == requests  # nothing pending, nothing sent

    write_files(seeds_dir, {"b.csv": ["bea", "bob", "ann"]}, category="economics")  # edited
    edited = run_automation(config, seeds_dir, target=100)
    assert server.requests_served == requests  # all three fresh
    funnel = edited.runs[0].funnel
    assert (funnel["reused"], funnel["looked_up"], funnel["kept"]) == (3, 0, 3)
    assert edited.topic_coverage == {"science": 6, "economics": 3}
    assert edited.pending_files == ()


def test_an_expired_outcome_is_looked_up_again(tmp_path: Path, server: RunningServer) -> None:
    seeds_dir = write_files(tmp_path / "seeds", {"a.csv": FILES["a.csv"]})
    config = config_for(tmp_path, server)
    run_automation(config, seeds_dir, target=100)
    write_files(seeds_dir, {"a.csv": FILES["a.csv"]}, category="economics")  # edited
    expired = replace(config, plan=PlanSettings(max_age={"found": 0}))
    requests = server.requests_served
    report = run_automation(expired, seeds_dir, target=100)
    assert server.requests_served == requests + 1
    assert (report.runs[0].funnel["reused"], report.runs[0].funnel["looked_up"]) == (0, 2)


def test_refreshes_authors_last_looked_up_too_long_ago(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", {"a.csv": FILES["a.csv"]})
    config = config_for(tmp_path, server)
    run_automation(config, seeds_dir, target=100)
    fresh = run_automation(config, seeds_dir, target=100, refresh_days=7)
    assert fresh.refreshed == 0 and fresh.runs == ()
    later = datetime.now(UTC) + timedelta(days=8)
    stale = run_automation(config, seeds_dir, target=100, refresh_days=7, now=later)
    assert stale.refreshed == 2
    assert stale.runs[0].funnel["looked_up"] == 2 and stale.runs[0].funnel["unchanged"] == 2


@pytest.fixture
def synthetic_server() -> RunningServer:
    with start_server(ApiServerConfig()) as running:
        yield running


def comparable(config: PipelineConfig) -> pl.DataFrame:
    """The dataset's authors without what depends on when they were looked up."""
    with open_dataset(config) as store:
        return store.authors().select(
            "id", "handle", "name", "followers_count", "verified", "seed_files", "topic_tags"
        )


def test_a_capped_run_continues_and_ends_as_an_uncapped_run(
    tmp_path: Path, synthetic_server: RunningServer
) -> None:
    # 18 handles in batches of 2: a 9-request plan
    files = {"a.csv": [f"writer{i}" for i in range(10)], "b.csv": [f"critic{i}" for i in range(8)]}
    seeds_dir = write_files(tmp_path / "seeds", files)
    config = config_for(tmp_path, synthetic_server, batch_size=2)
    capped = replace(config, plan=PlanSettings(max_requests=3))
    planned = plan_automation(capped, seeds_dir, target=1000)
    assert planned is not None and (planned.requests, planned.sent_requests) == (9, 3)

    first = run_automation(capped, seeds_dir, target=1000)
    assert synthetic_server.requests_served == 3
    assert first.runs[0].plan is not None and first.runs[0].plan.left_requests == 6
    assert set(first.pending_files) == {"a.csv", "b.csv"}  # neither file is settled yet
    with open_dataset(config) as store:
        assert store.runs()["status"].to_list() == ["capped"]

    second = run_automation(config, seeds_dir, target=1000)
    assert synthetic_server.requests_served == 9 and asked_twice(synthetic_server) == {}
    assert second.pending_files == () and second.runs[0].funnel["reused"] == 6

    uncapped = replace(config, outputs=OutputPaths(data_dir=tmp_path / "uncapped"))
    run_automation(uncapped, seeds_dir, target=1000)
    assert comparable(config).height > 0
    assert comparable(config).equals(comparable(uncapped))


def test_the_plan_sends_nothing_and_counts_what_the_run_does(
    tmp_path: Path, synthetic_server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", {"a.csv": ["ann", "abe", "al$"]})
    config = config_for(tmp_path, synthetic_server, batch_size=1)
    run_automation(config, seeds_dir, target=1000)
    write_files(seeds_dir, {"b.csv": ["ann", "bea", "bob", "Bea"]})
    planned = plan_automation(config, seeds_dir, target=1000)
    assert planned is not None and synthetic_server.requests_served == 2
    report = run_automation(config, seeds_dir, target=1000)
    funnel = report.runs[0].funnel
    sent = synthetic_server.requests_served - 2
    assert (planned.seed_rows, planned.invalid_rows) == (funnel["seed_rows"], 0)
    assert (planned.distinct, planned.reused) == (3, funnel["reused"])
    assert (planned.to_look_up, planned.requests) == (funnel["looked_up"], sent)
    assert planned.pending_files == ("b.csv",)


def test_the_shared_seed_files_are_planned_once_and_never_paid_twice(
    tmp_path: Path, shared_seeds_dir: Path, synthetic_server: RunningServer
) -> None:
    seeds_dir = tmp_path / "lists" / "seeds"
    shutil.copytree(shared_seeds_dir, seeds_dir)
    config = config_for(tmp_path, synthetic_server, batch_size=100)
    first = run_automation(config, seeds_dir, target=100_000)
    distinct = first.runs[0].funnel["looked_up"]
    assert distinct > 100
    assert synthetic_server.requests_served == math.ceil(distinct / 100)
    assert asked_twice(synthetic_server) == {}
    assert first.pending_files == ()

    requests = synthetic_server.requests_served
    again = run_automation(config, seeds_dir, target=100_000)
    assert again.runs == () and again.pending_files == ()
    assert synthetic_server.requests_served == requests

    with open_dataset(config) as store:
        known = store.authors()["handle"].head(10).to_list()
    write_files(seeds_dir, {"zz-new.csv": ["newcomer1", "newcomer2", "newcomer3", *known]})
    added = run_automation(config, seeds_dir, target=100_000)
    assert synthetic_server.requests_served == requests + 1
    assert synthetic_server.lookups_per_username().get("newcomer1") == 1
    funnel = added.runs[0].funnel
    assert (funnel["looked_up"], funnel["reused"]) == (3, 10)


def test_nothing_to_do_still_reports(tmp_path: Path, server: RunningServer) -> None:
    seeds_dir = tmp_path / "empty"
    seeds_dir.mkdir()
    report = run_automation(replace(config_for(tmp_path, server)), seeds_dir, target=10)
    assert report.runs == () and report.authors_now == 0 and report.still_needed == 10
    assert report.estimated_runs_to_target is None
