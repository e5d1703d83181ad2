"""Both stages in one pass give exactly what the two stages give one after the other."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from influx_etl.apisim.synthetic import synthetic_profiles
from influx_etl.rules import BrandRules, RiskRules, brand_flagged, flagged, risk_flagged
from tests.factories import load_users, profiles_frame
from tests.rules.profiles import not_found


def test_one_pass_equals_the_two_stages(brand_rules: BrandRules, risk_rules: RiskRules) -> None:
    frame = pl.concat(
        [
            profiles_frame(synthetic_profiles(2_000), origin="synthetic"),
            not_found("gone"),
            not_found("banned", "suspended"),
        ]
    )
    assert_frame_equal(
        flagged(frame, brand_rules, risk_rules),
        risk_flagged(brand_flagged(frame, brand_rules), risk_rules),
    )


def test_one_pass_on_real_profiles_under_the_original_rules(
    shared_real_users: Path, original_brand_rules: BrandRules, original_risk_rules: RiskRules
) -> None:
    frame = profiles_frame(load_users(shared_real_users))
    one_pass = flagged(frame, original_brand_rules, original_risk_rules)
    assert one_pass.columns[: frame.width] == frame.columns
    assert_frame_equal(
        one_pass,
        risk_flagged(brand_flagged(frame, original_brand_rules), original_risk_rules),
    )
