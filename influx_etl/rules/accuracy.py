"""Measured accuracy: the brand and risk decisions against hand labels of real profiles.

A labels file is CSV with the columns ``handle, is_brand, is_risky, split, reason``: ``is_brand``
is 1 for an organisation, brand, media outlet or official account and 0 for an individual;
``is_risky`` is 1 for an account the risk rules should exclude (spam, scam, NSFW, politician,
undisclosed impersonation...); ``reason`` says briefly why. ``split`` is ``holdout`` for about 30 %
of the handles, chosen by a fixed hash of the lower-case handle (:func:`split_of`), else ``tune``:
rule files are tuned looking at the ``tune`` part only, and the ``holdout`` part tells whether the
tuning generalises.

The *brand decision* is ``is_org`` (blacklist and exceptions included), the *risk decision* is
``risk_excluded`` with no flag allowed; each is measured on every labelled profile, whatever its
follower count (the entry threshold is not what is measured here).

Precision and recall come with 95 % Wilson score intervals (:func:`wilson`): on a few dozen
organisations a point figure alone says little. :func:`kind_contributions` tells, for each kind
of rule (``name_kw``, ``signal:person_name``, ``risk:spam:bio``...), in how many true positives,
false positives and false negatives it took part: what a curator reads before changing a weight.

:func:`verdict_labels` turns the QA verdicts curators recorded in a dataset (``influx qa-sample
--record``) into labels (split ``verdicts``): ``brand`` is an organisation, ``risky`` an account
to exclude, ``individual`` neither; ``unsure`` is not scored. :func:`dataset_profiles` gives
those authors' profiles as stored, for the current rules to decide again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from influx_etl import lookup
from influx_etl.errors import ConfigError, StoreError
from influx_etl.frames import PROFILES_SCHEMA
from influx_etl.rules.brand import brand_flagged
from influx_etl.rules.models import BrandRules, RiskRules
from influx_etl.rules.risk import risk_flagged
from influx_etl.sources import PrefetchedSource

__all__ = [
    "DECISIONS",
    "HOLDOUT_PERCENT",
    "LABELS_SCHEMA",
    "SPLITS",
    "VERDICT_SPLIT",
    "Score",
    "dataset_profiles",
    "kind_contributions",
    "labelled_decisions",
    "load_labels",
    "population_profiles",
    "scores",
    "split_of",
    "verdict_labels",
    "wilson",
]

LABELS_SCHEMA = pl.Schema(
    {
        "handle": pl.String,
        "is_brand": pl.Int64,
        "is_risky": pl.Int64,
        "split": pl.String,
        "reason": pl.String,
    }
)
SPLITS = ("tune", "holdout")
HOLDOUT_PERCENT = 30
DECISIONS = {"brand": ("is_brand", "is_org"), "risk": ("is_risky", "risk_excluded")}
"""Decision → (label column, predicted column)."""
MATCH_COLUMNS = {"brand": "brand_matches", "risk": "risk_matches"}
VERDICT_SPLIT = "verdicts"
Z_95 = 1.959963984540054


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default); None with no trials."""
    if trials <= 0:
        return None
    share = successes / trials
    spread = z * z / trials
    centre = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / trials + spread / (4 * trials)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def split_of(handle: str) -> str:
    """``holdout`` for :data:`HOLDOUT_PERCENT` % of handles (fixed hash of the lower-case handle),
    else ``tune``."""
    digest = int(hashlib.sha256(handle.lower().encode()).hexdigest(), 16)
    return "holdout" if digest % 100 < HOLDOUT_PERCENT else "tune"


def load_labels(path: Path | str) -> pl.DataFrame:
    """Read and check a labels file (:data:`LABELS_SCHEMA`).

    Raises :class:`~influx_etl.errors.ConfigError` naming the file and line of the first bad row:
    a flag that is not 0 or 1, a split that is not the one :func:`split_of` gives the handle (a
    label moved between the parts would leak into tuning), a repeated handle or a missing reason.
    """
    path = Path(path)
    try:
        frame = pl.read_csv(path, schema=LABELS_SCHEMA)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise ConfigError(f"{path}: cannot read the labels ({error})") from None
    # a few hundred hand-written rows, read once: a plain loop names the first bad line
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        where = f"{path}:{number}"
        for flag in ("is_brand", "is_risky"):
            if row[flag] not in (0, 1):
                raise ConfigError(f"{where}: {flag} must be 0 or 1, got {row[flag]!r}")
        handle = row["handle"]
        if not handle:
            raise ConfigError(f"{where}: a handle is required")
        if row["split"] != split_of(handle):
            raise ConfigError(
                f"{where}: @{handle} belongs to the {split_of(handle)!r} split (fixed hash of the "
                f"handle), got {row['split']!r}; valid splits are: {', '.join(SPLITS)}"
            )
        if not (row["reason"] or "").strip():
            raise ConfigError(f"{where}: a short reason is required")
    repeated = frame.filter(pl.col("handle").str.to_lowercase().is_duplicated())["handle"]
    if repeated.len():
        raise ConfigError(f"{path}: handles labelled twice: {', '.join(repeated.unique().sort())}")
    return frame


