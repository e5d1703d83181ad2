"""The brand and risk stages on many profiles, against the per-profile Python loop.

``make bench`` runs the vectorised stages on 1,000,000 profiles and the loop on at most
:data:`LOOP_PROFILES` of them (it takes minutes per million); pytest-benchmark's ``extra_info``
records the per-profile rate of each, the README gives the figures. Nothing here asserts a time.
"""

from __future__ import annotations

import polars as pl
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from influx_etl.rules import (
    BrandRules,
    RiskRules,
    flagged,
    load_brand_rules,
    load_risk_rules,
)
from tests.rules.conftest import OWN_BRAND, OWN_RISK
from tests.rules.reference import ReferenceBrand, ReferenceRisk, evaluate

LOOP_PROFILES = 20_000


@pytest.fixture(scope="module")
def brand_rules() -> BrandRules:
    return load_brand_rules(OWN_BRAND)


@pytest.fixture(scope="module")
def risk_rules() -> RiskRules:
    return load_risk_rules(OWN_RISK)


def test_brand_and_risk_stages_vectorised(
    benchmark: BenchmarkFixture,
    bench_profiles: pl.DataFrame,
    brand_rules: BrandRules,
    risk_rules: RiskRules,
) -> None:
    # compile the expressions outside the timing, as a run does once per rules file
    flagged(bench_profiles.head(10), brand_rules, risk_rules)
    decided = benchmark.pedantic(
        flagged, args=(bench_profiles, brand_rules, risk_rules), rounds=5, iterations=1
    )
    benchmark.extra_info["profiles"] = bench_profiles.height
    assert decided.height == bench_profiles.height
    assert 0 < decided["is_org"].sum() < decided.height
    assert 0 < decided["risk_excluded"].sum() < decided.height


def test_per_profile_python_loop(
    benchmark: BenchmarkFixture,
    bench_profiles: pl.DataFrame,
    brand_rules: BrandRules,
    risk_rules: RiskRules,
) -> None:
    sample = bench_profiles.head(LOOP_PROFILES)
    rows = sample.to_dicts()
    brand, risk = ReferenceBrand(brand_rules), ReferenceRisk(risk_rules)
    results = benchmark.pedantic(evaluate, args=(rows, brand, risk), rounds=1, iterations=1)
    benchmark.extra_info["profiles"] = len(rows)
    # the loop and the stages decide alike on every profile timed
    decided = flagged(sample, brand_rules, risk_rules)
    expected = [(b.is_org if b else None, r.excluded if r else None) for b, r in results]
    assert list(zip(decided["is_org"], decided["risk_excluded"], strict=True)) == expected
