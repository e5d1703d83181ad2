"""The report's charts as matplotlib figures, and each as an embeddable PNG data URI.

Figures use the object API (no pyplot state, no display needed) and are drawn from the frames of
:mod:`influx_etl.tools.report_frames`; :func:`png_data_uri` embeds one in the page, so the report
opens anywhere, offline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from influx_etl.tools.report_frames import DECISION_COLOURS, IDLE_GAP_S, largest


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
    scale, unit = _time_scale(largest(timeline["done_s"]))
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
        (1.0, "s") if largest(timeline["elapsed_s"]) >= 1 else (1e-3, "ms")
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
    scale, unit = _time_scale(largest(timeline["done_s"]))
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
        top = max(largest(stated["rl_limit"]), largest(stated["rl_remaining"]), 1.0)
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
        size_ax.set_ylim(0, max(1.0, largest(sized["exported"])) * 1.15)
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