def population_profiles(population: Path | str, handles: Sequence[str]) -> pl.DataFrame:
    """``handles`` looked up in a file of recorded API user objects, through the same normaliser
    as a live lookup (``PROFILES_SCHEMA``; handles the file lacks are ``not_found``)."""
    batch = PrefetchedSource(Path(population)).fetch_batch(1, list(handles))
    return lookup.profiles(lookup.raw_frame([batch]))


def labelled_decisions(
    labels: pl.DataFrame, profiles: pl.DataFrame, brand: BrandRules, risk: RiskRules
) -> pl.DataFrame:
    """The labels with the predicted ``is_org`` and ``risk_excluded`` of each labelled profile.

    Raises :class:`~influx_etl.errors.ConfigError` when a labelled handle was not found.
    """
    decided = risk_flagged(brand_flagged(profiles, brand), risk).select(
        "handle_key", "outcome", "is_org", "risk_excluded", "brand_matches", "risk_matches"
    )
    joined = labels.with_columns(pl.col("handle").str.to_lowercase().alias("handle_key")).join(
        decided, on="handle_key", how="left"
    )
    missing = joined.filter(pl.col("outcome").fill_null("") != "found")["handle"]
    if missing.len():
        raise ConfigError(
            f"labelled handles missing from the population: {', '.join(missing.to_list())}"
        )
    return joined


