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
# # Explore the dataset
#
# Size and progress to the target, the filter funnel of the last runs, followers by verification,
# topic coverage, top authors, growth between snapshots, and not-found / suspended rates per seed
# file. Everything is read from the DuckDB dataset over a **read-only** connection.
#
# The dataset is found the way `make harvest` leaves it: `data/influx.duckdb` (live lookups) if
# it exists, else `data/synthetic/influx.duckdb` (the embedded server's). Set `INFLUX_DATASET` to
# read another file, and `INFLUX_TARGET` for another target than 1500 authors.

# %%
import os
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import polars as pl

from influx_etl.tools.notebook import located_dataset, project_root
from influx_etl.tools.report_frames import DECISION_COLOURS

REPO = project_root(Path.cwd())
DATASET = located_dataset(REPO, os.environ.get("INFLUX_DATASET"))
TARGET = int(os.environ.get("INFLUX_TARGET", "1500"))
con = duckdb.connect(str(DATASET), read_only=True)
pl.Config.set_tbl_rows(25)
pl.Config.set_fmt_str_lengths(60)
plt.rcParams.update(
    {"figure.figsize": (8, 3.5), "axes.spines.top": False, "axes.spines.right": False}
)
print(f"dataset {DATASET}")


def sql(query: str, *params: object) -> pl.DataFrame:
    return con.sql(query, params=list(params) or None).pl()


# %% [markdown]
# ## Size and progress to the target

# %%
size = sql(
    "SELECT (SELECT count(*) FROM authors) AS authors,"
    " (SELECT count(*) FROM runs WHERE status = 'succeeded') AS runs,"
    " (SELECT max(finished_at) FROM runs WHERE status = 'succeeded') AS last_run,"
    " (SELECT value FROM dataset_info WHERE key = 'kind') AS kind"
)
authors_now = size["authors"][0]
print(size)
fig, ax = plt.subplots(figsize=(8, 1.2))
ax.barh([0], [TARGET], color="#e0e0e0")
ax.barh([0], [min(authors_now, TARGET)], color="#2e7d32")
ax.set_yticks([])
ax.set_title(f"{authors_now:,} of {TARGET:,} authors ({authors_now / TARGET:.1%} of the target)")
plt.show()

# %% [markdown]
# ## The filter funnel of the last runs
#
# From `runs.counts`: each bar is one run's distinct handles, split by how they ended.

# %%
# the report's colours, so a decision looks the same in both
ENDINGS = DECISION_COLOURS
funnel = (
    sql(
        "SELECT run_id, started_at, source, counts::VARCHAR AS counts FROM runs"
        " WHERE status = 'succeeded' AND counts IS NOT NULL ORDER BY started_at DESC LIMIT 10"
    )
    .with_columns(
        pl.col("counts").str.json_path_match(f"$.{key}").cast(pl.Int64).fill_null(0).alias(key)
        for key in ["seed_rows", "looked_up", *ENDINGS, "new", "updated", "removed"]
    )
    .drop("counts")
    .reverse()
)
funnel.select("run_id", "seed_rows", "looked_up", *ENDINGS, "new", "updated", "removed")

# %%
fig, ax = plt.subplots(figsize=(8, 1.2 + 0.4 * max(funnel.height, 1)), layout="constrained")
left = [0] * funnel.height
labels = funnel["run_id"].to_list()
for ending, colour in ENDINGS.items():
    values = funnel[ending].to_list()
    if any(values):
        ax.barh(labels, values, left=left, color=colour, label=ending)
        left = [a + b for a, b in zip(left, values, strict=True)]
ax.set_xlabel("distinct handles looked up")
fig.legend(loc="outside lower center", ncols=5, frameon=False)
ax.set_title("How the handles of the last runs ended")
plt.show()

# %% [markdown]
# ## Followers by verification type (log scale)

# %%
followers = sql(
    "SELECT coalesce(verified_type, 'none') AS verified_type, followers_count FROM authors"
)
kinds = followers.group_by("verified_type").len().sort("len", descending=True)["verified_type"]
low = max(followers["followers_count"].min() or 1, 1)
high = max(followers["followers_count"].max() or 10, low)
bins = [low * (high / low) ** (i / 30) for i in range(31)] if high > low else 10
fig, ax = plt.subplots()
ax.hist(
    [followers.filter(pl.col("verified_type") == k)["followers_count"].to_list() for k in kinds],
    bins=bins,
    stacked=True,
    label=kinds.to_list(),
)
ax.set_xscale("log")
ax.set_xlabel("followers")
ax.set_ylabel("authors")
ax.legend(title="verified_type", frameon=False)
ax.set_title("Follower distribution")
plt.show()
followers.group_by("verified_type").agg(
    pl.len().alias("authors"),
    pl.col("followers_count").median().alias("median followers"),
    pl.col("followers_count").max().alias("max followers"),
).sort("authors", descending=True)

