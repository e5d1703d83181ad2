"""Read one run of a dataset for the report: its row, funnel counts, batches, outcomes, changes.

:func:`read_run` is the report's only read of the dataset; everything it returns is a frame or a
plain value, so the tables, figures and page built from it are pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from influx_etl.errors import StoreError
from influx_etl.store import Store


@dataclass(frozen=True)
class RunData:
    """Everything the report shows about one run, as read from the dataset."""

    dataset: Path
    synthetic: bool
    """The dataset holds the embedded server's made-up profiles (its kind is ``simulated``)."""
    run: dict[str, Any]
    """The run's row: run_id, started_at, finished_at, status, source, operator, rules_versions."""
    counts: dict[str, int]
    """``runs.counts``: the funnel (empty for a run that failed before integrating)."""
    batches: pl.DataFrame
    """batch_id, handles (count), requested_at, status, error, attempts, elapsed_s,
    rl_remaining, rl_limit, rl_reset: one row per stored batch of the run."""
    outcomes: pl.DataFrame
    """seed_file, handle, outcome, decision, followers_count, brand_matches, risk_flags,
    risk_matches, outcome_detail: one row per looked-up handle."""
    seed_rejects: pl.DataFrame
    """seed_file, rejected: seed rows of each file that were not valid handles."""
    history: pl.DataFrame
    """run_id, started_at, status, source, exported, new, removed: every run of the dataset."""
    changed_authors: pl.DataFrame
    """handle, name, url (as the dataset has them now: profile text), followers,
    followers_before, followers_change, change (new | updated), in_dataset_now: the authors this
    run added (no earlier snapshot) or changed."""
    left_authors: pl.DataFrame
    """handle, decision, followers_count: authors kept by an earlier run that this run
    dropped (below threshold, brand, risk or banned) and that are no longer in the dataset."""
    usage: pl.DataFrame = field(default_factory=pl.DataFrame)
    """day (UTC), requests, users_read, billable: the dataset's usage ledger per day, every run
    (:meth:`influx_etl.store.Store.usage`)."""


