# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lookup benchmarks
#
# Every `benchmark.json` that `influx-batch-benchmark run` wrote under `data/benchmarks/`, charted
# against the ceilings of their latency models: per-user, small-batch, bulk and parallel-bulk
# lookups of the same handles through the whole pipeline (see the README's *Benchmarks*).
#
# When there is none yet (a fresh machine), the first cell runs a **small** benchmark through
# `influx_etl.tools.benchmark` and writes it there, so this notebook always has something to
# show; run the command for real figures. `INFLUX_BENCHMARKS` reads another folder;
# `INFLUX_BENCH_SCENARIOS` (`20,50`) and `INFLUX_BENCH_LATENCY_MS` (`20`) size that small one.

# %%
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl
from IPython.display import Image, Markdown, display

from influx_etl.tools.notebook import project_root

REPO = project_root(Path.cwd())
BENCHMARKS = Path(os.environ.get("INFLUX_BENCHMARKS") or REPO / "data/benchmarks")
found = sorted(BENCHMARKS.glob("*/benchmark.json"))
if not found:
    from influx_etl.config import RuleFiles
    from influx_etl.tools.benchmark import BenchmarkSettings, LatencyModel, run_benchmark
    from influx_etl.tools.benchmark_report import write_outputs

    scenarios = tuple(int(n) for n in os.environ.get("INFLUX_BENCH_SCENARIOS", "20,50").split(","))
    latency_s = float(os.environ.get("INFLUX_BENCH_LATENCY_MS", "20")) / 1000
    settings = BenchmarkSettings(
        scenarios=scenarios,
        model=LatencyModel(latency_s=latency_s, per_user_s=latency_s / 50),
        rules=RuleFiles(
            brand=REPO / "lists/rules/brand_heuristics.yml",
            risk=REPO / "lists/rules/risk_terms.yml",
        ),
        headline_handles=max(scenarios),
    )
    built = write_outputs(
        run_benchmark(settings, command="notebooks/benchmarks.py (none found: a small one)"),
        BENCHMARKS,
    )
    print(f"no benchmark.json under {BENCHMARKS}: built a small one in {built.folder.name}")
    found = [built.json]
print(f"benchmarks {BENCHMARKS}: {len(found)} benchmark(s)")

documents = {path.parent.name: json.loads(path.read_text(encoding="utf-8")) for path in found}
results = pl.DataFrame(
    [
        {"benchmark": name, "started_at": doc["started_at"], **row}
        for name, doc in documents.items()
        for row in doc["results"]
    ],
    infer_schema_length=None,
).drop("requests_by_endpoint", "outcomes", "wall_s_each")
LATEST = max(documents, key=lambda name: documents[name]["started_at"])
latest_doc = documents[LATEST]
latest = results.filter(pl.col("benchmark") == LATEST)
METHODS = [m["name"] for m in latest_doc["methods"]]
COLOURS = dict(zip(METHODS, ["#9e9e9e", "#f9a825", "#1e88e5", "#2e7d32", "#8e24aa"], strict=False))
SCENARIOS = sorted(set(latest["scenario"].to_list()))


def scenario_axis(axis: plt.Axes) -> None:
    """A log x axis labelled with the scenarios' handle counts, not powers of ten."""
    axis.set_xscale("log")
    axis.set_xticks(SCENARIOS, [f"{n:,}" for n in SCENARIOS])
    axis.xaxis.set_minor_locator(plt.NullLocator())
    axis.set_xlabel("handles in the scenario")


pl.Config.set_tbl_rows(40)
pl.Config.set_tbl_cols(12)
plt.rcParams.update(
    {"figure.figsize": (8, 3.8), "axes.spines.top": False, "axes.spines.right": False}
)

# %% [markdown]
# ## The latest benchmark: its model and its figures

# %%
print(f"latest: {LATEST} — {latest_doc['command']}")
for line in latest_doc["server"]:
    print(f"  {line}")
print(f"ceiling: {latest_doc['ceiling_formula']}")
latest.select(
    "scenario",
    "method",
    "requests",
    pl.col("wall_s").round(2),
    pl.col("lookup_s").round(2),
    pl.col("handles_per_s").round(1),
    pl.col("ceiling_handles_per_s").round(1),
    (pl.col("fraction_of_ceiling") * 100).round(0).alias("% of ceiling (lookup)"),
    (pl.col("end_to_end_fraction_of_ceiling") * 100).round(0).alias("% of ceiling (end to end)"),
    pl.col("speedup_vs_per_user").round(1),
)

