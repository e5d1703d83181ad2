"""A run report people can look at: one self-contained HTML file with its charts embedded.

``influx report`` reads one run of a dataset (:func:`read_run`, the only I/O besides
:func:`write_report`) and renders, as pure functions from frames to figures and HTML:

* the funnel (seed rows → handles looked up → found → past each filter → kept → new);
* throughput over time, from each batch's ``requested_at`` and ``elapsed_s`` in ``raw_lookups``;
* rate-limit waits: the quota the server stated (``raw_lookups.rate_limit``), extra attempts,
  429 answers, and the stretches when no request was in flight (every worker waiting);
* outcomes per seed file (``handle_outcomes``), with the seed rows rejected before lookup;
* what changed in the dataset: ``runs.counts`` (new, updated, unchanged, removed), the authors
  the run added or changed (``author_snapshots``: no earlier snapshot, or other followers, or
  ``authors.last_changed_run``), those that left, and the dataset size after each run.

Charts are matplotlib figures (the object API, no pyplot state, no display needed) embedded as
base64 PNG, so the file opens anywhere, offline, and can be mailed as is.

Names and URLs in the tables are written by strangers. The HTML is built as ``markupsafe.Markup``:
every value put into it is escaped by ``markupsafe.escape`` unless it is markup this module made,
so no text from a profile becomes an element or an attribute. A profile URL becomes a link only
when it is plain ``http(s)`` (:func:`profile_link`), with ``rel="noopener noreferrer nofollow"``.
The page's Content-Security-Policy (:data:`CONTENT_SECURITY_POLICY`) allows no script at all,
its one stylesheet by hash and images from ``data:`` URIs only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl
from markupsafe import Markup, escape
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from influx_etl.errors import ExportError, StoreError
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.store import Store

FUNNEL_LABELS: Final = {
    "seed_rows": "seed rows read",
    "invalid_seed_rows": "invalid seed rows (reported, skipped)",
    "reused": "reused (fresh outcome)",
    "refused_seed_files": "seed files refused (not UTF-8; reported, the rest read)",
    "broken_input_lines": "broken lines in the prefetched file (reported, skipped)",
    "unrequested_users": "users in answers nobody asked for (ignored)",
    "looked_up": "distinct handles looked up",
    "found": "found",
    "not_found": "not found",
    "suspended": "suspended",
    "invalid": "invalid (rejected by the API)",
    "failed": "failed (asked again by a later run)",
    "duplicate_id": "id answered another handle too, which keeps it",
    "below_threshold": "below the entry threshold",
    "brand": "brand / official / media",
    "risk": "risky",
    "banned": "banned (asked to be removed)",
    "kept": "kept",
    "invalid_records": "failed schema validation",
    "new": "new in the dataset",
    "updated": "updated in the dataset",
    "unchanged": "unchanged in the dataset",
    "removed": "removed from the dataset",
    "exported": "exported (whole dataset)",
}
"""Every key of ``runs.counts``, in funnel order, with what it means."""
_NOT_HANDLES: Final = [
    "seed_rows",
    "invalid_seed_rows",
    "refused_seed_files",
    "broken_input_lines",
    "unrequested_users",
    "exported",
]
"""Counts that are not of looked-up handles (no share of them is shown)."""

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

TABLE_ROWS: Final = 25
"""Longest author table in the report (the rest is counted, not listed)."""


@dataclass(frozen=True)
class RunData:
    """Everything the report shows about one run, as read from the dataset."""

    dataset: Path
    run: dict[str, Any]
    """The run's row: run_id, started_at, finished_at, status, source, operator, rules_versions."""
    counts: dict[str, int]
    """``runs.counts``: the funnel (empty for a run that failed before integrating)."""
    batches: pl.DataFrame
    """batch_id, handles (count), requested_at, status, error, attempts, elapsed_s,
    rl_remaining, rl_limit, rl_reset: one row per stored batch of the run."""
    outcomes: pl.DataFrame
    """seed_file, handle, outcome, decision, followers_count: one row per looked-up handle."""
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


# -- reading (the I/O edge) ----------------------------------------------------------------------