def read_run(dataset: Path, run_id: str | None = None) -> RunData:
    """Read one run (default: the newest) of the dataset file for the report."""
    # Opening through the store checks the file is an influx dataset and migrates an older one;
    # the report itself then reads over a read-only connection.
    with Store.open_existing(dataset) as store:
        synthetic = store.kind == "simulated"
        usage = daily_usage(store.usage())
    try:
        con = duckdb.connect(str(dataset), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open dataset {dataset}: {exc}") from None
    try:
        return replace(_read_run(con, dataset, run_id, synthetic), usage=usage)
    except duckdb.Error as exc:
        raise StoreError(f"{dataset}: cannot read run {run_id or '(newest)'}: {exc}") from None
    finally:
        con.close()


def _read_run(
    con: duckdb.DuckDBPyConnection, dataset: Path, run_id: str | None, synthetic: bool
) -> RunData:
    def frame(sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        result: pl.DataFrame = con.sql(sql, params=list(params) or None).pl()
        return result

    runs = frame(
        "SELECT run_id, started_at, finished_at, status, source, operator, "
        "counts::VARCHAR AS counts, rules_versions::VARCHAR AS rules_versions "
        "FROM runs ORDER BY started_at, run_id"
    )
    if runs.is_empty():
        raise StoreError(f"{dataset} holds no run yet (run influx-harvest first)")
    if run_id is None:
        run_id = str(runs["run_id"][-1])
    chosen = runs.filter(pl.col("run_id") == run_id)
    if chosen.is_empty():
        newest = ", ".join(runs["run_id"].tail(5).reverse().to_list())
        raise StoreError(f"{dataset} has no run {run_id!r}; the newest runs are: {newest}")
    run = chosen.row(0, named=True)
    counts = {k: int(v) for k, v in json.loads(run.pop("counts") or "{}").items()}

    batches = frame(
        "SELECT batch_id, len(handles)::BIGINT AS handles, requested_at, status::BIGINT AS status,"
        " error, attempts::BIGINT AS attempts, elapsed_s,"
        " TRY_CAST(json_extract_string(rate_limit, '$.\"x-rate-limit-remaining\"') AS BIGINT)"
        "   AS rl_remaining,"
        " TRY_CAST(json_extract_string(rate_limit, '$.\"x-rate-limit-limit\"') AS BIGINT)"
        "   AS rl_limit,"
        " TRY_CAST(json_extract_string(rate_limit, '$.\"x-rate-limit-reset\"') AS BIGINT)"
        "   AS rl_reset "
        "FROM raw_lookups WHERE run_id = ? ORDER BY requested_at, batch_id",
        [run_id],
    )
    outcomes = frame(
        "SELECT seed_file, handle, outcome, decision, followers_count, brand_matches, risk_flags,"
        " risk_matches, outcome_detail FROM handle_outcomes "
        "WHERE run_id = ? ORDER BY handle_key",
        [run_id],
    )
    seed_rejects = frame(
        "SELECT seed_file, count(*)::BIGINT AS rejected FROM seed_rejects WHERE run_id = ? "
        "GROUP BY seed_file ORDER BY seed_file",
        [run_id],
    )
    history = frame(
        "SELECT run_id, started_at, status, source,"
        " TRY_CAST(json_extract_string(counts, '$.exported') AS BIGINT) AS exported,"
        " TRY_CAST(json_extract_string(counts, '$.new') AS BIGINT) AS new,"
        " TRY_CAST(json_extract_string(counts, '$.removed') AS BIGINT) AS removed "
        "FROM runs ORDER BY started_at, run_id"
    )
    # From the snapshots, not the authors table: an author this run added and a later run
    # removed is still shown, and the follower change is exact.
    changed_authors = frame(
        "WITH snaps AS ("
        "  SELECT id, run_id, handle, followers_count,"
        "    lag(followers_count) OVER w AS followers_before, lag(run_id) OVER w AS previous_run"
        "  FROM author_snapshots WINDOW w AS (PARTITION BY id ORDER BY fetched_at))"
        " SELECT s.handle, a.name, a.url, s.followers_count AS followers, s.followers_before,"
        "  s.followers_count - s.followers_before AS followers_change,"
        "  CASE WHEN s.previous_run IS NULL THEN 'new' ELSE 'updated' END AS change,"
        "  a.id IS NOT NULL AS in_dataset_now"
        " FROM snaps s LEFT JOIN authors a USING (id)"
        " WHERE s.run_id = ? AND (s.previous_run IS NULL"
        "   OR s.followers_before IS DISTINCT FROM s.followers_count OR a.last_changed_run = ?)"
        " ORDER BY change, followers DESC, s.handle",
        [run_id, run_id],
    )
    left_authors = frame(
        "SELECT o.handle, o.decision, o.followers_count FROM handle_outcomes o"
        " WHERE o.run_id = ? AND o.id IS NOT NULL"
        "  AND o.decision IN ('below_threshold', 'brand', 'risk', 'banned')"
        "  AND o.id NOT IN (SELECT id FROM authors)"
        "  AND o.id IN (SELECT p.id FROM handle_outcomes p JOIN runs r USING (run_id)"
        "    WHERE p.decision = 'kept' AND p.id IS NOT NULL"
        "      AND r.started_at < (SELECT started_at FROM runs WHERE run_id = ?))"
        " ORDER BY o.followers_count DESC NULLS LAST, o.handle",
        [run_id, run_id],
    )
    return RunData(
        dataset=dataset,
        synthetic=synthetic,
        run=run,
        counts=counts,
        batches=batches,
        outcomes=outcomes,
        seed_rejects=seed_rejects,
        history=history,
        changed_authors=changed_authors,
        left_authors=left_authors,
    )


def daily_usage(ledger: pl.DataFrame) -> pl.DataFrame:
    """The usage ledger (one row per day, run and endpoint) summed per UTC day."""
    return (
        ledger.group_by("day")
        .agg(pl.col("requests", "users_read", "billable").sum())
        .sort("day")
        .select("day", "requests", "users_read", "billable")
    )
