"""Automation toward a target: pending seed files by content, refresh, the target report."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.automation import run_automation
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles
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


def config_for(tmp_path: Path, server: RunningServer) -> PipelineConfig:
    return PipelineConfig(
        lookup=LookupSettings(source=server.base_url, batch_size=10),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )


def test_processes_pending_files_in_order_until_the_target(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", FILES)
    report = run_automation(config_for(tmp_path, server), seeds_dir, target=3)
    # a.csv brings 2, b.csv brings the dataset to 4 >= 3: c.csv is left pending
    assert [run.funnel["new"] for run in report.runs] == [2, 2]
    assert (report.authors_now, report.added, report.still_needed) == (4, 4, 0)
    assert report.pending_files == ("c.csv",)
    assert report.estimated_runs_to_target == 0


def test_skips_processed_files_and_picks_up_an_edited_one(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", FILES)
    config = config_for(tmp_path, server)
    first = run_automation(config, seeds_dir, target=100)
    assert len(first.runs) == 3 and first.authors_now == 6
    assert first.still_needed == 94 and first.estimated_runs_to_target == 47  # 2 per file run

    requests = server.requests_served
    again = run_automation(config, seeds_dir, target=100)
    assert again.runs == () and server.requests_served == requests  # nothing pending

    write_files(seeds_dir, {"b.csv": ["bea", "bob", "ann"]}, category="economics")  # edited
    edited = run_automation(config, seeds_dir, target=100)
    assert len(edited.runs) == 1
    assert edited.runs[0].funnel["looked_up"] == 3
    assert edited.topic_coverage == {"science": 6, "economics": 3}


def test_refreshes_authors_last_looked_up_too_long_ago(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds_dir = write_files(tmp_path / "seeds", {"a.csv": FILES["a.csv"]})
    config = config_for(tmp_path, server)
    run_automation(config, seeds_dir, target=100)
    fresh = run_automation(config, seeds_dir, target=100, refresh_days=7)
    assert fresh.refreshed == 0
    later = datetime.now(UTC) + timedelta(days=8)
    stale = run_automation(config, seeds_dir, target=100, refresh_days=7, now=later)
    assert stale.refreshed == 2
    assert stale.runs[0].funnel["looked_up"] == 2 and stale.runs[0].funnel["unchanged"] == 2


def test_nothing_to_do_still_reports(tmp_path: Path, server: RunningServer) -> None:
    seeds_dir = tmp_path / "empty"
    seeds_dir.mkdir()
    report = run_automation(replace(config_for(tmp_path, server)), seeds_dir, target=10)
    assert report.runs == () and report.authors_now == 0 and report.still_needed == 10
    assert report.estimated_runs_to_target is None