# %% [markdown]
# ## Throughput against the ceiling, as the scenario grows
#
# Solid: what each method measured in its lookup phase (first request to last raw document
# committed); dotted: end to end (the whole pipeline run); dashed: the ceiling of the model for
# that method and size. The gap between solid and dashed is the client's, the HTTP stack's and
# the store's share; between solid and dotted, the rest of the pipeline.

# %%
fig, ax = plt.subplots()
for method in METHODS:
    rows = latest.filter(pl.col("method") == method).sort("scenario")
    colour = COLOURS[method]
    x = rows["scenario"].to_list()
    ax.plot(x, rows["lookup_handles_per_s"].to_list(), "o-", color=colour, label=method)
    ax.plot(x, rows["handles_per_s"].to_list(), ":", color=colour)
    if rows["ceiling_handles_per_s"].null_count() < rows.height:
        ax.plot(x, rows["ceiling_handles_per_s"].to_list(), "--", color=colour, alpha=0.7)
scenario_axis(ax)
ax.set_yscale("log")
ax.set_ylabel("handles per second")
ax.set_title("lookup phase (solid), end to end (dotted), ceiling (dashed)", fontsize="medium")
ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
plt.show()

# %% [markdown]
# ## Share of the ceiling reached

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True, layout="constrained")
for axis, column, title in (
    (left, "fraction_of_ceiling", "lookup phase"),
    (right, "end_to_end_fraction_of_ceiling", "end to end"),
):
    for method in METHODS:
        rows = latest.filter(pl.col("method") == method).sort("scenario")
        axis.plot(
            rows["scenario"].to_list(),
            (rows[column] * 100).to_list(),
            "o-",
            color=COLOURS[method],
            label=method,
        )
    scenario_axis(axis)
    axis.set_ylim(0, 105)
    axis.set_title(title, fontsize="medium")
left.set_ylabel("% of the ceiling")
right.legend(frameon=False, fontsize="small")
plt.show()

# %% [markdown]
# ## Requests sent and speed-up over per-user

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
width = 0.8 / len(METHODS)
for index, method in enumerate(METHODS):
    rows = latest.filter(pl.col("method") == method).sort("scenario")
    x = [SCENARIOS.index(n) + (index - (len(METHODS) - 1) / 2) * width for n in rows["scenario"]]
    left.bar(x, rows["requests"].to_list(), width, color=COLOURS[method], label=method)
    if rows["speedup_vs_per_user"].null_count() < rows.height:
        right.bar(x, rows["speedup_vs_per_user"].to_list(), width, color=COLOURS[method])
for axis in (left, right):
    axis.set_xticks(range(len(SCENARIOS)), [f"{n:,}" for n in SCENARIOS])
    axis.set_xlabel("handles")
left.set_yscale("log")
left.set_title("requests the server counted", fontsize="medium")
right.set_title("speed-up over per-user (end to end)", fontsize="medium")
left.legend(frameon=False, fontsize="small")
plt.show()

# %% [markdown]
# ## Every benchmark so far
#
# One row per benchmark and method at its headline scenario (`--test-handles`), oldest first:
# have the figures moved between commits, and did the model change under them?

# %%
history = (
    results.join(
        pl.DataFrame(
            {
                "benchmark": list(documents),
                "headline": [d["headline_scenario"] for d in documents.values()],
                "latency_ms": [d["latency_model"]["latency_s"] * 1000 for d in documents.values()],
            }
        ),
        on="benchmark",
    )
    .filter(pl.col("scenario") == pl.col("headline"))
    .sort("started_at", "method")
)
fig, ax = plt.subplots()
for method in METHODS:
    rows = history.filter(pl.col("method") == method)
    ax.plot(
        rows["benchmark"].to_list(),
        (rows["fraction_of_ceiling"] * 100).to_list(),
        "o-",
        color=COLOURS.get(method, "black"),
        label=method,
    )
ax.set_ylim(0, 105)
ax.set_ylabel("% of the ceiling (lookup phase)")
ax.set_title("each benchmark at its headline scenario", fontsize="medium")
ax.tick_params(axis="x", labelrotation=30)
ax.legend(frameon=False, fontsize="small")
plt.show()
history.select(
    "benchmark",
    "headline",
    "latency_ms",
    "method",
    pl.col("handles_per_s").round(1),
    (pl.col("fraction_of_ceiling") * 100).round(0).alias("% of ceiling"),
)

# %% [markdown]
# ## The chart and report the command wrote

# %%
folder = BENCHMARKS / LATEST
display(Image(filename=str(folder / "throughput.png")))
summary = (folder / "report.md").read_text(encoding="utf-8").split("## Summary")[-1]
display(Markdown(summary.split("## Same work")[0]))
