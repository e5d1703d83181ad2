"""The report's tables derived from a run's frames: funnel, batch timeline, summaries, seed files.

Pure functions from the frames of :class:`~influx_etl.tools.report_run.RunData` to frames and
plain values; the figures and the page show what these compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

DECISION_COLOURS: Final = {
    "kept": "#2e7d32",
    "below_threshold": "#9e9e9e",
    "brand": "#ef6c00",
    "risk": "#c62828",
    "banned": "#4a148c",
    "not_found": "#64b5f6",
    "suspended": "#1565c0",
    "invalid": "#f9a825",
    "failed": "#6d4c41",
    "duplicate_id": "#80cbc4",
}
"""One colour per decision (a handle not found carries its outcome as decision)."""

IDLE_GAP_S: Final = 0.5
"""A stretch with no request in flight shorter than this is scheduling noise, not a wait."""


def funnel_stages(counts: Mapping[str, int]) -> pl.DataFrame:
    """``stage, handles``: how many handles are left after each step of the run.

    Found handles end with exactly one decision (below threshold, brand, risk, banned, kept), so
    taking the filters off in order ends at ``kept``.
    """
    found = counts.get("found", 0)
    above = found - counts.get("below_threshold", 0)
    not_brand = above - counts.get("brand", 0)
    not_risky = not_brand - counts.get("risk", 0)
    stages = [
        ("seed rows read", counts.get("seed_rows", 0)),
        ("distinct valid handles", counts.get("looked_up", 0)),
        ("found on X", found),
        ("above the entry threshold", above),
        ("not a brand / official", not_brand),
        ("not risky", not_risky),
        ("kept (not banned)", counts.get("kept", 0)),
        ("valid records", counts.get("kept", 0) - counts.get("invalid_records", 0)),
        ("new in the dataset", counts.get("new", 0)),
    ]
    return pl.DataFrame(stages, schema={"stage": pl.String, "handles": pl.Int64}, orient="row")


def batch_timeline(batches: pl.DataFrame) -> pl.DataFrame:
    """The batches in request order with ``start_s`` / ``done_s`` (seconds since the run's first
    request), cumulative ``handles_done`` and ``idle_before_s``: how long before this request no
    request at all was in flight (every worker waiting: the rate-limit window or a backoff)."""
    started = pl.col("requested_at").str.to_datetime(time_unit="ms", time_zone="UTC")
    timeline = (
        batches.with_columns(started.alias("_start"))
        .sort("_start", "batch_id")
        .with_columns(
            ((pl.col("_start") - pl.col("_start").min()).dt.total_milliseconds() / 1000.0).alias(
                "start_s"
            )
        )
        .with_columns((pl.col("start_s") + pl.col("elapsed_s").fill_null(0.0)).alias("done_s"))
    )
    # done_s is not monotonic with parallel workers: the running max is when the last batch
    # requested so far had answered.
    return (
        timeline.sort("done_s", "batch_id")
        .with_columns(pl.col("handles").cum_sum().alias("handles_done"))
        .sort("start_s", "batch_id")
        .with_columns(
            (pl.col("start_s") - pl.col("done_s").cum_max().shift(1))
            .clip(lower_bound=0.0)
            .fill_null(0.0)
            .alias("idle_before_s")
        )
        .drop("_start")
    )


def largest(values: pl.Series) -> float:
    """The largest value as a float (0.0 for an empty or all-null column)."""
    top = values.cast(pl.Float64).max()
    return float(top) if isinstance(top, int | float) else 0.0


def _smallest(values: pl.Series) -> float:
    low = values.cast(pl.Float64).min()
    return float(low) if isinstance(low, int | float) else 0.0


def throughput_summary(timeline: pl.DataFrame) -> dict[str, float | int]:
    """Batches, handles, wall time of the lookups, handles per second, latency percentiles."""
    if timeline.is_empty():
        return {}
    wall = largest(timeline["done_s"])
    handles = int(timeline["handles"].sum())
    return {
        "batches": timeline.height,
        "handles": handles,
        "lookup wall time (s)": round(wall, 2),
        "handles per second": round(handles / wall, 1) if wall > 0 else float("nan"),
        "median batch latency (ms)": round(
            1000 * float(timeline.select(pl.col("elapsed_s").median()).item() or 0.0), 1
        ),
        "slowest batch (ms)": round(1000 * largest(timeline["elapsed_s"]), 1),
    }


def rate_limit_summary(timeline: pl.DataFrame) -> dict[str, int | float | str]:
    """What the rate limit cost the run: waits, extra attempts, 429s, the quota left."""
    if timeline.is_empty():
        return {}
    waits = timeline.filter(pl.col("idle_before_s") >= IDLE_GAP_S)
    remaining = timeline["rl_remaining"].drop_nulls()
    limit = timeline["rl_limit"].drop_nulls()
    return {
        "requests recorded (batches)": timeline.height,
        "batches that needed more than one request": int((timeline["attempts"] > 1).sum()),
        "extra requests (retries, splits, re-asks)": int(
            (timeline["attempts"] - 1).clip(lower_bound=0).sum()
        ),
        "batches answered 429 at last": int((timeline["status"] == 429).sum()),
        "waits with no request in flight": waits.height,
        "time spent waiting (s)": round(float(waits["idle_before_s"].sum()), 2),
        "lowest quota left in a window": int(_smallest(remaining))
        if remaining.len()
        else "not stated",
        "requests per window": int(largest(limit)) if limit.len() else "not stated",
        "windows seen": timeline["rl_reset"].drop_nulls().n_unique(),
    }


def seed_file_outcomes(outcomes: pl.DataFrame, seed_rejects: pl.DataFrame) -> pl.DataFrame:
    """Per seed file: handles looked up, each decision, not-found and suspended rates, and the
    seed rows rejected before lookup. Decisions are columns, in :data:`DECISION_COLOURS` order."""
    present = [d for d in DECISION_COLOURS if d in set(outcomes["decision"].to_list())]
    per_file = (
        outcomes.group_by("seed_file")
        .agg(
            pl.len().alias("handles"),
            *[(pl.col("decision") == d).sum().cast(pl.Int64).alias(d) for d in present],
            (pl.col("outcome") == "not_found").mean().alias("not_found_rate"),
            (pl.col("outcome") == "suspended").mean().alias("suspended_rate"),
        )
        .join(seed_rejects, on="seed_file", how="full", coalesce=True)
        .with_columns(pl.col("handles", "rejected", *present).fill_null(0))
        .sort("seed_file")
    )
    return per_file.select(
        "seed_file", "handles", *present, pl.exclude("seed_file", "handles", *present)
    )


def dropped_accounts(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Every handle the run did not keep, with what dropped it: the decision, the brand rules and
    risk flags (and terms) that matched, the lookup's detail for a handle not found. Sorted by
    decision (in :data:`DECISION_COLOURS` order: the funnel's) then handle, so a reader finds
    a handle in its decision's block."""
    others = set(outcomes["decision"].drop_nulls().unique().to_list()) - set(DECISION_COLOURS)
    order = pl.Enum([*DECISION_COLOURS, *sorted(others)])
    return (
        outcomes.filter(pl.col("decision") != "kept")
        .with_columns(
            pl.col("decision").cast(order).alias("_order"), _key=pl.col("handle").str.to_lowercase()
        )
        .sort("_order", "_key", "handle")
        .select(
            "decision",
            "handle",
            "seed_file",
            "followers_count",
            "brand_matches",
            "risk_flags",
            "risk_matches",
            "outcome_detail",
        )
    )


def decision_counts(dropped: pl.DataFrame) -> pl.DataFrame:
    """``decision, accounts``: how many of the dropped accounts each decision holds, in the
    dropped table's order."""
    return dropped.group_by("decision", maintain_order=True).agg(pl.len().alias("accounts"))
