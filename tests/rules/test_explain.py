"""Explanations of a decision, from a stored ``handle_outcomes`` row and the run's settings."""

from __future__ import annotations

import json
from typing import Any

from influx_etl.rules import LEGACY_OVERRIDE_MATCH, BrandRules, RiskRules
from influx_etl.rules.explain import explanation

RUN = {
    "run_id": "20251124T100000Z-abc123",
    "started_at": "2025-11-24T10:00:00Z",
    "source": "x-api",
    "args": json.dumps(
        {"min_followers": 50_000, "verified_min_followers": 30_000, "allow_risk": ["controversy"]}
    ),
}


def _outcome(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "handle_key": "acmewire",
        "username": "AcmeWire",
        "outcome": "found",
        "outcome_detail": None,
        "followers_count": 2_000_000,
        "is_verified": True,
        "passes_threshold": True,
        "brand_matches": [],
        "brand_confidence": 0.0,
        "is_org": False,
        "is_official": False,
        "risk_matches": [],
        "risk_flags": [],
        "risk_excluded": False,
        "decision": "kept",
    }
    row.update(fields)
    return row


def test_a_brand_is_explained_rule_by_rule(brand_rules: BrandRules, risk_rules: RiskRules) -> None:
    lines = explanation(
        _outcome(
            brand_matches=[
                "name_kw:official_indicators:news",
                "name_kw:official_indicators:official",
                "verification:business",
            ],
            brand_confidence=1.6,
            is_org=True,
            decision="brand",
        ),
        RUN,
        brand_rules,
        risk_rules,
    )
    text = "\n".join(lines)
    assert lines[0].startswith("@AcmeWire in run 20251124T100000Z-abc123")
    assert "2,000,000 (verified); threshold (verified AND >= 30,000) OR >= 50,000: passes" in text
    assert "confidence 1.6 vs flag_threshold 0.7 → organisation (is_org)" in text
    assert "name_kw:official_indicators:news" in text and "+0.6 (name keyword)" in text
    assert "+0 (name keyword: each kind counts once)" in text
    assert "+1 (organisation verification)" in text
    assert "the file changed" not in text
    assert lines[-1].startswith("decision:   brand — DROPPED: the brand rules flag it")


def test_a_confidence_the_current_weights_do_not_give_is_pointed_out(
    brand_rules: BrandRules, risk_rules: RiskRules
) -> None:
    lines = explanation(
        _outcome(brand_matches=["bio_kw:organizational:dm us"], brand_confidence=0.5),
        RUN,
        brand_rules,
        risk_rules,
    )
    assert any("add up to 0.4, the run stored 0.5: the file changed" in line for line in lines)


def test_risk_flags_say_which_exclude(brand_rules: BrandRules, risk_rules: RiskRules) -> None:
    lines = explanation(
        _outcome(
            risk_matches=["risk:spam:bio:follow back", "risk:controversy:bio:conspiracy"],
            risk_flags=["controversy", "spam"],
            risk_excluded=True,
            decision="risk",
        ),
        RUN,
        brand_rules,
        risk_rules,
    )
    text = "\n".join(lines)
    assert "flags controversy, spam → excluded" in text
    assert "→ spam (high, auto_exclude)" in text
    assert "→ controversy (medium, does not exclude alone, allowed by --allow-risk)" in text
    assert "multi_flag_threshold 2: 1 flag(s) counted → not reached" in text
    assert "allowed by the run (--allow-risk): controversy" in text


def test_the_legacy_override_and_exceptions_are_named(
    brand_rules: BrandRules, risk_rules: RiskRules
) -> None:
    lines = explanation(
        _outcome(
            username="Ninja",
            risk_matches=["risk:impersonation:bio:parody", LEGACY_OVERRIDE_MATCH],
            risk_flags=["impersonation_risk"],
        ),
        RUN,
        brand_rules,
        risk_rules,
    )
    text = "\n".join(lines)
    assert "listed under exceptions: never flagged" in text
    assert "legacy-verified with one low-severity flag → manual review" in text


def test_a_handle_that_was_not_found(brand_rules: BrandRules, risk_rules: RiskRules) -> None:
    lines = explanation(
        _outcome(
            outcome="suspended", outcome_detail="User has been suspended", decision="suspended"
        ),
        RUN,
        brand_rules,
        risk_rules,
    )
    assert lines[1] == "outcome:    suspended — User has been suspended"
    assert "not evaluated" in lines[-1] and len(lines) == 3


def test_without_the_rules_files_the_matches_are_still_listed() -> None:
    lines = explanation(
        _outcome(brand_matches=["domain:media_domain"], brand_confidence=0.8, is_org=True),
        RUN,
        None,
        None,
    )
    assert "  domain:media_domain" in lines