def read_run(dataset: Path, run_id: str | None = None) -> RunData:
    """Read one run (default: the newest) of the dataset file for the report."""
    # Opening through the store checks the file is an influx dataset and migrates an older one;
    # the report itself then reads over a read-only connection.
    with Store.open_existing(dataset):
        pass
    try:
        con = duckdb.connect(str(dataset), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open dataset {dataset}: {exc}") from None
    try:
        return _read_run(con, dataset, run_id)
    except duckdb.Error as exc:
        raise StoreError(f"{dataset}: cannot read run {run_id or '(newest)'}: {exc}") from None
    finally:
        con.close()


def _read_run(con: duckdb.DuckDBPyConnection, dataset: Path, run_id: str | None) -> RunData:
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
        "SELECT seed_file, handle, outcome, decision, followers_count FROM handle_outcomes "
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
        run=run,
        counts=counts,
        batches=batches,
        outcomes=outcomes,
        seed_rejects=seed_rejects,
        history=history,
        changed_authors=changed_authors,
        left_authors=left_authors,
    )


def write_report(dataset: Path, out: Path | None = None, run_id: str | None = None) -> Path:
    """Write the HTML report of ``run_id`` (default: the newest run); returns its path.

    Without ``out`` it goes to ``reports/run-<RUN_ID>.html`` beside the dataset file.
    """
    data = read_run(dataset, run_id)
    target = out or dataset.parent / "reports" / f"run-{data.run['run_id']}.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html(data, generated_at=utc_now_iso()), encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write the report {target}: {exc}") from None
    return target


# -- frames ------------------------------------------------------------------------------------


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


def _largest(values: pl.Series) -> float:
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
    wall = _largest(timeline["done_s"])
    handles = int(timeline["handles"].sum())
    return {
        "batches": timeline.height,
        "handles": handles,
        "lookup wall time (s)": round(wall, 2),
        "handles per second": round(handles / wall, 1) if wall > 0 else float("nan"),
        "median batch latency (ms)": round(
            1000 * float(timeline.select(pl.col("elapsed_s").median()).item() or 0.0), 1
        ),
        "slowest batch (ms)": round(1000 * _largest(timeline["elapsed_s"]), 1),
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
        "requests per window": int(_largest(limit)) if limit.len() else "not stated",
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


# -- figures -----------------------------------------------------------------------------------


def _time_scale(seconds: float) -> tuple[float, str]:
    """Divisor and unit that keep a time axis readable (a real run lasts hours, a test run
    milliseconds)."""
    if seconds > 2 * 3600:
        return 3600.0, "hours"
    if seconds > 180:
        return 60.0, "minutes"
    if seconds >= 2:
        return 1.0, "seconds"
    return 0.001, "ms"


def _count_axis(axis: Any) -> None:
    """Whole numbers with thousands separators: the axis counts handles or requests."""
    axis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def funnel_figure(stages: pl.DataFrame) -> Figure:
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    labels = stages["stage"].to_list()[::-1]
    values = stages["handles"].to_list()[::-1]
    bars = ax.barh(labels, values, color="#1976d2")
    bars[0].set_color("#2e7d32")  # the run's result: new in the dataset
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3)
    ax.set_xlabel("handles")
    ax.set_xlim(0, max([*values, 1]) * 1.15)
    _count_axis(ax.xaxis)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Filter funnel")
    return fig


