"""The funnel: threshold → brand → risk → kept, with the allow lists."""

from __future__ import annotations

import polars as pl
import pytest

from influx_etl.config import Thresholds
from influx_etl.rules import BrandRules, RiskRules, brand_flagged, decided, risk_flagged
from influx_etl.threshold import thresholded
from tests.rules.profiles import not_found, profiles, user


@pytest.fixture
def evaluated(brand_rules: BrandRules, risk_rules: RiskRules) -> pl.DataFrame:
    frame = pl.concat(
        [
            profiles(
                user("person", description="Writes about AI."),
                user("tiny", followers=1_000, verified_type="business"),
                user("brand", name="Acme Store", description="Official account of Acme."),
                user("GitHub", name="Octo"),
                user("brandy_spam", name="Acme Store", description="Official account of it. nsfw"),
                user("nsfw", description="nsfw stuff"),
                user("politician", name="Senator Jane Roe", description="nsfw too"),
                user("noisy", description="Conspiracy! Parody account."),
            ),
            not_found("nobody"),
            not_found("banned", "suspended"),
        ]
    )
    return risk_flagged(brand_flagged(thresholded(frame, Thresholds()), brand_rules), risk_rules)


def _decisions(
    frame: pl.DataFrame, allow_brands: bool = False, allow_risk: frozenset[str] = frozenset()
) -> dict[str, str]:
    out = decided(frame, allow_brands, allow_risk)
    return dict(zip(out["handle_key"], out["decision"], strict=True))


def test_the_funnel_order(evaluated: pl.DataFrame) -> None:
    assert _decisions(evaluated) == {
        "person": "kept",
        "tiny": "below_threshold",  # an organisation, but the threshold comes first
        "brand": "brand",
        "github": "brand",  # blacklisted
        "brandy_spam": "brand",  # brand before risk
        "nsfw": "risk",
        "politician": "risk",
        "noisy": "risk",  # two flags that do not exclude on their own
        "nobody": "not_found",
        "banned": "suspended",
    }


def test_allowing_brands_sends_them_on_to_the_risk_rules(evaluated: pl.DataFrame) -> None:
    decisions = _decisions(evaluated, allow_brands=True)
    assert decisions["brand"] == decisions["github"] == "kept"
    assert decisions["brandy_spam"] == "risk"
    assert decisions["tiny"] == "below_threshold"


def test_an_allowed_flag_no_longer_excludes(evaluated: pl.DataFrame) -> None:
    decisions = _decisions(evaluated, allow_risk=frozenset({"nsfw"}))
    assert decisions["nsfw"] == "kept"
    # still political, which excludes on its own
    assert decisions["politician"] == "risk"
    both = _decisions(evaluated, allow_risk=frozenset({"nsfw", "political"}))
    assert both["politician"] == "kept"


def test_allowing_one_of_two_flags_drops_below_the_multi_flag_threshold(
    evaluated: pl.DataFrame,
) -> None:
    assert _decisions(evaluated, allow_risk=frozenset({"impersonation_risk"}))["noisy"] == "kept"
    assert _decisions(evaluated, allow_risk=frozenset({"unknown"}))["noisy"] == "risk"


def test_decided_keeps_every_row_and_column(evaluated: pl.DataFrame) -> None:
    out = decided(evaluated, False, frozenset())
    assert out.height == evaluated.height
    assert out.columns == [*evaluated.columns, "decision"]
