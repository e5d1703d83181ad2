"""The funnel: one ``decision`` per looked-up handle, in the order threshold → brand → risk.

- ``outcome != "found"``: the outcome itself (``not_found``, ``suspended``...).
- ``below_threshold``: not ``passes_threshold`` (see :mod:`influx_etl.threshold`).
- ``brand``: ``is_org`` (blacklisted handles included) unless brands are allowed.
- ``risk``: excluded by the risk rules once the allowed flags are ignored: an auto-excluding
  category whose flag is not allowed matched, or the flags that are not allowed reach
  ``risk_multi_flag_threshold``. With nothing allowed this is exactly ``risk_excluded``.
- ``kept``: everything else.
"""

from __future__ import annotations

import polars as pl

__all__ = ["DECISIONS", "DECISION_COLUMNS", "decided"]

DECISIONS = ("kept", "below_threshold", "brand", "risk")
"""Decisions of found profiles; the other rows carry their lookup outcome."""

DECISION_COLUMNS = pl.Schema({"decision": pl.String})


def _without(flags: pl.Expr, allowed: list[str]) -> pl.Expr:
    if not allowed:
        return flags
    return flags.list.eval(pl.element().filter(~pl.element().is_in(allowed)))


def decided(profiles: pl.DataFrame, allow_brands: bool, allow_risk: frozenset[str]) -> pl.DataFrame:
    """``profiles`` with ``decision`` added.

    Needs the columns of :func:`~influx_etl.threshold.thresholded`,
    :func:`~influx_etl.rules.brand.brand_flagged` and :func:`~influx_etl.rules.risk.risk_flagged`.
    ``allow_risk`` holds flag names that do not exclude (``--allow-risk political``).
    """
    allowed = sorted(allow_risk)
    flags_left = _without(
        pl.col("risk_flags").fill_null(pl.lit([], dtype=pl.List(pl.String))), allowed
    )
    excluding_left = _without(
        pl.col("risk_excluding_flags").fill_null(pl.lit([], dtype=pl.List(pl.String))), allowed
    )
    risk_out = (excluding_left.list.len() > 0) | (
        flags_left.list.len() >= pl.col("risk_multi_flag_threshold")
    ).fill_null(False)
    brand_out = pl.col("is_org").fill_null(False) & pl.lit(not allow_brands)
    decision = (
        pl.when((pl.col("outcome") != "found").fill_null(True))
        .then(pl.col("outcome"))
        .when(~pl.col("passes_threshold").fill_null(False))
        .then(pl.lit("below_threshold"))
        .when(brand_out)
        .then(pl.lit("brand"))
        .when(risk_out)
        .then(pl.lit("risk"))
        .otherwise(pl.lit("kept"))
    )
    return profiles.with_columns(decision=decision)