# %% [markdown]
# ## Topic coverage
#
# Authors per topic tag (an author counts once per tag). Thin topics are where new seed lists help.

# %%
topics = sql(
    "SELECT topic, count(*) AS authors FROM (SELECT unnest(topic_tags) AS topic FROM authors)"
    " GROUP BY topic ORDER BY authors DESC, topic"
)
fig, ax = plt.subplots(figsize=(8, 0.6 + 0.3 * max(topics.height, 1)))
ax.barh(topics["topic"].to_list()[::-1], topics["authors"].to_list()[::-1], color="#1976d2")
ax.set_xlabel("authors")
ax.set_title("Topic coverage")
plt.show()

# %% [markdown]
# ## Top authors

# %%
sql(
    "SELECT handle, name, followers_count, verified, score, topic_tags FROM authors"
    " ORDER BY score DESC NULLS LAST, followers_count DESC, handle LIMIT 20"
)

# %% [markdown]
# ## Growth between snapshots
#
# `author_snapshots` keeps an author's followers at each distinct lookup. Growth is from the first
# snapshot to the last, for authors looked up more than once.

# %%
growth = (
    sql(
        "SELECT id, arg_max(handle, fetched_at) AS handle, count(*) AS snapshots,"
        " min(fetched_at) AS first_seen, max(fetched_at) AS last_seen,"
        " arg_min(followers_count, fetched_at) AS followers_first,"
        " arg_max(followers_count, fetched_at) AS followers_last"
        " FROM author_snapshots GROUP BY id HAVING count(*) > 1"
    )
    .with_columns(
        (pl.col("followers_last") - pl.col("followers_first")).alias("gained"),
        (pl.col("followers_last") / pl.col("followers_first") - 1).alias("growth"),
    )
    .sort("growth", descending=True)
)
print(f"{growth.height} authors with more than one snapshot")
if growth.height:
    shown = pl.concat([growth.head(10), growth.tail(5)]).unique(
        "id", keep="first", maintain_order=True
    )
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.3 * shown.height))
    ax.barh(
        shown["handle"].to_list()[::-1],
        (shown["growth"] * 100).to_list()[::-1],
        color=["#2e7d32" if g >= 0 else "#c62828" for g in shown["growth"].to_list()[::-1]],
    )
    ax.axvline(0, color="#555", linewidth=0.8)
    ax.set_xlabel("follower growth, first to last snapshot (%)")
    ax.set_title("Fastest growing (and shrinking) authors")
    plt.show()
growth.head(20)

# %% [markdown]
# ## Not-found and suspended rates per seed file
#
# From `handle_outcomes`, each handle's latest outcome per seed file: a file with many
# not-found handles holds typos or renamed accounts.

# %%
rates = sql(
    "WITH latest AS (SELECT o.seed_file, o.outcome"
    "  FROM handle_outcomes o JOIN runs r USING (run_id)"
    "  QUALIFY row_number() OVER (PARTITION BY o.seed_file, o.handle_key"
    "    ORDER BY r.started_at DESC) = 1)"
    " SELECT seed_file, count(*) AS handles,"
    "  avg((outcome = 'not_found')::INT) AS not_found_rate,"
    "  avg((outcome = 'suspended')::INT) AS suspended_rate,"
    "  avg((outcome IN ('invalid', 'failed'))::INT) AS invalid_or_failed_rate"
    " FROM latest GROUP BY seed_file ORDER BY seed_file"
)
fig, ax = plt.subplots(figsize=(8, 0.8 + 0.45 * max(rates.height, 1)))
names = rates["seed_file"].fill_null("(none)").to_list()
positions = range(len(names))
ax.barh(
    [p + 0.2 for p in positions],
    (rates["not_found_rate"] * 100).to_list(),
    height=0.4,
    label="not found",
    color="#64b5f6",
)
ax.barh(
    [p - 0.2 for p in positions],
    (rates["suspended_rate"] * 100).to_list(),
    height=0.4,
    label="suspended",
    color="#1565c0",
)
ax.set_yticks(list(positions), names)
ax.set_xlabel("% of the file's handles")
ax.legend(frameon=False)
ax.set_title("Not found and suspended, per seed file")
plt.show()
rates

# %%
con.close()
