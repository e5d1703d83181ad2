"""Weekly automation toward a target: process pending seed files, refresh stale authors, report.

A seed file is *pending* until a run has processed its exact content (by sha256), so an edited
file counts as new. Files are processed one run each, in name order, until the dataset holds the
target number of authors or nothing is pending. Authors last looked up more than
``refresh_days`` ago are then looked up again in one run. Every run goes through
:func:`influx_etl.pipeline.run_harvest`; this module only decides what to run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from influx_etl import pipeline, seeds
from influx_etl.config import PipelineConfig
from influx_etl.store import Store

log = logging.getLogger(__name__)

REFRESH_SEED_FILE = "(refresh)"
"""The ``seed_file`` of handles looked up again because their data was stale."""


@dataclass(frozen=True)
class TargetReport:
    target: int
    authors_before: int
    authors_now: int
    pending_files: tuple[str, ...]
    """Seed files still pending when the automation stopped (target reached first)."""
    topic_coverage: dict[str, int]
    mean_added_per_file_run: float | None
    runs: tuple[pipeline.RunReport, ...] = field(repr=False)
    refreshed: int = 0
    run_labels: tuple[str, ...] = ()
    """What each of ``runs`` looked up: its seed file's name, or :data:`REFRESH_SEED_FILE`."""

    @property
    def added(self) -> int:
        return self.authors_now - self.authors_before

    @property
    def still_needed(self) -> int:
        return max(0, self.target - self.authors_now)

    @property
    def estimated_runs_to_target(self) -> int | None:
        """Seed-file runs still needed at the historical mean; None when runs have added none."""
        if self.still_needed == 0:
            return 0
        if not self.mean_added_per_file_run:
            return None
        return math.ceil(self.still_needed / self.mean_added_per_file_run)


def pending_seed_files(paths: list[Path], store: Store) -> list[Path]:
    """The seed files whose current content no run has processed yet, in the given order."""
    digests = seeds.seed_file_digests(paths)
    processed = store.processed_seed_hashes()
    pending = set(digests.filter(~pl.col("sha256").is_in(list(processed)))["path"].to_list())
    return [path for path in paths if str(path) in pending]


def run_automation(
    config: PipelineConfig,
    seeds_dir: Path,
    target: int,
    *,
    refresh_days: float | None = None,
    progress: pipeline.ProgressCallback | None = None,
    now: datetime | None = None,
) -> TargetReport:
    """Process pending seed files until ``target`` authors, refresh stale ones, report."""
    paths = seeds.seed_paths(seeds_dir)
    with pipeline.open_dataset(config) as store:
        before = store.authors().height
        pending = pending_seed_files(paths, store)
    log.info("%d of %d seed files pending", len(pending), len(paths))

    runs: list[pipeline.RunReport] = []
    labels: list[str] = []
    authors = before
    remaining = list(pending)
    while remaining and authors < target:
        path = remaining.pop(0)
        report = pipeline.run_harvest(replace(config, seed_paths=(path,)), progress=progress)
        runs.append(report)
        labels.append(path.name)
        authors = report.manifest.count

    refreshed = 0
    if refresh_days is not None:
        checked_before = (now or datetime.now(UTC)) - timedelta(days=refresh_days)
        with pipeline.open_dataset(config) as store:
            stale = store.stale_handles(checked_before.isoformat().replace("+00:00", "Z"))
        if stale:
            log.info("refreshing %d authors last looked up before %s", len(stale), checked_before)
            report = pipeline.run_harvest(
                config,
                progress=progress,
                seed_load=seeds.seeds_from_handles(stale, REFRESH_SEED_FILE),
            )
            runs.append(report)
            labels.append(REFRESH_SEED_FILE)
            refreshed = len(stale)

    with pipeline.open_dataset(config) as store:
        dataset = store.authors()
        history = store.runs()
    return TargetReport(
        target=target,
        authors_before=before,
        authors_now=dataset.height,
        pending_files=tuple(p.name for p in remaining),
        topic_coverage=topic_coverage(dataset),
        mean_added_per_file_run=mean_added_per_file_run(history),
        runs=tuple(runs),
        refreshed=refreshed,
        run_labels=tuple(labels),
    )


def topic_coverage(authors: pl.DataFrame) -> dict[str, int]:
    """Authors per topic tag, most covered first (an author counts once per tag)."""
    counts = (
        authors.select(pl.col("topic_tags").explode().alias("topic"))
        .drop_nulls()
        .group_by("topic")
        .len()
        .sort(["len", "topic"], descending=[True, False])
    )
    return dict(zip(counts["topic"].to_list(), counts["len"].to_list(), strict=True))


def mean_added_per_file_run(runs: pl.DataFrame) -> float | None:
    """Mean net authors added by past successful seed-file runs (replays and refreshes excluded)."""
    counts = runs.filter(
        (pl.col("status") == "succeeded") & ~pl.col("source").str.starts_with("replay:")
    ).select(
        (
            pl.col("counts").str.json_path_match("$.new").cast(pl.Int64)
            - pl.col("counts").str.json_path_match("$.removed").cast(pl.Int64)
        ).alias("added"),
        pl.col("args").str.json_path_match("$.seed_paths").alias("seed_paths"),
    )
    from_files = counts.filter(pl.col("seed_paths") != "[]")["added"].drop_nulls()
    return float(from_files.mean()) if from_files.len() else None  # type: ignore[arg-type]
