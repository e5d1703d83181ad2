"""The vectorised stages against a plain per-profile implementation of the same rules
(``tests/rules/reference.py``): every matched rule, the confidence, every flag and both decisions
must agree, on real profiles, on synthetic ones and on profiles made to hit the corner cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from influx_etl.apisim.synthetic import synthetic_profiles
from influx_etl.rules import (
    BrandRules,
    DomainPattern,
    KeywordCategory,
    RatioHeuristics,
    RiskRules,
    brand_flagged,
    risk_flagged,
)
from tests.factories import load_users, profiles_frame
from tests.rules.profiles import not_found, profiles, user
from tests.rules.reference import ReferenceBrand, ReferenceRisk

CORNER_CASES = [
    user("GitHubSupport", name="Octo", description="For support, DM us"),
    user("numpy_team", name="NumPy", description="Official account of NumPy.", following=11),
    user("hugging_face_hq", name="HF", description="We're a platform"),
    user("player1", name="Team Liquid player", description="Pro Valorant player. Streaming."),
    user("doeinc", name="John Doe Inc", description="Managed by my agent", verified_type="blue"),
    user("xinc", name="Incredible Income", description="company news outlet daily"),
    user("zh", name="某某科技官方账号", description="官方推特"),
    user("kelvin", name="\u212aaggle fans", description="İNC news"),
    user("mail", description="Mail kate@nytimes.com or see platformer.news and bit.ly/x"),
    user("entity", url="https://t.co/abc", links=("https://shop.example.com/a", "https://x.gov")),
    user("wrapped", url="HTTPS://T.CO/abc", description="hey.com."),
    user("files", description="Built with Next.js; docs in README.md; site www.stanford.edu"),
    user("ratio", description="The official account of Acme", followers=900_000, following=0),
    user("jane48213377", name="#AI #ML #Crypto Jane 🚨🚨🚨", description="⚠️⚠️⚠️ follow back"),
    user("legacy", description="Parody account", verified=True, verified_type=None),
    user("legacy2", description="Parody. 18+ only", verified=True, verified_type="none"),
    user("senator_x", name="Senator Jane Roe", description="dm for money. crypto giveaway"),
    user("empty", name="", description=""),
    user("nulls", name=None, description=None),
    user("gov", verified_type="government", description="Official page"),
    user("AWSCloud", name="Cloud news"),
    user("Ninja", name="Ninja Official Store", description="Official account"),
    user("minister_a", name="Minister Ann Lee", description="I write about policy"),
    user("janedoe", name="Jane Doe", description="Official account of Jane Doe, founder of Acme"),
    user("dr_lee", name="Dr. Leah Lee", description="My lab builds open source docs"),
    user("acme_sdk", name="Acme SDK", description="We ship the SDK. Join us! Release notes: docs"),
    user("Acme_Group", name="Acme Group", description="Our community newsletter"),
    user("team_acme", name="scagnet sylvain", description="parody account, not affiliated"),
    user("acme_esports", name="Acme Esports", description="Hacked. Do not click any links"),
    user("Cloud9", name="Cloud9", description="we are 🚀 news", verified_type="business"),
]


def _compare(frame: pl.DataFrame, brand: BrandRules, risk: RiskRules) -> None:
    reference_brand, reference_risk = ReferenceBrand(brand), ReferenceRisk(risk)
    decided = risk_flagged(brand_flagged(frame, brand), risk)
    disagreements: list[str] = []
    for row in decided.iter_rows(named=True):
        expected_brand, expected_risk = reference_brand(row), reference_risk(row)
        got: tuple[Any, ...]
        want: tuple[Any, ...]
        if expected_brand is None or expected_risk is None:
            got = (row["is_org"], row["risk_excluded"], row["brand_matches"])
            want = (None, None, None)
        else:
            assert len(set(row["brand_matches"])) == len(row["brand_matches"])
            assert len(set(row["risk_matches"])) == len(row["risk_matches"])
            got = (
                frozenset(row["brand_matches"]),
                round(row["brand_confidence"], 9),
                row["is_org"],
                row["is_official"],
                row["brand_exception"],
                frozenset(row["risk_matches"]),
                tuple(row["risk_flags"]),
                row["risk_excluded"],
                tuple(row["risk_excluding_flags"]),
                row["risk_multi_flag_threshold"],
            )
            want = (
                expected_brand.matches,
                expected_brand.confidence,
                expected_brand.is_org,
                expected_brand.is_official,
                expected_brand.exception,
                expected_risk.matches,
                expected_risk.flags,
                expected_risk.excluded,
                expected_risk.excluding,
                expected_risk.threshold,
            )
        if got != want:
            disagreements.append(f"@{row['username']}: stage {got} != reference {want}")
    assert not disagreements, "\n".join(disagreements[:10])


def _everything_on(brand: BrandRules, risk: RiskRules) -> tuple[BrandRules, RiskRules]:
    """Both files with every optional rule switched on, and overlapping keywords added."""
    brand = replace(
        brand,
        name_keywords=(
            *brand.name_keywords,
            KeywordCategory("overlaps", ("google cloud", "cloud flare", "hugging face")),
        ),
        domain_patterns=(
            *brand.domain_patterns,
            DomainPattern(r"\.(gov|mil)$", "government_domain", ("usa.gov",)),
        ),
        ratio_heuristics=RatioHeuristics(high_ratio_threshold=50, zero_following_flag=True),
    )
    risk = replace(
        risk,
        processing_rules=replace(
            risk.processing_rules, multi_flag_threshold=2, verified_legacy_override=True
        ),
    )
    return brand, risk


@pytest.fixture(scope="module")
def synthetic() -> pl.DataFrame:
    return profiles_frame(synthetic_profiles(3_000), origin="synthetic")


@pytest.fixture(scope="module")
def corner_cases() -> pl.DataFrame:
    return pl.concat([profiles(*CORNER_CASES), not_found("gone"), not_found("banned", "suspended")])


@pytest.mark.parametrize("which", ["own", "original", "everything_on"])
def test_real_profiles_agree(
    shared_real_users: Path,
    brand_rules: BrandRules,
    risk_rules: RiskRules,
    original_brand_rules: BrandRules,
    original_risk_rules: RiskRules,
    which: str,
) -> None:
    rules = {
        "own": (brand_rules, risk_rules),
        "original": (original_brand_rules, original_risk_rules),
        "everything_on": _everything_on(brand_rules, risk_rules),
    }[which]
    _compare(profiles_frame(load_users(shared_real_users)), *rules)


@pytest.mark.parametrize("which", ["own", "everything_on"])
def test_synthetic_profiles_agree(
    synthetic: pl.DataFrame, brand_rules: BrandRules, risk_rules: RiskRules, which: str
) -> None:
    rules = (brand_rules, risk_rules)
    _compare(synthetic, *(rules if which == "own" else _everything_on(*rules)))


def test_synthetic_profiles_agree_under_the_original_rules(
    synthetic: pl.DataFrame, original_brand_rules: BrandRules, original_risk_rules: RiskRules
) -> None:
    _compare(synthetic, original_brand_rules, original_risk_rules)


@pytest.mark.parametrize("which", ["own", "everything_on"])
def test_corner_cases_agree(
    corner_cases: pl.DataFrame, brand_rules: BrandRules, risk_rules: RiskRules, which: str
) -> None:
    rules = (brand_rules, risk_rules)
    _compare(corner_cases, *(rules if which == "own" else _everything_on(*rules)))


def test_the_corner_cases_do_hit_the_rules(
    corner_cases: pl.DataFrame, brand_rules: BrandRules, risk_rules: RiskRules
) -> None:
    # the comparison above means something only if the cases exercise the rules
    brand, risk = _everything_on(brand_rules, risk_rules)
    decided = risk_flagged(brand_flagged(corner_cases, brand), risk)
    kinds = {
        match.split(":")[0] if not match.startswith("risk:") else match.split(":")[2]
        for matches in [*decided["brand_matches"], *decided["risk_matches"]]
        if matches is not None
        for match in matches
    }
    assert {
        "name_kw",
        "bio_kw",
        "domain",
        "verification",
        "ratio",
        "blacklist",
        "bio",
        "name",
        "name_pattern",
        "emoji",
        "hashtags",
        "review",
        "handle_mismatch",
        "signal",
    } <= kinds
    signals = {
        match.split(":")[1]
        for matches in decided["brand_matches"]
        if matches is not None
        for match in matches
    }
    assert {
        "person_name",
        "own_account",
        "organisation_name",
        "software",
        "publication",
        "plural_voice",
        "singular_voice",
    } <= signals