def throughput_figure(timeline: pl.DataFrame) -> Figure:
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    done_ax, latency_ax = fig.subplots(1, 2)
    if timeline.is_empty():
        _note(done_ax, "no request in this run")
        _note(latency_ax, "no request in this run")
        return fig
    scale, unit = _time_scale(_largest(timeline["done_s"]))
    by_done = timeline.sort("done_s")
    done_ax.step(
        [0.0, *(by_done["done_s"] / scale).to_list()],
        [0, *by_done["handles_done"].to_list()],
        where="post",
        color="#1976d2",
    )
    done_ax.set_xlabel(f"{unit} since the first request")
    done_ax.set_ylabel("handles answered")
    done_ax.set_ylim(bottom=0)
    _count_axis(done_ax.yaxis)
    done_ax.set_title("Handles answered over time")
    latency_scale, latency_unit = (
        (1.0, "s") if _largest(timeline["elapsed_s"]) >= 1 else (1e-3, "ms")
    )
    for retried, colour, marker, label in (
        (False, "#1976d2", "o", "one request"),
        (True, "#c62828", "^", "retried"),
    ):
        batches = timeline.filter((pl.col("attempts") > 1) == retried)
        if batches.is_empty():
            continue
        latency_ax.scatter(
            (batches["start_s"] / scale).to_list(),
            (batches["elapsed_s"] / latency_scale).to_list(),
            s=18,
            color=colour,
            marker=marker,
            label=label,
        )
    latency_ax.set_xlabel(f"{unit} since the first request (batch sent)")
    latency_ax.set_ylabel(f"answering the batch ({latency_unit})")
    latency_ax.set_ylim(bottom=0)
    latency_ax.set_title("Batch latency")
    latency_ax.legend(loc="lower right", fontsize="small")
    for ax in (done_ax, latency_ax):
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def rate_limit_figure(timeline: pl.DataFrame) -> Figure:
    """The quota the server stated over time, with the waits (no request in flight) shaded and
    the 429 answers marked."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    if timeline.is_empty():
        _note(ax, "no request in this run")
        return fig
    scale, unit = _time_scale(_largest(timeline["done_s"]))
    waits = timeline.filter(pl.col("idle_before_s") >= IDLE_GAP_S)
    for index, (begin, end) in enumerate(
        zip(
            ((waits["start_s"] - waits["idle_before_s"]) / scale).to_list(),
            (waits["start_s"] / scale).to_list(),
            strict=True,
        )
    ):
        ax.axvspan(
            begin, end, color="#ffcc80", label="wait: no request in flight" if index == 0 else None
        )
    stated = timeline.filter(pl.col("rl_remaining").is_not_null())
    if stated.is_empty():
        ax.text(
            0.5,
            0.5,
            "the server stated no rate limit",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#555",
        )
        ax.set_yticks([])
    else:
        ax.step(
            (stated["done_s"] / scale).to_list(),
            stated["rl_remaining"].to_list(),
            where="post",
            color="#1976d2",
            marker=".",
            label="requests left in the window",
        )
        top = max(_largest(stated["rl_limit"]), _largest(stated["rl_remaining"]), 1.0)
        ax.set_ylim(0, top * 1.08)
        _count_axis(ax.yaxis)
        ax.set_ylabel("requests left in the window")
    limited = timeline.filter(pl.col("status") == 429)
    if not limited.is_empty():
        ax.scatter(
            (limited["done_s"] / scale).to_list(),
            [0] * limited.height,
            color="#c62828",
            marker="x",
            s=40,
            label="429 answer",
            zorder=3,
            clip_on=False,
        )
    ax.set_xlim(left=0)
    ax.set_xlabel(f"{unit} since the first request")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncols=3,
            frameon=False,
            fontsize="small",
        )
    ax.set_title("Quota stated by the server, and waits")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def seed_files_figure(per_file: pl.DataFrame) -> Figure:
    decisions = [d for d in DECISION_COLOURS if d in per_file.columns]
    fig = Figure(figsize=(9, 0.9 + 0.45 * max(per_file.height, 1)), layout="constrained")
    ax = fig.add_subplot()
    if per_file.is_empty() or not decisions:
        _note(ax, "no handle looked up in this run")
        return fig
    rows = per_file.sort("seed_file", descending=True)
    names = rows["seed_file"].fill_null("(none)").to_list()
    left = [0] * rows.height
    for decision in decisions:
        values = rows[decision].to_list()
        ax.barh(names, values, left=left, color=DECISION_COLOURS[decision], label=decision)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("handles looked up")
    _count_axis(ax.xaxis)
    fig.legend(loc="outside upper center", ncols=len(decisions), frameon=False, fontsize="small")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def changes_figure(counts: Mapping[str, int], history: pl.DataFrame, run_id: str) -> Figure:
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    change_ax, size_ax = fig.subplots(1, 2, width_ratios=[1, 1.6])
    kinds = ["new", "updated", "unchanged", "removed"]
    values = [counts.get(k, 0) for k in kinds]
    bars = change_ax.bar(kinds, values, color=["#2e7d32", "#1976d2", "#bdbdbd", "#c62828"])
    change_ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2)
    change_ax.set_ylim(0, max([*values, 1]) * 1.2)
    _count_axis(change_ax.yaxis)
    change_ax.set_title("This run's authors")
    sized = history.filter(pl.col("exported").is_not_null()).with_row_index("n", offset=1)
    if sized.is_empty():
        _note(size_ax, "no run has integrated yet")
    else:
        size_ax.plot(sized["n"].to_list(), sized["exported"].to_list(), marker="o", color="#1976d2")
        this = sized.filter(pl.col("run_id") == run_id)
        if not this.is_empty():
            x, y = this["n"][0], this["exported"][0]
            size_ax.scatter(
                [x], [y], s=120, facecolors="none", edgecolors="#c62828", linewidths=2, zorder=3
            )
            size_ax.annotate(
                "this run",
                (x, y),
                xytext=(0, -18),
                textcoords="offset points",
                ha="center",
                color="#c62828",
            )
        size_ax.set_xlabel("run (in start order)")
        size_ax.set_ylabel("authors in the dataset")
        size_ax.set_ylim(0, max(1.0, _largest(sized["exported"])) * 1.15)
        size_ax.set_xlim(0.5, sized.height + 0.5)
        if sized.height <= 12:  # one tick per run: a locator would number a lone run 0.6, 0.8...
            size_ax.set_xticks(range(1, sized.height + 1))
        else:
            _count_axis(size_ax.xaxis)
        _count_axis(size_ax.yaxis)
    size_ax.set_title("Dataset size after each run")
    for ax in (change_ax, size_ax):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def png_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (the report embeds every chart)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# -- HTML --------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212121;
 max-width:1000px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2.2rem;
 border-bottom:1px solid #e0e0e0;padding-bottom:.2rem}
.meta{color:#555;margin:.2rem 0 1rem} .status-succeeded{color:#2e7d32} .status-failed{color:#c62828}
nav a{margin-right:1rem} img{max-width:100%;height:auto;display:block;margin:.6rem 0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:.9rem} .scroll{overflow-x:auto}
footer{margin-top:3rem;color:#777;font-size:.85rem}
"""


CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; img-src data:; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()}'"
)
"""No script from anywhere (the report has none), the one inline stylesheet by its hash,
images only from ``data:`` URIs (the charts)."""

LINK_COLUMNS: Final = frozenset({"url"})
"""Table columns holding a profile's URLs (one or a list): shown by :func:`profile_link`."""

_PLAIN_WEB_URL: Final = re.compile(r"https?://[^\s\x00-\x1f\x7f-\x9f\\<>\"'`]+", re.IGNORECASE)


def profile_link(url: str | None) -> Markup:
    """A link to ``url`` when it is a plain ``http(s)`` URL (no space, quote or control character
    a browser would strip or read otherwise), else the URL as text: ``javascript:`` and other
    schemes never become links."""
    if not url:
        return Markup("")
    if _PLAIN_WEB_URL.fullmatch(url) is None:
        return escape(url)
    return Markup('<a href="{}" rel="noopener noreferrer nofollow">{}</a>').format(url, url)


def _cell(value: Any, link: bool = False) -> Markup:
    if value is None:
        return Markup("<td></td>")
    if isinstance(value, bool):
        return Markup("<td>{}</td>").format("yes" if value else "no")
    if isinstance(value, int):
        return Markup('<td class="num">{:,}</td>').format(value)
    if isinstance(value, float):
        return Markup('<td class="num">{:,.3g}</td>').format(value)
    if link:
        urls = value if isinstance(value, list) else [value]
        return Markup("<td>{}</td>").format(Markup(", ").join(map(profile_link, urls)))
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    # bdi: a bidi override in a name cannot reorder the rest of the row
    return Markup("<td><bdi>{}</bdi></td>").format(str(value))


