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
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from influx_etl import lookup
from influx_etl.errors import ConfigError
from influx_etl.rules.brand import brand_flagged
from influx_etl.rules.models import BrandRules, RiskRules
from influx_etl.rules.risk import risk_flagged
from influx_etl.sources import PrefetchedSource

__all__ = [
    "DECISIONS",
    "HOLDOUT_PERCENT",
    "LABELS_SCHEMA",
    "SPLITS",
    "Score",
    "labelled_decisions",
    "load_labels",
    "population_profiles",
    "scores",
    "split_of",
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
        "handle_key", "outcome", "is_org", "risk_excluded"
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


def scores(decided: pl.DataFrame) -> list[Score]:
    """Precision and recall counts of each decision on ``tune``, ``holdout`` and ``all``."""
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
        for split in (*SPLITS, "all"):
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
