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
# # Rules audit
#
# Which brand and risk rules fire, how often, and on whom; the authors closest to the brand
# threshold on either side; and a random QA sample to review by hand (the same draw as
# `influx qa-sample --seed`, so it can be written out and recorded).
#
# Each handle counts once, with its latest outcome (`handle_outcomes` of the newest run that
# looked it up). Read-only; the dataset is found as in `explore_dataset` (`INFLUX_DATASET`
# overrides it, `INFLUX_QA_SEED` picks the sample).

# %%
import os
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import polars as pl
from matplotlib.ticker import MaxNLocator

from influx_etl.rules import load_brand_rules
from influx_etl.tools.notebook import located_dataset, project_root
from influx_etl.tools.qa import qa_sample

REPO = project_root(Path.cwd())
DATASET = located_dataset(REPO, os.environ.get("INFLUX_DATASET"))
QA_SEED = int(os.environ.get("INFLUX_QA_SEED", "0"))
con = duckdb.connect(str(DATASET), read_only=True)
pl.Config.set_tbl_rows(30)
pl.Config.set_fmt_str_lengths(60)
plt.rcParams.update(
    {"figure.figsize": (8, 3.5), "axes.spines.top": False, "axes.spines.right": False}
)
print(f"dataset {DATASET}")


def sql(query: str, *params: object) -> pl.DataFrame:
    return con.sql(query, params=list(params) or None).pl()


latest = sql(
    "SELECT o.* FROM handle_outcomes o JOIN runs r USING (run_id) WHERE o.outcome = 'found'"
    " QUALIFY row_number() OVER (PARTITION BY o.handle_key ORDER BY r.started_at DESC) = 1"
)
print(f"{latest.height} distinct handles found, by their latest lookup")

# %% [markdown]
# ## Brand rules: how often each fires
#
# A rule is `kind:category:keyword` (`name_kw`, `bio_kw`, `domain`, `verification`, `ratio`,
# `blacklist`). Colour: how the handle ended. A rule that fires mostly on kept handles fires
# without flagging (its weight alone stays under the threshold); one that fires on brands does
# the work.

# %%
DECISIONS = {
    "kept": "#2e7d32",
    "below_threshold": "#9e9e9e",
    "brand": "#ef6c00",
    "risk": "#c62828",
    "banned": "#4a148c",
}


def firing(matches: str) -> pl.DataFrame:
    """handle count per matched rule and decision, most frequent rules first."""
    fired = (
        latest.select("handle", "decision", pl.col(matches).alias("rule"))
        .explode("rule")
        .drop_nulls("rule")
    )
    per_rule = fired.pivot(
        on="decision", index="rule", values="handle", aggregate_function="len"
    ).fill_null(0)
    decisions = [d for d in DECISIONS if d in per_rule.columns]
    return per_rule.with_columns(pl.sum_horizontal(decisions).alias("handles")).sort(
        ["handles", "rule"], descending=[True, False]
    )


def firing_chart(table: pl.DataFrame, title: str, top: int = 25) -> None:
    if table.is_empty():
        print(f"{title}: no rule fired")
        return
    shown = table.head(top).reverse()
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.28 * shown.height), layout="constrained")
    left = [0] * shown.height
    for decision, colour in DECISIONS.items():
        if decision in shown.columns:
            values = shown[decision].to_list()
            ax.barh(shown["rule"].to_list(), values, left=left, color=colour, label=decision)
            left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("handles (latest lookup of each)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside lower center", ncols=len(DECISIONS), frameon=False)
    ax.set_title(title)
    plt.show()


brand_firing = firing("brand_matches")
firing_chart(brand_firing, "Brand rules that fired")
brand_firing

# %%
(
    brand_firing.with_columns(pl.col("rule").str.split(":").list.first().alias("kind"))
    .group_by("kind")
    .agg(pl.col("handles").sum(), pl.len().alias("rules"))
    .sort("handles", descending=True)
)