@dataclass(frozen=True)
class Score:
    """Counts of one decision on one part of the labels."""

    decision: str
    split: str
    labelled: int
    positives: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None when nothing was predicted positive."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN); None when the part holds no positive label."""
        return self.true_positives / self.positives if self.positives else None

    @property
    def true_negatives(self) -> int:
        return self.labelled - self.true_positives - self.false_positives - self.false_negatives

    @property
    def precision_interval(self) -> tuple[float, float] | None:
        return wilson(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall_interval(self) -> tuple[float, float] | None:
        return wilson(self.true_positives, self.positives)


def scores(decided: pl.DataFrame, splits: Sequence[str] = SPLITS) -> list[Score]:
    """Precision and recall counts of each decision on each of ``splits`` and ``all``."""
    both = pl.concat([decided, decided.with_columns(pl.lit("all").alias("split"))])
    result: list[Score] = []
    for decision, (label, predicted) in DECISIONS.items():
        truth, guess = pl.col(label) == 1, pl.col(predicted).fill_null(False)
        counts = both.group_by("split").agg(
            pl.len().alias("labelled"),
            truth.sum().alias("positives"),
            (truth & guess).sum().alias("tp"),
            (~truth & guess).sum().alias("fp"),
            (truth & ~guess).sum().alias("fn"),
        )
        by_split = {row["split"]: row for row in counts.iter_rows(named=True)}
        for split in (*splits, "all"):
            row = by_split.get(split)
            result.append(
                Score(
                    decision,
                    split,
                    *(
                        (0, 0, 0, 0, 0)
                        if row is None
                        else (row["labelled"], row["positives"], row["tp"], row["fp"], row["fn"])
                    ),
                )
            )
    return result


_ELEMENT = pl.element()
_KIND = (
    pl.when(_ELEMENT.str.starts_with("risk:"))
    .then(_ELEMENT.str.extract(r"^(risk:[^:]*:[^:]*)", 1))
    .when(_ELEMENT.str.starts_with("signal:"))
    .then(_ELEMENT.str.extract(r"^(signal:[^:]*)", 1))
    .otherwise(_ELEMENT.str.extract(r"^([^:]*)", 1))
)
"""A match's rule kind: ``name_kw:official_indicators:team`` → ``name_kw``,
``signal:person_name:jane`` → ``signal:person_name``, ``risk:spam:bio:follow back`` →
``risk:spam:bio``."""


def kind_contributions(decided: pl.DataFrame) -> pl.DataFrame:
    """Per decision, split (and ``all``) and rule kind: the true positives, false positives and
    false negatives whose matches hold that kind (``labelled_decisions`` output)."""
    frames = []
    for decision, (label, predicted) in DECISIONS.items():
        truth, guess = pl.col(label) == 1, pl.col(predicted).fill_null(False)
        long = (
            decided.select(
                "split",
                (truth & guess).alias("tp"),
                (~truth & guess).alias("fp"),
                (truth & ~guess).alias("fn"),
                pl.col(MATCH_COLUMNS[decision]).list.eval(_KIND.unique()).alias("kind"),
            )
            .explode("kind")
            .drop_nulls("kind")
        )
        both = pl.concat([long, long.with_columns(pl.lit("all").alias("split"))])
        frames.append(
            both.group_by("split", "kind")
            .agg(pl.col("tp").sum(), pl.col("fp").sum(), pl.col("fn").sum())
            .with_columns(pl.lit(decision).alias("decision"))
        )
    schema = {"decision": pl.String, "split": pl.String, "kind": pl.String}
    counts = {"tp": pl.UInt32, "fp": pl.UInt32, "fn": pl.UInt32}
    if not frames:
        return pl.DataFrame(schema={**schema, **counts})
    return (
        pl.concat(frames)
        .select("decision", "split", "kind", *(pl.col(c).cast(t) for c, t in counts.items()))
        .filter((pl.col("tp") + pl.col("fp") + pl.col("fn")) > 0)
        .sort("decision", "split", "kind")
    )


def verdict_labels(dataset: Path) -> pl.DataFrame:
    """The QA verdicts of a dataset file as labels (:data:`LABELS_SCHEMA`, split ``verdicts``);
    the newest verdict of an author counts, ``unsure`` ones are left out."""
    frame = _query(
        dataset,
        "SELECT handle, verdict, note FROM qa_verdicts "
        "QUALIFY row_number() OVER (PARTITION BY lower(handle) ORDER BY recorded_at DESC, "
        "line DESC) = 1",
    )
    verdict = pl.col("verdict").str.to_lowercase()
    return (
        frame.filter(verdict.is_in(["brand", "risky", "individual"]))
        .select(
            "handle",
            (verdict == "brand").cast(pl.Int64).alias("is_brand"),
            (verdict == "risky").cast(pl.Int64).alias("is_risky"),
            pl.lit(VERDICT_SPLIT).alias("split"),
            pl.concat_str([pl.lit("verdict "), verdict]).alias("reason"),
        )
        .cast(dict(LABELS_SCHEMA))  # type: ignore[arg-type]
    )


def dataset_profiles(dataset: Path, handles: Sequence[str]) -> pl.DataFrame:
    """The stored authors ``handles`` (``PROFILES_SCHEMA``, ``found``), as the rules read them;
    a handle not in the dataset is left out (:func:`labelled_decisions` names it)."""
    authors = _query(
        dataset,
        "SELECT handle, id, name, description, url, verified, verified_type, followers_count, "
        "following_count, created_at, location FROM authors",
    )
    wanted = [handle.lower() for handle in handles]
    picked = authors.filter(pl.col("handle").str.to_lowercase().is_in(wanted))
    legacy = pl.col("verified").is_in(["legacy"])
    return (
        picked.select(
            *(
                pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in PROFILES_SCHEMA.items()
                if name not in _FROM_AUTHORS
            ),
            pl.col("handle").str.to_lowercase().alias("handle_key"),
            pl.lit("found").alias("outcome"),
            pl.col("id"),
            pl.col("handle").alias("username"),
            "name",
            "description",
            "url",
            (legacy | pl.col("verified").is_in(["blue", "business", "org"])).alias("verified"),
            "verified_type",
            "followers_count",
            "following_count",
            "created_at",
            "location",
        )
        .select(list(PROFILES_SCHEMA))
        .cast(dict(PROFILES_SCHEMA))  # type: ignore[arg-type]
    )


_FROM_AUTHORS = frozenset(
    {
        "handle_key",
        "outcome",
        "id",
        "username",
        "name",
        "description",
        "url",
        "verified",
        "verified_type",
        "followers_count",
        "following_count",
        "created_at",
        "location",
    }
)


def _query(dataset: Path, sql: str) -> pl.DataFrame:
    if not dataset.is_file():
        raise StoreError(f"no dataset at {dataset} (run influx-harvest first, or pass --data-dir)")
    try:
        with duckdb.connect(str(dataset), read_only=True) as con:
            frame: pl.DataFrame = con.sql(sql).pl()
            return frame
    except duckdb.Error as error:
        raise StoreError(f"{dataset}: cannot read the QA verdicts ({error})") from error
