"""Both rule stages in one pass: what the pipeline runs.

The brand and risk stages share their cheap pass over every row (the lower-cased bio, the link
test are made once) and their detailed parts run together, in parallel; the result is exactly
``risk_flagged(brand_flagged(profiles, brand), risk)``.
"""

from __future__ import annotations

import polars as pl

from influx_etl.rules._stage import run
from influx_etl.rules.brand import brand_stage
from influx_etl.rules.models import BrandRules, RiskRules
from influx_etl.rules.risk import risk_stage

__all__ = ["flagged"]


def flagged(profiles: pl.DataFrame, brand: BrandRules, risk: RiskRules) -> pl.DataFrame:
    """``profiles`` (``PROFILES_SCHEMA``) with ``BRAND_COLUMNS`` and ``RISK_COLUMNS`` added."""
    return run(profiles, [brand_stage(brand), risk_stage(risk)])