# %% [markdown]
# ## Risk rules: how often each fires

# %%
risk_firing = firing("risk_matches")
firing_chart(risk_firing, "Risk rules that fired")
risk_firing

# %% [markdown]
# ## Closest to the brand threshold, on either side
#
# `brand_confidence` against `confidence_weights.flag_threshold` of the brand rules the newest
# run used: just under it (kept, nearly flagged) and just over it (flagged, nearly kept). These
# are the authors a change of weights moves.

# %%
args = sql("SELECT args::VARCHAR AS args FROM runs ORDER BY started_at DESC LIMIT 1")
rules_path = Path(
    args["args"].str.json_path_match("$.brand_rules")[0] or "lists/rules/brand_heuristics.yml"
)
rules_path = rules_path if rules_path.is_absolute() else REPO / rules_path
threshold = load_brand_rules(rules_path).confidence_weights.flag_threshold
print(f"brand rules {rules_path} — flag_threshold {threshold}")

scored = latest.filter(pl.col("passes_threshold")).with_columns(
    (pl.col("brand_confidence") - threshold).alias("distance")
)
columns = [
    "handle",
    "followers_count",
    "brand_confidence",
    "distance",
    "is_org",
    "decision",
    "brand_matches",
]
matched = scored.filter(pl.col("brand_confidence") > 0)
top = max([threshold, *matched["brand_confidence"].to_list()]) + 0.1
fig, ax = plt.subplots()
ax.hist(
    matched["brand_confidence"].to_list(),
    bins=[i / 20 for i in range(int(top * 20) + 2)],
    color="#1976d2",
)
ax.axvline(threshold, color="#c62828", linestyle="--", label=f"flag_threshold {threshold}")
ax.set_xlabel("brand_confidence")
ax.set_ylabel("handles")
ax.yaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend(frameon=False)
ax.set_title(
    f"Brand confidence of the {matched.height} handles above the entry threshold that matched"
    f" a brand rule ({scored.height - matched.height} matched none)",
    fontsize="medium",
)
plt.show()

# %%
print("just under the threshold (kept unless blacklisted):")
scored.filter((pl.col("distance") < 0) & (pl.col("brand_confidence") > 0)).sort(
    "distance", descending=True
).select(columns).head(10)

# %%
print("at or over the threshold:")
scored.filter(pl.col("distance") >= 0).sort("distance").select(columns).head(10)

# %% [markdown]
# ## A random QA sample to review by hand
#
# The same draw as `influx qa-sample --n 20 --seed QA_SEED`: write it with that command, fill
# in `verdict` (individual, brand, risky, unsure) and `note`, and record it with
# `influx qa-sample --record FILE`.

# %%
authors = sql("SELECT * FROM authors")
sample = qa_sample(authors, 20, seed=QA_SEED)
sample.drop("verdict", "note")

# %% [markdown]
# ## Verdicts recorded so far
#
# A kept author judged `brand` or `risky` is a rule that missed; `individual` with brand rules
# matched shows a rule that fires on people.

# %%
has_verdicts = sql(
    "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'qa_verdicts'"
)["n"][0]
if has_verdicts:
    verdicts = sql(
        "SELECT handle, verdict, note, brand_matches, brand_confidence, risk_flags, recorded_at"
        " FROM qa_verdicts QUALIFY row_number() OVER (PARTITION BY handle_key"
        "   ORDER BY recorded_at DESC) = 1 ORDER BY verdict, handle"
    )
    print(verdicts.group_by("verdict").len().sort("len", descending=True))
    missed = verdicts.filter(pl.col("verdict").is_in(["brand", "risky"]))
    print(f"{missed.height} kept authors judged brand or risky (rules that missed):")
    display(missed)  # noqa: F821 - IPython's display
else:
    print("no verdict recorded yet (influx qa-sample --record FILE)")

# %%
con.close()
