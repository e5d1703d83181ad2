"""The risk stage: every kind of rule, exclusion, and the traps of the original lists."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from influx_etl.rules import (
    LEGACY_OVERRIDE_MATCH,
    RISK_COLUMNS,
    ProcessingRules,
    RiskCategory,
    RiskRules,
    Severity,
    load_risk_rules,
    risk_flagged,
)
from tests.rules.conftest import OWN_RISK
from tests.rules.profiles import not_found, profiles, row, user


def _category(key: str, *, auto_exclude: bool = False, **rules: object) -> RiskCategory:
    return RiskCategory(
        key=key,
        flag_name=f"{key}_flag",
        severity=Severity.MEDIUM,
        auto_exclude=auto_exclude,
        **rules,  # type: ignore[arg-type]
    )


def test_adds_the_risk_columns(risk_rules: RiskRules) -> None:
    flagged = risk_flagged(profiles(user()), risk_rules)
    assert {name: flagged.schema[name] for name in RISK_COLUMNS} == dict(RISK_COLUMNS)
    assert flagged.row(0, named=True)["risk_flags"] == []
    assert flagged.row(0, named=True)["risk_excluded"] is False


def test_bio_keywords_are_case_insensitive_substrings(risk_rules: RiskRules) -> None:
    flagged = risk_flagged(profiles(user("x", description="FOLLOW BACK guaranteed")), risk_rules)
    only = flagged.row(0, named=True)
    assert only["risk_matches"] == ["risk:spam:bio:follow back"]
    assert only["risk_flags"] == ["spam"] and only["risk_excluded"]


def test_name_keywords_match_whole_words(risk_rules: RiskRules) -> None:
    flagged = risk_flagged(
        profiles(
            user("senator_smith", name="Jane Smith"),
            user("x", name="Senatorial history nerd"),
            user("y", name="Prime Minister of Somewhere"),
            user("senator", name="Senator"),
        ),
        risk_rules,
    )
    assert row(flagged, "senator_smith")["risk_flags"] == ["political"]
    assert row(flagged, "x")["risk_matches"] == []
    # a bare title as the whole name and handle is a word handle, not an official
    assert row(flagged, "senator")["risk_matches"] == []
    assert row(flagged, "y")["risk_flags"] == ["political"]


def test_name_patterns_are_tried_on_name_and_username(risk_rules: RiskRules) -> None:
    flagged = risk_flagged(
        profiles(
            user("jane48213377", name="Jane"),
            user("john1984", name="John"),
            user("z", name="ADULT fun"),
        ),
        risk_rules,
    )
    assert row(flagged, "jane48213377")["risk_matches"] == ["risk:spam:name_pattern:\\d{6,}$"]
    assert row(flagged, "john1984")["risk_matches"] == []  # a birth year is not a bot's counter
    assert row(flagged, "z")["risk_matches"] == ["risk:nsfw:name_pattern:\\badult\\b"]


def test_emoji_patterns_match_runs_in_name_or_bio(risk_rules: RiskRules) -> None:
    flagged = risk_flagged(
        profiles(
            user("alarm", name="News 🚨🚨🚨"),
            user("warning", description="⚠️⚠️⚠️ read this"),
            user("two", description="🚨🚨 only two"),
        ),
        risk_rules,
    )
    assert row(flagged, "alarm")["risk_flags"] == ["controversy"]
    assert row(flagged, "warning")["risk_flags"] == ["controversy"]
    assert row(flagged, "two")["risk_flags"] == []
    # controversy flags but does not exclude on its own
    assert not row(flagged, "alarm")["risk_excluded"]


def test_the_originals_warning_pattern_repeats_only_the_variation_selector(
    original_risk_rules: RiskRules,
) -> None:
    flagged = risk_flagged(profiles(user("w", description="⚠️⚠️⚠️ read this")), original_risk_rules)
    assert flagged.row(0, named=True)["risk_flags"] == []


def test_domain_patterns_are_tried_on_whole_links(original_risk_rules: RiskRules) -> None:
    flagged = risk_flagged(
        profiles(
            user("short", links=("https://bit.ly/3abcDEF",)),
            user("direct", url="https://example.com/bit.ly"),
        ),
        original_risk_rules,
    )
    assert row(flagged, "short")["risk_matches"] == ["risk:scam:domain:.*bit\\.ly/.*"]
    assert row(flagged, "short")["risk_excluded"]
    assert row(flagged, "direct")["risk_matches"] == []


@pytest.mark.parametrize(
    ("name", "flagged_as_spam"),
    [("#AI #ML #Crypto Jane", True), ("#AI #ML Jane", False), ("Jane ### fan", False)],
)
def test_excessive_hashtags_in_the_name(
    risk_rules: RiskRules, name: str, flagged_as_spam: bool
) -> None:
    flagged = risk_flagged(profiles(user("x", name=name)), risk_rules)
    assert ("spam" in flagged.row(0, named=True)["risk_flags"]) is flagged_as_spam


def test_auto_exclude_and_the_multi_flag_threshold() -> None:
    rules = RiskRules(
        categories=(
            _category("loud", bio_keywords=("loud",)),
            _category("rude", bio_keywords=("rude",)),
            _category("bad", auto_exclude=True, bio_keywords=("bad",)),
        ),
        processing_rules=ProcessingRules(multi_flag_threshold=2),
    )
    flagged = risk_flagged(
        profiles(
            user("one", description="loud"),
            user("two", description="loud and rude, loud again"),
            user("bad", description="bad"),
        ),
        rules,
    )
    assert row(flagged, "one")["risk_flags"] == ["loud_flag"]
    assert not row(flagged, "one")["risk_excluded"]
    assert row(flagged, "two")["risk_flags"] == ["loud_flag", "rude_flag"]
    assert row(flagged, "two")["risk_excluded"]
    assert row(flagged, "two")["risk_excluding_flags"] == []
    assert row(flagged, "bad")["risk_excluded"]
    assert row(flagged, "bad")["risk_excluding_flags"] == ["bad_flag"]


def test_without_a_multi_flag_threshold_only_auto_exclude_excludes() -> None:
    rules = RiskRules(
        categories=(
            _category("loud", bio_keywords=("loud",)),
            _category("rude", bio_keywords=("rude",)),
        )
    )
    flagged = risk_flagged(profiles(user("two", description="loud and rude")), rules)
    assert flagged.row(0, named=True)["risk_flags"] == ["loud_flag", "rude_flag"]
    assert not flagged.row(0, named=True)["risk_excluded"]


def test_a_keyword_inside_a_longer_one_is_reported_too() -> None:
    rules = RiskRules(
        categories=(
            _category("spam", bio_keywords=("dm for",)),
            _category("scam", auto_exclude=True, bio_keywords=("dm for money",)),
        )
    )
    flagged = risk_flagged(profiles(user("x", description="DM for money!")), rules)
    assert set(flagged.row(0, named=True)["risk_flags"]) == {"spam_flag", "scam_flag"}


def test_a_curators_new_category_applies(tmp_path: Path) -> None:
    document = yaml.safe_load(OWN_RISK.read_text("utf-8"))
    document["gambling"] = {
        "bio_keywords": ["casino bonus"],
        "flag_name": "gambling",
        "severity": "medium",
        "auto_exclude": True,
    }
    path = tmp_path / "risk.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    flagged = risk_flagged(
        profiles(user("x", description="Best Casino Bonus codes")), load_risk_rules(path)
    )
    assert flagged.row(0, named=True)["risk_flags"] == ["gambling"]
    assert flagged.row(0, named=True)["risk_excluded"]


@pytest.mark.parametrize(
    "description",
    [
        "18+ years building distributed systems",
        "Follow me on the stack: essays every week",
        "dm for promo, submissions welcome",
        "Founders: send me your pitch",
        "Helping teams double your productivity",
    ],
)
def test_the_own_lists_avoid_the_originals_false_positives(
    risk_rules: RiskRules, original_risk_rules: RiskRules, description: str
) -> None:
    frame = profiles(user("x", description=description))
    assert risk_flagged(frame, original_risk_rules).row(0, named=True)["risk_excluded"]
    assert risk_flagged(frame, risk_rules).row(0, named=True)["risk_flags"] == []


def test_rows_that_were_not_found_are_not_evaluated(risk_rules: RiskRules) -> None:
    frame = pl.concat([profiles(user("found")), not_found("gone")])
    flagged = risk_flagged(frame, risk_rules)
    gone = flagged.filter(pl.col("outcome") == "not_found").row(0, named=True)
    assert all(gone[name] is None for name in RISK_COLUMNS)


# --------------------------------------------------------------------------------------------------
# links in the bio, emoji, the legacy override


def test_domain_patterns_see_links_written_in_the_bio(original_risk_rules: RiskRules) -> None:
    flagged = risk_flagged(
        profiles(
            user("giveaway", description="Free crypto!! Claim at bit.ly/claim-now"),
            user("mail", description="Contact: press@bit.ly.example"),
        ),
        original_risk_rules,
    )
    assert row(flagged, "giveaway")["risk_matches"] == ["risk:scam:domain:.*bit\\.ly/.*"]
    assert row(flagged, "giveaway")["risk_excluded"]
    assert row(flagged, "mail")["risk_matches"] == []


def test_an_emoji_run_counts_in_the_name_or_in_the_bio_not_across_them(
    risk_rules: RiskRules,
) -> None:
    flagged = risk_flagged(
        profiles(
            user("split", name="Alerts 🚨🚨", description="🚨 breaking"),
            user("selector", name="💀\ufe0f💀\ufe0f💀\ufe0f"),
        ),
        risk_rules,
    )
    assert row(flagged, "split")["risk_flags"] == []
    assert row(flagged, "selector")["risk_flags"] == ["controversy"]


def test_patterns_that_cannot_share_one_alternation_still_apply() -> None:
    # two patterns naming the same group cannot be joined into one regex: each runs on its own
    rules = RiskRules(
        categories=(
            _category(
                "bots",
                auto_exclude=True,
                name_patterns=(r"(?P<n>\d{6,})$", r"^(?P<n>bot)\b"),
            ),
        )
    )
    flagged = risk_flagged(
        profiles(user("jane48213377", name="Jane"), user("x", name="bot army"), user("y")), rules
    )
    assert row(flagged, "jane48213377")["risk_flags"] == ["bots_flag"]
    assert row(flagged, "x")["risk_flags"] == ["bots_flag"]
    assert row(flagged, "y")["risk_flags"] == []


def _override_rules(*, override: bool = True, impersonation_excludes: bool = True) -> RiskRules:
    return RiskRules(
        categories=(
            RiskCategory(
                key="impersonation",
                flag_name="impersonation_risk",
                severity=Severity.LOW,
                auto_exclude=impersonation_excludes,
                bio_keywords=("parody",),
            ),
            RiskCategory(
                key="spam",
                flag_name="spam",
                severity=Severity.HIGH,
                auto_exclude=True,
                bio_keywords=("follow back",),
            ),
        ),
        processing_rules=ProcessingRules(multi_flag_threshold=2, verified_legacy_override=override),
    )


def test_legacy_verified_accounts_with_one_low_flag_go_to_review() -> None:
    legacy = {"verified": True, "verified_type": None}
    flagged = risk_flagged(
        profiles(
            user("legacy", description="Parody of a famous chef.", **legacy),
            user(
                "blue", description="Parody of a famous chef.", verified=True, verified_type="blue"
            ),
            user("noisy", description="Parody. I follow back!", **legacy),
            user("spammy", description="I follow back!", **legacy),
        ),
        _override_rules(),
    )
    legacy_row = row(flagged, "legacy")
    assert legacy_row["risk_matches"] == [
        "risk:impersonation:bio:parody",
        LEGACY_OVERRIDE_MATCH,
    ]
    assert legacy_row["risk_flags"] == ["impersonation_risk"]
    assert not legacy_row["risk_excluded"]
    assert legacy_row["risk_excluding_flags"] == []
    assert legacy_row["risk_multi_flag_threshold"] is None
    # paid verification is not legacy; two flags or a high-severity flag are not "one low flag"
    for excluded in ("blue", "noisy", "spammy"):
        assert row(flagged, excluded)["risk_excluded"], excluded
        assert LEGACY_OVERRIDE_MATCH not in row(flagged, excluded)["risk_matches"]


def test_the_legacy_override_marks_for_review_even_when_nothing_would_exclude() -> None:
    flagged = risk_flagged(
        profiles(user("legacy", description="Parody account", verified=True, verified_type="none")),
        _override_rules(impersonation_excludes=False),
    )
    only = flagged.row(0, named=True)
    assert LEGACY_OVERRIDE_MATCH in only["risk_matches"] and not only["risk_excluded"]
    off = risk_flagged(
        profiles(user("legacy", description="Parody account", verified=True, verified_type="none")),
        _override_rules(override=False),
    )
    assert off.row(0, named=True)["risk_excluded"]
    assert LEGACY_OVERRIDE_MATCH not in off.row(0, named=True)["risk_matches"]


def test_the_shipped_files_apply_the_legacy_override(
    risk_rules: RiskRules, original_risk_rules: RiskRules
) -> None:
    assert risk_rules.processing_rules.verified_legacy_override
    frame = profiles(user("legacy", description="Satire, mostly.", verified=True))
    for rules in (risk_rules, original_risk_rules):
        only = risk_flagged(frame, rules).row(0, named=True)
        assert only["risk_flags"] == ["impersonation_risk"]
        assert only["risk_matches"][-1] == LEGACY_OVERRIDE_MATCH and not only["risk_excluded"]


def test_many_categories_report_their_flags_sorted() -> None:
    # more flags than the subset table covers: lists are built row by row
    rules = RiskRules(
        categories=tuple(
            _category(f"c{index:02d}", auto_exclude=index == 7, bio_keywords=(f"word{index:02d}",))
            for index in range(14)
        )
    )
    flagged = risk_flagged(
        profiles(user("x", description="word13 word02 word07"), user("y", description="word05")),
        rules,
    )
    assert row(flagged, "x")["risk_flags"] == ["c02_flag", "c07_flag", "c13_flag"]
    assert row(flagged, "x")["risk_excluding_flags"] == ["c07_flag"]
    assert row(flagged, "x")["risk_excluded"] and not row(flagged, "y")["risk_excluded"]


@pytest.mark.parametrize(
    ("description", "flags"),
    [
        ("卐 blood and soil", ["hate_speech"]),
        ("Proud 1488 member", ["hate_speech"]),
        ("Historian of the 20th century. Writing about Europe 1914-1945.", []),
    ],
)
def test_hate_speech_symbols_exclude(
    risk_rules: RiskRules, description: str, flags: list[str]
) -> None:
    only = risk_flagged(profiles(user("x", description=description)), risk_rules).row(0, named=True)
    assert only["risk_flags"] == flags
    assert only["risk_excluded"] is bool(flags)


def test_no_false_alarm_on_individuals_who_write_dm_for_or_follow_me(
    risk_rules: RiskRules,
) -> None:
    flagged = risk_flagged(
        profiles(
            user("ak", name="AK", description="AI papers. dm for promo, submit papers here"),
            user("cat", name="catherine", description="yeahh follow me :)"),
            user("nic", name="nic carter", description="follow me on the stack"),
        ),
        risk_rules,
    )
    assert flagged["risk_flags"].to_list() == [[], [], []]


def test_a_compromised_account_is_excluded(risk_rules: RiskRules) -> None:
    flagged = risk_flagged(
        profiles(
            user("victim", description="This account was hacked. Do not click any links"),
            user("hacked_name", name="Jane (HACKED)"),
            user("researcher", name="Ann Lee", description="I study how accounts get phished"),
        ),
        risk_rules,
    )
    assert row(flagged, "victim")["risk_flags"] == ["compromised"]
    assert row(flagged, "victim")["risk_excluded"]
    assert row(flagged, "hacked_name")["risk_excluded"]
    assert row(flagged, "researcher")["risk_flags"] == []


def test_a_squatted_organisation_handle_is_flagged_and_a_parody_squat_excluded(
    risk_rules: RiskRules,
) -> None:
    flagged = risk_flagged(
        profiles(
            user("team_dignitas", name="scagnet sylvain", description=""),
            user("Acme_Official", name="Bob Fan", description="Parody account"),
            user("team_liquid", name="Team Liquid"),
            user("acme_esports", name="ACME Esports"),
        ),
        risk_rules,
    )
    squat = row(flagged, "team_dignitas")
    assert squat["risk_matches"] == ["risk:handle_squat:handle_mismatch:team"]
    assert not squat["risk_excluded"]  # low severity: for review
    parody = row(flagged, "Acme_Official")
    assert parody["risk_flags"] == ["handle_squat", "impersonation_risk"]
    assert parody["risk_excluded"]  # two flags reach multi_flag_threshold
    # the organisation's own name on its handle is no mismatch
    assert row(flagged, "team_liquid")["risk_flags"] == []
    assert row(flagged, "acme_esports")["risk_flags"] == []
