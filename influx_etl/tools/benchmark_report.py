"""What a benchmark run leaves behind: ``benchmark.json``, ``report.md`` and ``throughput.png``,
and the table and headline the command prints (:mod:`influx_etl.tools.benchmark` runs it)."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from influx_etl.errors import ExportError
from influx_etl.tools.benchmark import (
    CEILING_FORMULA,
    CHART_NAME,
    JSON_NAME,
    REPORT_NAME,
    BenchmarkResult,
)


@dataclass(frozen=True)
class BenchmarkFiles:
    folder: Path
    json: Path
    report: Path
    chart: Path


def write_outputs(result: BenchmarkResult, out_dir: Path) -> BenchmarkFiles:
    """Write the three files into a new dated folder under ``out_dir`` (never over another)."""
    folder = _new_folder(out_dir, datetime.now(UTC).strftime("%Y-%m-%d_%H%M%S"))
    files = BenchmarkFiles(folder, folder / JSON_NAME, folder / REPORT_NAME, folder / CHART_NAME)
    try:
        files.json.write_text(
            json.dumps(result.as_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8",
        )
        files.report.write_text(markdown_report(result, chart=CHART_NAME), encoding="utf-8")
        throughput_figure(result).savefig(files.chart, dpi=110)
    except OSError as exc:
        raise ExportError(f"cannot write the benchmark's files to {folder}: {exc}") from None
    return files


def _new_folder(parent: Path, name: str) -> Path:
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 100):
            folder = parent / (name if attempt == 1 else f"{name}-{attempt}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
    except OSError as exc:
        raise ExportError(f"cannot create a folder under {parent}: {exc}") from None
    raise ExportError(f"{parent} already holds 99 benchmark folders named {name}*")


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None or math.isinf(value) else f"{value:.0%}"


def _speedup(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def results_table(result: BenchmarkResult) -> list[str]:
    """The report's results table (markdown lines), one row per scenario and method."""
    lines = [
        "| handles | method | requests | wall s | lookup s | handles/s | authors/hour "
        "| speed-up vs per-user | ceiling handles/s | lookup handles/s | % of ceiling (lookup) "
        "| % of ceiling (end to end) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result.runs:
        lines.append(
            f"| {run.handles:,} | {run.method} | {run.requests:,} | {run.wall_s:.2f} "
            f"| {run.lookup_s:.2f} | {_number(run.handles_per_s)} "
            f"| {_number(run.authors_per_hour, 0)} | {_speedup(run.speedup_vs_per_user)} "
            f"| {_number(run.ceiling_handles_per_s)} | {_number(run.lookup_handles_per_s)} "
            f"| {_percent(run.fraction_of_ceiling)} "
            f"| {_percent(run.end_to_end_fraction_of_ceiling)} |"
        )
    return lines


def headline(result: BenchmarkResult) -> str:
    """The summary at the headline scenario: the pipeline's own method (the last one,
    ``parallel-bulk``) against per-user and its ceiling, and the fastest if another was."""
    scenario = result.headline_scenario
    runs = [r for r in result.runs if r.scenario == scenario]
    if not runs:
        return f"No method ran the scenario of {scenario:,} handles."
    ours = runs[-1]
    text = (
        f"At {scenario:,} handles, {ours.method} looked up {_number(ours.handles_per_s)} "
        f"handles/s end to end ({_number(ours.authors_per_hour, 0)} an hour)"
    )
    baseline = result.run(scenario, "per-user")
    if baseline is not None and baseline is not ours:
        text += (
            f": {_speedup(ours.speedup_vs_per_user)} per-user's "
            f"{_number(baseline.handles_per_s)} handles/s"
        )
    if ours.ceiling_handles_per_s is not None:
        text += (
            f"; its lookup phase reached {_percent(ours.fraction_of_ceiling)} of its ceiling of "
            f"{_number(ours.ceiling_handles_per_s)} handles/s "
            f"({_percent(ours.end_to_end_fraction_of_ceiling)} end to end)"
        )
    fastest = max(runs, key=lambda r: r.handles_per_s)
    if fastest is not ours:
        text += (
            f". Fastest at this size: {fastest.method}, {_number(fastest.handles_per_s)} "
            f"handles/s end to end ({_speedup(fastest.speedup_vs_per_user)} per-user)"
        )
    return text + "."


def markdown_report(result: BenchmarkResult, *, chart: str | None = None) -> str:
    settings = result.settings
    model = settings.model
    lines = [
        f"# Lookup benchmark, {result.started_at[:16].replace('T', ' ')} UTC",
        "",
    ]
    if result.command:
        lines += [f"Command: `{result.command}`", ""]
    lines += [
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
        + (
            f", load average {result.load_average[0]:.1f} at the start and "
            f"{result.load_average[1]:.1f} at the end"
            if result.load_average is not None
            else ""
        )
        + f". Handles: the first {max(settings.scenarios):,} synthetic "
        f"handles of seed {settings.seed} (each scenario takes the first N).",
        "",
        "## Latency model (embedded X API server)",
        "",
        *[f"- {line}" for line in result.server],
        "",
        f"A request of n usernames costs {model.latency_s * 1000:g} ms + n × "
        f"{model.per_user_s * 1000:g} ms on the server. **Ceiling**: {CEILING_FORMULA}. It is "
        "the server's modelled time alone — no client, HTTP, JSON, DuckDB or pipeline work — "
        "so no method can reach it; the *lookup phase* (first request to last raw document "
        "committed) is what it bounds, *end to end* is the whole pipeline run.",
        "",
        "## Methods",
        "",
        "| method | how |",
        "| --- | --- |",
        *[f"| {m.name} | {m.describe()} |" for m in settings.methods],
        "",
        "## Results",
        "",
        *results_table(result),
        "",
        "handles/s and authors/hour (handles looked up, found or not, per hour) are end to end; "
        "speed-up is per-user's wall time over the method's, in the same scenario."
        + (
            f" Each method ran {settings.repeats} times per scenario, interleaved; each row is "
            "the run with the median wall time (every repeat's wall time is in benchmark.json)."
            if settings.repeats > 1
            else " One run per method and scenario: expect noise of tens of percent at the "
            "smallest sizes (--repeats takes the median)."
        ),
        "",
        "## Summary",
        "",
        headline(result),
        "",
        "## Same work",
        "",
    ]
    for scenario in sorted(result.compared_records):
        runs = [r for r in result.runs if r.scenario == scenario]
        outcomes = ", ".join(f"{name} {count}" for name, count in runs[0].outcomes.items())
        lines.append(
            f"- {scenario:,} handles: every method ({', '.join(r.method for r in runs)}) gave "
            f"the same outcome for every handle ({outcomes}) and exported the same "
            f"{result.compared_records[scenario]:,} records (fetch times and batch numbers "
            "aside)."
        )
    if chart:
        lines += ["", f"![throughput per method and scenario]({chart})"]
    return "\n".join(lines) + "\n"


METHOD_COLOURS: Final = ("#9e9e9e", "#f9a825", "#1e88e5", "#2e7d32", "#8e24aa", "#d81b60")


def throughput_figure(result: BenchmarkResult) -> Figure:
    """Per scenario, one column per method: its lookup-phase handles/s (dot), its end-to-end
    handles/s (diamond, joined to the dot) and its ceiling (black bar, labelled with the share
    reached). Log scale, since per-user is orders of magnitude slower; points rather than bars,
    whose heights would mean nothing on a log axis."""
    methods = [m.name for m in result.settings.methods]
    scenarios = sorted(result.compared_records)
    fig = Figure(figsize=(max(7.5, 2.5 + 0.55 * len(scenarios) * len(methods)), 4.8))
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    values: list[float] = []
    for m_index, name in enumerate(methods):
        colour = METHOD_COLOURS[m_index % len(METHOD_COLOURS)]
        for s_index, scenario in enumerate(scenarios):
            run = result.run(scenario, name)
            if run is None:
                continue
            x = s_index + (m_index - (len(methods) - 1) / 2) * width
            lookup = run.lookup_handles_per_s
            ax.vlines(x, run.handles_per_s, lookup, colors=colour, linewidth=2.5, alpha=0.45)
            ax.plot(x, lookup, marker="o", color=colour, markersize=8, zorder=3)
            ax.plot(
                x,
                run.handles_per_s,
                marker="D",
                color="white",
                markeredgecolor=colour,
                markeredgewidth=1.5,
                markersize=6,
                zorder=3,
            )
            values += [run.handles_per_s, lookup]
            if run.ceiling_handles_per_s is not None:
                values.append(run.ceiling_handles_per_s)
                ax.hlines(
                    run.ceiling_handles_per_s,
                    x - width * 0.4,
                    x + width * 0.4,
                    colors="black",
                    linewidth=2,
                    zorder=4,
                )
                ax.annotate(
                    _percent(run.fraction_of_ceiling),
                    (x, run.ceiling_handles_per_s),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) / 1.6, max(finite) * 1.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(range(len(scenarios)), [f"{n:,} handles" for n in scenarios])
    ax.set_xlim(-0.5, len(scenarios) - 0.5)
    ax.set_ylabel("handles per second (log scale)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", which="major", color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)
    for boundary in range(1, len(scenarios)):
        ax.axvline(boundary - 0.5, color="#eeeeee", linewidth=0.8)
    model = result.settings.model
    limit = (
        f", rate limit {model.rate_limit} requests / {model.window_s:g} s"
        if model.rate_limit is not None
        else ""
    )
    ax.set_title(
        f"Lookup throughput per method against its ceiling ({result.started_at[:10]})\n"
        f"server model: {model.latency_s * 1000:g} ms per request + "
        f"{model.per_user_s * 1000:g} ms per username{limit}",
        fontsize=10,
    )
    handles: list[Artist] = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=8,
            label=name,
            color=METHOD_COLOURS[i % len(METHOD_COLOURS)],
        )
        for i, name in enumerate(methods)
    ]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="#555555", label="lookup phase"),
        Line2D(
            [],
            [],
            marker="D",
            linestyle="",
            color="white",
            markeredgecolor="#555555",
            markeredgewidth=1.5,
            label="end to end (whole pipeline)",
        ),
        Line2D(
            [],
            [],
            color="black",
            linewidth=2,
            label="ceiling of the model\n(label: % reached\nby the lookup phase)",
        ),
    ]
    ax.legend(
        handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    return fig