def html_table(frame: pl.DataFrame, *, percent: Sequence[str] = ()) -> Markup:
    """A plain HTML table of ``frame`` (numbers right-aligned, ``percent`` columns as %, the
    :data:`LINK_COLUMNS` by :func:`profile_link`)."""
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    head = Markup("").join(
        Markup('<th class="num">{}</th>' if c in numeric else "<th>{}</th>").format(c)
        for c in frame.columns
    )
    rows = []
    for row in frame.iter_rows(named=True):
        cells = [
            Markup('<td class="num">{:.1%}</td>').format(v)
            if c in percent and v is not None
            else _cell(v, link=c in LINK_COLUMNS)
            for c, v in row.items()
        ]
        rows.append(Markup("<tr>{}</tr>").format(Markup("").join(cells)))
    return Markup(
        '<div class="scroll"><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
    ).format(head, Markup("").join(rows))


def _key_values(values: Mapping[str, Any]) -> Markup:
    rows = Markup("").join(
        Markup("<tr><th>{}</th>{}</tr>").format(k, _cell(v)) for k, v in values.items()
    )
    return Markup("<table><tbody>{}</tbody></table>").format(rows)


def _figure(fig: Figure, alt: str) -> Markup:
    return Markup('<img alt="{}" src="{}">').format(alt, png_data_uri(fig))


def _note_paragraph(text: str) -> Markup:
    return Markup('<p class="note">{}</p>').format(text)


def _duration(started: str | None, finished: str | None) -> str:
    if not started or not finished:
        return "unfinished"
    times = pl.Series([started, finished]).str.to_datetime(time_unit="ms", time_zone="UTC")
    seconds = (times[1] - times[0]).total_seconds()
    return f"{seconds:,.1f} s" if seconds < 180 else f"{seconds / 60:,.1f} min"


def _authors_table(frame: pl.DataFrame) -> Markup:
    shown = frame.head(TABLE_ROWS).rename(_AUTHOR_HEADERS, strict=False)
    more = frame.height - shown.height
    return html_table(shown) + (_note_paragraph(f"… and {more:,} more.") if more > 0 else "")


_SEED_FILE_HEADERS: Final = {
    "seed_file": "seed file",
    "below_threshold": "below threshold",
    "not_found": "not found",
    "not_found_rate": "not-found rate",
    "suspended_rate": "suspended rate",
    "rejected": "rejected seed rows",
}


_AUTHOR_HEADERS: Final = {
    "followers_before": "followers before",
    "followers_change": "change in followers",
    "in_dataset_now": "in the dataset now",
    "followers_count": "followers",
}


