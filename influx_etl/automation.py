"""Weekly automation toward a target: process pending seed files, refresh stale authors, report.

A seed file is *pending* until a run has settled every handle of its exact content (by sha256),
so an edited file counts as new. Every pending file (unless the dataset already holds the target)
and the authors last looked up more than ``refresh_days`` ago go into **one** run: one plan of
distinct handles (:mod:`influx_etl.plan`), fresh outcomes reused, the rest in full batches. A
capped or killed run leaves its files pending and the same command continues. The run goes
through :func:`influx_etl.pipeline.run_harvest`; this module only decides what it is given.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from influx_etl import pipeline, plan, seeds
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
    """Seed files still pending after the run: the target was reached first, or a cap or
    failed handles left some of their handles unsettled."""
    topic_coverage: dict[str, int]
    mean_added_per_file_run: float | None
    runs: tuple[pipeline.RunReport, ...] = field(repr=False)
    refreshed: int = 0
    processed_files: tuple[str, ...] = ()
    """Seed files this run settled."""

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


@dataclass(frozen=True)
class AutomationWork:
    """What one automation run is given: the pending files and the refresh set, as one load."""

    files: tuple[Path, ...]
    stale: tuple[str, ...]
    seed_load: seeds.SeedLoad | None
    """None when nothing is pending and nothing is stale."""
    authors_before: int

    @property
    def forced_keys(self) -> pl.Series:
        return pl.Series("handle_key", [h.lower() for h in self.stale], pl.String)


def automation_work(
    config: PipelineConfig,
    seeds_dir: Path,
    target: int,
    *,
    refresh_days: float | None = None,
    now: datetime | None = None,
) -> AutomationWork:
    """Every pending seed file (none once the dataset holds ``target``) and the stale authors."""
    paths = seeds.seed_paths(seeds_dir)
    with pipeline.open_dataset(config) as store:
        before = store.authors().height
        pending = pending_seed_files(paths, store) if before < target else []
        stale: list[str] = []
        if refresh_days is not None:
            checked_before = (now or datetime.now(UTC)) - timedelta(days=refresh_days)
            stale = store.stale_handles(checked_before.isoformat().replace("+00:00", "Z"))
    log.info("%d of %d seed files pending, %d authors stale", len(pending), len(paths), len(stale))
    parts = [seeds.load_seeds(pending)] if pending else []
    if stale:
        parts.append(seeds.seeds_from_handles(stale, REFRESH_SEED_FILE))
    return AutomationWork(
        files=tuple(pending),
        stale=tuple(stale),
        seed_load=plan.combined_seeds(parts) if parts else None,
        authors_before=before,
    )


def plan_automation(
    config: PipelineConfig,
    seeds_dir: Path,
    target: int,
    *,
    refresh_days: float | None = None,
    now: datetime | None = None,
) -> plan.LookupPlan | None:
    """What :func:`run_automation` would look up and send (nothing is sent); None: nothing
    pending."""
    work = automation_work(config, seeds_dir, target, refresh_days=refresh_days, now=now)
    if work.seed_load is None:
        return None
    lookup_plan = pipeline.plan_harvest(config, work.seed_load, work.forced_keys)
    return replace(lookup_plan, pending_files=tuple(p.name for p in work.files))


def run_automation(
    config: PipelineConfig,
    seeds_dir: Path,
    target: int,
    *,
    refresh_days: float | None = None,
    progress: pipeline.ProgressCallback | None = None,
    now: datetime | None = None,
) -> TargetReport:
    """Look up every pending seed file and the stale authors in one run, and report."""
    work = automation_work(config, seeds_dir, target, refresh_days=refresh_days, now=now)
    runs: list[pipeline.RunReport] = []
    if work.seed_load is not None:
        report = pipeline.run_harvest(
            replace(config, seed_paths=work.files),
            progress=progress,
            seed_load=work.seed_load,
            forced_keys=work.forced_keys,
        )
        runs.append(report)

    paths = seeds.seed_paths(seeds_dir)
    with pipeline.open_dataset(config) as store:
        dataset = store.authors()
        history = store.runs()
        still_pending = pending_seed_files(paths, store)
    left = {p.name for p in still_pending}
    return TargetReport(
        target=target,
        authors_before=work.authors_before,
        authors_now=dataset.height,
        pending_files=tuple(p.name for p in still_pending),
        topic_coverage=topic_coverage(dataset),
        mean_added_per_file_run=mean_added_per_file_run(history),
        runs=tuple(runs),
        refreshed=len(work.stale),
        processed_files=tuple(p.name for p in work.files if p.name not in left),
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
