"""A small but complete dataset for the report, QA and notebook tests, made by the real pipeline.

Two runs against the embedded X API server on 127.0.0.1 (no network, no ``../shared``):

1. ``ai.csv`` and ``science.csv`` together, on a server that allows 3 requests per 1.5 s window
   and fails the first request (so the run waits for the window and retries once): kept
   individuals, a brand, a risky account, one below the threshold, a handle that does not exist,
   a suspended one and an invalid seed row;
2. ``more.csv`` a second later, on a server whose population has moved on: two authors gained
   followers, one fell below the threshold (it leaves the dataset) and one is new.

Building takes a few seconds, so :func:`report_dataset` builds it once per test session; tests
that write to the dataset copy the file first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.apisim.synthetic import handle_status
from influx_etl.config import (
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    PlanSettings,
    RuleFiles,
)
from influx_etl.pipeline import RunReport, run_harvest
from tests.conftest import REPO_ROOT

RULES = RuleFiles(
    brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
    risk=REPO_ROOT / "lists/rules/risk_terms.yml",
)


def person(user_id: str, username: str, followers: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": username,
        "name": fields.pop("name", username.title()),
        "description": fields.pop("description", "Researcher and writer.\nViews my own."),
        "created_at": "2012-01-01T00:00:00.000Z",
        "verified": False,
        "verified_type": fields.pop("verified_type", "none"),
        "public_metrics": {
            "followers_count": followers,
            "following_count": 500,
            "tweet_count": 9000,
            "listed_count": followers // 100,
        },
        **fields,
    }


def _synthetic_handle(status: str) -> str:
    """A handle the embedded server answers with ``status`` (its synthetic statuses are fixed)."""
    return next(h for h in (f"ghost_{i}" for i in range(10_000)) if handle_status(h) == status)


NOT_FOUND = _synthetic_handle("not_found")
SUSPENDED = _synthetic_handle("suspended")

FIRST_POPULATION = {
    "ada": person("2001", "Ada", 900_000, verified_type="blue"),
    "grace": person("2002", "Grace", 120_000),
    "alan": person("2003", "Alan", 60_000),
    "marie": person("2004", "Marie", 35_000, verified_type="blue"),
    "lise": person("2005", "Lise", 55_000),
    "emmy": person("2006", "Emmy", 75_000),
    "smallfry": person("2007", "SmallFry", 12_000),
    "acmenews": person(
        "2008",
        "AcmeNews",
        2_000_000,
        name="Acme News Official",
        description="Official account of Acme News. Press releases and company news.",
        verified_type="business",
    ),
    "followbackking": person(
        "2009", "FollowBackKing", 300_000, description="follow back! crypto giveaway daily"
    ),
}
SECOND_POPULATION = {
    **FIRST_POPULATION,
    "ada": person("2001", "Ada", 950_000, verified_type="blue"),
    "grace": person("2002", "Grace", 131_000),
    "alan": person("2003", "Alan", 40_000),
    "newbie": person("2010", "Newbie", 200_000),
}
KEPT_AFTER_SECOND = {"Ada", "Grace", "Marie", "Lise", "Emmy", "Newbie"}
"""Who the dataset holds at the end (the populations above decide it, with the entry threshold)."""


@dataclass(frozen=True)
class BuiltDataset:
    path: Path
    first: RunReport
    second: RunReport


def _seed_file(folder: Path, name: str, handles: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"{h},science,test,row {i}" for i, h in enumerate(handles)]
    path = folder / name
    path.write_text("handle,category,source,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _config(root: Path, seed_paths: list[Path], base_url: str) -> PipelineConfig:
    return PipelineConfig(
        seed_paths=tuple(seed_paths),
        lookup=LookupSettings(
            source=base_url,
            batch_size=2,
            parallel_batches=1,
            backoff_base_s=0.05,
            rate_limit_margin_s=0.05,
        ),
        rules=RULES,
        outputs=OutputPaths(data_dir=root / "data"),
    )


def build_dataset(root: Path) -> BuiltDataset:
    seeds = root / "seeds"
    ai = _seed_file(
        seeds, "ai.csv", ["Ada", "grace", "alan", "AcmeNews", "FollowBackKing", NOT_FOUND, "bad!"]
    )
    science = _seed_file(seeds, "science.csv", ["marie", "lise", "emmy", "SmallFry", SUSPENDED])
    limited = ApiServerConfig(
        population=FIRST_POPULATION, synthetic=True, rate_limit=3, window_s=1.5, fail_first_n=1
    )
    with start_server(limited) as server:
        first = run_harvest(_config(root, [ai, science], server.base_url))
    # Snapshots are keyed by the second a profile was fetched: start the next run in a new one.
    time.sleep(1.05 - time.time() % 1.0)
    more = _seed_file(seeds, "more.csv", ["ada", "grace", "alan", "newbie", "marie"])
    with start_server(ApiServerConfig(population=SECOND_POPULATION, synthetic=True)) as server:
        # looked up again although fresh: the second population's profiles have changed
        refreshed = replace(_config(root, [more], server.base_url), plan=PlanSettings(refresh=True))
        second = run_harvest(refreshed)
    return BuiltDataset(first.dataset, first, second)


_BUILT: dict[str, BuiltDataset] = {}


def report_dataset(tmp_path_factory: pytest.TempPathFactory) -> BuiltDataset:
    """The dataset above, built on first use in this test session."""
    if "dataset" not in _BUILT:
        _BUILT["dataset"] = build_dataset(tmp_path_factory.mktemp("report-dataset"))
    return _BUILT["dataset"]