def render_html(data: RunData, *, generated_at: str) -> str:
    """The whole report as one HTML document (charts inline as base64 PNG)."""
    run = data.run
    run_id = str(run["run_id"])
    counts = data.counts
    timeline = batch_timeline(data.batches)
    per_file = seed_file_outcomes(data.outcomes, data.seed_rejects)
    status = str(run.get("status") or "")
    meta = Markup(" · ").join(
        part
        for part in (
            Markup('<span class="status-{}">{}</span>').format(status, status),
            escape(f"source {run.get('source')}"),
            escape(f"started {run.get('started_at')}"),
            escape(f"took {_duration(run.get('started_at'), run.get('finished_at'))}"),
            escape(f"by {run['operator']}") if run.get("operator") else "",
        )
        if part
    )
    looked_up = counts.get("looked_up", 0)
    funnel_rows = pl.DataFrame(
        {
            "count": list(FUNNEL_LABELS),
            "meaning": list(FUNNEL_LABELS.values()),
            "handles": [counts.get(k, 0) for k in FUNNEL_LABELS],
        }
    ).with_columns(
        pl.when(~pl.col("count").is_in(_NOT_HANDLES))
        .then(pl.col("handles") / looked_up if looked_up else pl.lit(None, pl.Float64))
        .alias("of looked up")
    )
    replay = str(run.get("source") or "").startswith("replay:")
    no_requests = _note_paragraph(
        f"This run sent no request: it replayed {str(run['source'])[7:]}'s stored lookups with "
        "the current rules."
        if replay
        else "This run stored no batch."
    )
    changes_note = (
        "New: the dataset had no earlier snapshot of the author. Updated: looked up again with "
        "other data (followers before and after come from the author snapshots). Not in the "
        "dataset now: a later run removed the author. The counts above are the run's own."
    )
    none = _note_paragraph("None.")
    sections = [
        (
            "funnel",
            "Funnel",
            _figure(funnel_figure(funnel_stages(counts)), "filter funnel")
            + html_table(funnel_rows, percent=["of looked up"]),
        ),
        (
            "throughput",
            "Throughput",
            (
                _figure(throughput_figure(timeline), "throughput")
                + _key_values(throughput_summary(timeline))
            )
            if not timeline.is_empty()
            else no_requests,
        ),
        (
            "rate-limit",
            "Rate-limit waits",
            (
                _figure(rate_limit_figure(timeline), "rate limit")
                + _key_values(rate_limit_summary(timeline))
                + _note_paragraph(
                    f"A wait is a stretch of {IDLE_GAP_S} s or more when no request was in "
                    "flight: the workers held for the window's reset, a 429, or a backoff."
                )
            )
            if not timeline.is_empty()
            else no_requests,
        ),
        (
            "seed-files",
            "Outcomes per seed file",
            _figure(seed_files_figure(per_file), "decision per seed file")
            + html_table(
                per_file.rename(_SEED_FILE_HEADERS, strict=False),
                percent=["not-found rate", "suspended rate"],
            )
            + _note_paragraph("Rejected seed rows were not valid handles (never looked up)."),
        ),
        (
            "changes",
            "What changed in the dataset",
            _figure(changes_figure(counts, data.history, run_id), "dataset changes")
            + _note_paragraph(changes_note)
            + Markup("<h3>New and updated authors</h3>")
            + (
                _authors_table(data.changed_authors)
                if not data.changed_authors.is_empty()
                else none
            )
            + Markup("<h3>Left the dataset</h3>")
            + (_authors_table(data.left_authors) if not data.left_authors.is_empty() else none),
        ),
    ]
    nav = Markup("").join(
        Markup('<a href="#{}">{}</a>').format(anchor, title) for anchor, title, _ in sections
    )
    body = Markup("").join(
        Markup('<section id="{}"><h2>{}</h2>{}</section>').format(anchor, title, content)
        for anchor, title, content in sections
    )
    page = Markup(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>influx run {run_id}</title><style>{css}</style></head><body>"
        "<h1>Run {run_id}</h1><p class='meta'>{meta}</p>"
        "<p class='meta'>dataset {dataset}</p>{rules_note}"
        "<nav>{nav}</nav>{body}"
        "<footer>influx_etl {version} · generated {generated_at}</footer>"
        "</body></html>\n"
    ).format(
        csp=CONTENT_SECURITY_POLICY,
        run_id=run_id,
        css=Markup(_CSS),  # our own constant: a stylesheet's text is not HTML-escaped
        meta=meta,
        dataset=str(data.dataset),
        rules_note=_rules_note(run.get("rules_versions")),
        nav=nav,
        body=body,
        version=_package_version(),
        generated_at=generated_at,
    )
    return str(page)


def _rules_note(rules_versions: str | None) -> Markup:
    """``brand rules 2.1.0 (472f66d0) · ...`` from the run's recorded rule file versions."""
    try:
        versions = json.loads(rules_versions or "{}")
    except ValueError:
        return Markup("")
    parts = []
    for name, value in sorted(versions.items()):
        if isinstance(value, dict):
            digest = str(value.get("sha256") or "")[:8]
            label = f"{name} {value.get('version')}" + (f" ({digest})" if digest else "")
        else:
            label = f"{name} {value}"
        parts.append(label)
    if not parts:
        return Markup("")
    return Markup("<p class='meta'>rules: {}</p>").format(" · ".join(parts))


def _package_version() -> str:
    try:
        return version("influx_etl")
    except PackageNotFoundError:
        return "(not installed)"
