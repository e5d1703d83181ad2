"""The brand stage: which profiles are organisations, and which rules say so."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from influx_etl.rules import (
    BRAND_COLUMNS,
    RATIO_WEIGHT,
    BrandRules,
    ConfidenceWeights,
    DomainPattern,
    KeywordCategory,
    RatioHeuristics,
    VerificationRules,
    brand_flagged,
    match_weight,
)
from influx_etl.rules.models import ProfileSignals
from tests.factories import load_users, profiles_frame
from tests.rules.profiles import not_found, profiles, row, user

ORIGINAL_WEIGHTS = ConfidenceWeights(0.6, 0.4, 0.8, 1.0, 0.7)


def _rules(
    *,
    name: dict[str, tuple[str, ...]] | None = None,
    bio: dict[str, tuple[str, ...]] | None = None,
    domains: tuple[DomainPattern, ...] = (),
    blacklist: tuple[str, ...] = (),
    exceptions: tuple[str, ...] = (),
    flag_org_verification: bool = True,
    weights: ConfidenceWeights = ORIGINAL_WEIGHTS,
) -> BrandRules:
    return BrandRules(
        name_keywords=tuple(KeywordCategory(k, v) for k, v in (name or {}).items()),
        bio_keywords=tuple(KeywordCategory(k, v) for k, v in (bio or {}).items()),
        domain_patterns=domains,
        verification_rules=VerificationRules(flag_org_verification),
        ratio_heuristics=RatioHeuristics(),
        org_handles_blacklist=blacklist,
        exceptions=exceptions,
        confidence_weights=weights,
    )


def test_adds_the_brand_columns(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(profiles(user()), brand_rules)
    assert {name: flagged.schema[name] for name in BRAND_COLUMNS} == dict(BRAND_COLUMNS)


def test_matches_are_named_after_the_rule_that_hit(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(
            user(
                "AcmeWire",
                name="Acme News",
                description="The Official Account of Acme Wire.",
                links=("https://www.acmepost.com/about",),
                verified_type="business",
            ),
            user("GitHub", name="GitHub"),
        ),
        brand_rules,
    )
    acme = row(flagged, "AcmeWire")
    assert set(acme["brand_matches"]) == {
        "name_kw:official_indicators:news",
        "bio_kw:organizational:official account of",
        "bio_kw:organizational:the official account",
        "domain:media_domain",
        "verification:business",
    }
    weights = brand_rules.confidence_weights
    assert acme["brand_confidence"] == pytest.approx(
        weights.name_keyword_match
        + weights.bio_keyword_match
        + weights.domain_match
        + weights.org_verification
    )
    assert acme["is_org"] and acme["is_official"] and not acme["brand_exception"]
    assert "blacklist:github" in row(flagged, "GitHub")["brand_matches"]


def test_a_name_keyword_alone_does_not_flag_but_adds_up_with_a_bio_keyword(
    brand_rules: BrandRules,
) -> None:
    flagged = brand_flagged(
        profiles(
            user("alone", name="Gadget Store"),
            user("both", name="Gadget Store", description="Automated deals, every hour"),
        ),
        brand_rules,
    )
    alone, both = row(flagged, "alone"), row(flagged, "both")
    assert alone["brand_matches"] == ["name_kw:brand_commerce:store"]
    assert alone["brand_confidence"] < brand_rules.confidence_weights.flag_threshold
    assert not alone["is_org"]
    assert both["is_org"] and not both["is_official"]


def test_each_kind_of_match_counts_once() -> None:
    rules = _rules(name={"corp": ("acme", "corp")}, weights=ConfidenceWeights(0.5, 0, 0, 0, 0.7))
    flagged = brand_flagged(profiles(user("x", name="Acme Corp")), rules)
    only = flagged.row(0, named=True)
    assert len(only["brand_matches"]) == 2
    assert only["brand_confidence"] == pytest.approx(0.5) and not only["is_org"]


def test_weights_that_add_up_to_the_threshold_flag_despite_float_rounding() -> None:
    rules = _rules(
        name={"a": ("acme",)},
        bio={"b": ("hello",)},
        weights=ConfidenceWeights(0.3, 0.6, 0, 0, 0.9),  # 0.3 + 0.6 < 0.9 in binary floats
    )
    flagged = brand_flagged(profiles(user("x", name="Acme", description="hello")), rules)
    assert flagged["is_org"].to_list() == [True]


# --------------------------------------------------------------------------------------------------
# name keywords and their false-positive traps


def test_shop_is_a_word_not_a_prefix(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(
            user("engineer", name="Engineer at Shopify"),
            user("corner", name="Corner Shop"),
        ),
        brand_rules,
    )
    assert row(flagged, "engineer")["brand_matches"] == []
    assert row(flagged, "corner")["brand_matches"] == ["name_kw:brand_commerce:shop"]


def test_a_team_player_is_not_an_official_team(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(
            user(
                "player",
                name="Team Liquid player",
                description="Pro Valorant player. Streaming most nights.",
            ),
            user(
                "acmeteam",
                name="Acme Official Team",
                description="Official account of the Acme team. For support DM us.",
            ),
        ),
        brand_rules,
    )
    player, team = row(flagged, "player"), row(flagged, "acmeteam")
    assert not any("official_indicators:team" in match for match in player["brand_matches"])
    assert not player["is_org"]
    assert "name_kw:official_indicators:team" in team["brand_matches"]
    assert team["is_org"] and team["is_official"]


def test_inc_as_a_nickname_on_a_personal_account(brand_rules: BrandRules) -> None:
    # (not a first name: the person_name signal would speak for an individual on its own)
    personal = user(
        "acmeinc", name="Acme Inc", description="Managed by the Acme crew", verified_type="blue"
    )
    company = {**personal, "username": "doeinc", "verified_type": "none"}
    flagged = brand_flagged(profiles(personal, company), brand_rules)
    john, doe_inc = row(flagged, "acmeinc"), row(flagged, "doeinc")
    assert "name_kw:corporate_indicators:inc" not in john["brand_matches"]
    assert not john["is_org"]
    # the same profile without a personal verification reads as a company
    assert "name_kw:corporate_indicators:inc" in doe_inc["brand_matches"]
    assert doe_inc["is_org"]


def test_inc_is_a_word(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(profiles(user("x", name="Incredible Income Ideas")), brand_rules)
    assert flagged["brand_matches"].to_list() == [[]]


def test_the_words_of_a_username_are_matched(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(user("AcmeSupport", name="Acme"), user("numpy_team", name="NumPy")),
        brand_rules,
    )
    assert "name_kw:official_indicators:support" in row(flagged, "AcmeSupport")["brand_matches"]
    assert "name_kw:official_indicators:team" in row(flagged, "numpy_team")["brand_matches"]


def test_chinese_keywords_match_without_spaces(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(profiles(user("x", name="某某科技官方账号")), brand_rules)
    assert set(flagged["brand_matches"].to_list()[0]) == {
        "name_kw:chinese_official:官方",
        "name_kw:chinese_official:官方账号",
    }


def test_bio_keywords_are_case_insensitive_substrings(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(user("x", description="THE OFFICIAL TWITTERS of nobody")), brand_rules
    )
    assert flagged["brand_matches"].to_list() == [["bio_kw:organizational:official twitter"]]


# --------------------------------------------------------------------------------------------------
# domains, verification, blacklist, exceptions


def test_domain_patterns_skip_t_co_and_honour_exceptions() -> None:
    rules = _rules(
        domains=(DomainPattern(r".*\.(gov|edu|org)$", "institutional_domain", ("github.org",)),)
    )
    flagged = brand_flagged(
        profiles(
            user("wrapped", url="https://t.co/abc.org"),
            user("python", url="https://t.co/x", links=("https://www.python.org/psf/",)),
            user("excepted", links=("https://github.org/x",)),
            user("subdomain", links=("https://docs.github.org",)),
        ),
        rules,
    )
    assert row(flagged, "wrapped")["brand_matches"] == []
    assert row(flagged, "python")["brand_matches"] == ["domain:institutional_domain"]
    assert row(flagged, "python")["is_org"]
    assert row(flagged, "excepted")["brand_matches"] == []
    assert row(flagged, "subdomain")["brand_matches"] == []


def test_the_own_domain_patterns_avoid_the_known_traps(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(
            user("shopify_dev", links=("https://www.shopify.com/careers",)),
            user("coffee", links=("https://buymeacoffee.com/someone",)),
            user("blogger", links=("https://someone.wordpress.com/",)),
            user("academic", links=("https://cs.stanford.edu/~someone",)),
            user("paper", links=("https://arxiv.org/abs/1706.03762",)),
            user("stanford", links=("https://www.stanford.edu/",)),
            user("storefront", links=("https://shop.acme.com/",)),
        ),
        brand_rules,
    )
    for individual in ("shopify_dev", "coffee", "blogger", "academic", "paper"):
        assert row(flagged, individual)["brand_matches"] == [], individual
    assert row(flagged, "stanford")["brand_matches"] == ["domain:institutional_domain"]
    assert row(flagged, "storefront")["brand_matches"] == ["domain:ecommerce_domain"]


@pytest.mark.parametrize(
    ("verified_type", "is_org", "is_official"),
    [("business", True, False), ("government", True, True), ("blue", False, False)],
)
def test_organisation_verification(
    brand_rules: BrandRules, verified_type: str, is_org: bool, is_official: bool
) -> None:
    flagged = brand_flagged(profiles(user("x", verified_type=verified_type)), brand_rules)
    assert flagged.row(0, named=True)["is_org"] is is_org
    assert flagged.row(0, named=True)["is_official"] is is_official


def test_organisation_verification_can_be_switched_off() -> None:
    flagged = brand_flagged(
        profiles(user("x", verified_type="business")), _rules(flag_org_verification=False)
    )
    assert flagged.row(0, named=True)["brand_matches"] == []
    assert not flagged.row(0, named=True)["is_org"]


def test_a_blacklisted_handle_is_always_an_organisation(brand_rules: BrandRules) -> None:
    flagged = brand_flagged(
        profiles(user("AWSCloud", name="Cloud news", description="hi", verified_type="none")),
        brand_rules,
    )
    only = flagged.row(0, named=True)
    assert "blacklist:awscloud" in only["brand_matches"]
    assert only["brand_confidence"] < brand_rules.confidence_weights.flag_threshold
    assert only["is_org"]


def test_an_exception_is_never_flagged(brand_rules: BrandRules) -> None:
    assert "Ninja" in brand_rules.exceptions
    rules = _rules(blacklist=("ninja",), exceptions=brand_rules.exceptions)
    flagged = brand_flagged(
        profiles(
            user(
                "NINJA",
                name="Ninja Official Store",
                description="Official account",
                verified_type="business",
            )
        ),
        rules,
    )
    only = flagged.row(0, named=True)
    assert only["brand_matches"] == [] and only["brand_confidence"] == 0.0
    assert only["brand_exception"] and not only["is_org"] and not only["is_official"]


def test_rows_that_were_not_found_are_not_evaluated(brand_rules: BrandRules) -> None:
    frame = pl.concat([profiles(user("found")), not_found("gone", "suspended")])
    flagged = brand_flagged(frame, brand_rules)
    gone = flagged.filter(pl.col("outcome") == "suspended").row(0, named=True)
    assert all(gone[name] is None for name in BRAND_COLUMNS)
    assert row(flagged, "found")["is_org"] is False


# --------------------------------------------------------------------------------------------------
# real profiles

KNOWN_INDIVIDUALS = (
    "reidhoffman",
    "DrJimFan",
    "AndrewYNg",
    "ylecun",
    "JeffDean",
    "DarioAmodei",
    "ClementDelangue",
    "acdlite",
    "cassidoo",
    "lexfridman",
)


@pytest.fixture
def real_profiles(shared_real_users: Path) -> pl.DataFrame:
    return profiles_frame(load_users(shared_real_users))


@pytest.mark.parametrize("which", ["own", "original"])
def test_real_individuals_are_kept_and_business_accounts_flagged(
    real_profiles: pl.DataFrame,
    brand_rules: BrandRules,
    original_brand_rules: BrandRules,
    which: str,
) -> None:
    rules = brand_rules if which == "own" else original_brand_rules
    flagged = brand_flagged(real_profiles, rules)
    present = set(flagged["username"].to_list())
    assert set(KNOWN_INDIVIDUALS) <= present, "the sample should hold these people"
    people = flagged.filter(pl.col("username").is_in(KNOWN_INDIVIDUALS))
    assert not people["is_org"].any(), people.filter("is_org")["username"].to_list()
    business = flagged.filter(pl.col("verified_type") == "business")
    assert business.height > 0
    assert business["is_org"].all(), business.filter(~pl.col("is_org"))["username"].to_list()


# --------------------------------------------------------------------------------------------------
# links in the bio and in entities, ratio heuristics


def test_domain_patterns_see_entity_links_and_links_written_in_the_bio() -> None:
    rules = _rules(
        domains=(DomainPattern(r"(news|times|post)", "media_domain", ("news.ycombinator.com",)),)
    )
    flagged = brand_flagged(
        profiles(
            # the API wraps the profile link in t.co; the expanded link is in entities
            user("wapo", url="https://t.co/Xy12", links=("https://www.washingtonpost.com/",)),
            user("writer", description="Newsletter at platformer.news, essays weekly"),
            user("reporter", description="Tips: kate.conger@nytimes.com (no DMs)"),
            user("hacker", description="See news.ycombinator.com/user?id=me"),
            user("plain", url="https://t.co/Zz99"),
        ),
        rules,
    )
    assert row(flagged, "wapo")["brand_matches"] == ["domain:media_domain"]
    assert row(flagged, "writer")["brand_matches"] == ["domain:media_domain"]
    # an e-mail address is not a link, an excepted host does not match, t.co says nothing
    for individual in ("reporter", "hacker", "plain"):
        assert row(flagged, individual)["brand_matches"] == [], individual


def test_a_high_follower_ratio_adds_to_a_bio_keyword() -> None:
    rules = replace(
        _rules(bio={"organizational": ("official account of",)}),
        ratio_heuristics=RatioHeuristics(high_ratio_threshold=100),
    )
    bio = "The official account of the Acme Foundation."
    flagged = brand_flagged(
        profiles(
            user("broadcast", description=bio, followers=500_000, following=120),
            user("chatty", description=bio, followers=500_000, following=9_000),
            user("nofollow", description=bio, followers=500_000, following=0),
            user("person", description="Writer.", followers=500_000, following=12),
        ),
        rules,
    )
    broadcast = row(flagged, "broadcast")
    assert broadcast["brand_matches"] == [
        "bio_kw:organizational:official account of",
        "ratio:high_ratio",
    ]
    assert broadcast["brand_confidence"] == pytest.approx(0.4 + RATIO_WEIGHT)
    assert broadcast["is_org"]
    assert not row(flagged, "chatty")["is_org"]  # 55 followers per followed account
    assert row(flagged, "nofollow")["is_org"]  # following nobody is above any ratio
    assert row(flagged, "person")["brand_matches"] == []  # a ratio alone is no match


def test_following_nobody_is_a_signal_that_never_flags_alone() -> None:
    rules = replace(
        _rules(weights=ConfidenceWeights(0.6, 0.4, 0.8, 1.0, 0.2)),
        ratio_heuristics=RatioHeuristics(zero_following_flag=True),
    )
    flagged = brand_flagged(
        profiles(
            user("naval", description="Incompressible", following=0),
            user("follows", description="Incompressible", following=10),
        ),
        rules,
    )
    naval = row(flagged, "naval")
    assert naval["brand_matches"] == ["ratio:zero_following"]
    assert naval["brand_confidence"] == pytest.approx(RATIO_WEIGHT)
    assert naval["brand_confidence"] >= rules.confidence_weights.flag_threshold
    assert not naval["is_org"]
    assert row(flagged, "follows")["brand_matches"] == []


def test_match_weights_name_the_weight_of_each_kind(brand_rules: BrandRules) -> None:
    weights = brand_rules.confidence_weights
    assert (
        match_weight("name_kw:official_indicators:news", brand_rules) == weights.name_keyword_match
    )
    assert match_weight("domain:media_domain", brand_rules) == weights.domain_match
    assert match_weight("ratio:high_ratio", brand_rules) == RATIO_WEIGHT
    assert match_weight("blacklist:github", brand_rules) is None


def test_the_own_bio_keywords_tell_a_pointer_to_another_account_from_an_official_one(
    brand_rules: BrandRules, original_brand_rules: BrandRules
) -> None:
    frame = profiles(
        user("founder", description="Tech founder & investor. Official account: @founder47"),
        user("numpy", description="Official account of NumPy. Announcements only."),
    )
    own, original = brand_flagged(frame, brand_rules), brand_flagged(frame, original_brand_rules)
    assert row(own, "founder")["brand_matches"] == []
    assert row(original, "founder")["brand_matches"] == ["bio_kw:organizational:official account"]
    assert row(own, "numpy")["brand_matches"][0] == "bio_kw:organizational:official account of"


@pytest.mark.parametrize("verified_type", ["Business", "GOVERNMENT"])
def test_organisation_verification_in_any_case(brand_rules: BrandRules, verified_type: str) -> None:
    flagged = brand_flagged(profiles(user("x", verified_type=verified_type)), brand_rules)
    assert flagged.row(0, named=True)["brand_matches"] == [f"verification:{verified_type.lower()}"]


def test_a_person_name_lowers_the_confidence_of_text_matches(brand_rules: BrandRules) -> None:
    bio = "An AI newsletter with our picks"
    frame = profiles(
        user("janedoe", name="Jane Doe", description=bio),
        user("ainews", name="AI Weekly", description=bio),
    )
    flagged = brand_flagged(frame, brand_rules)
    jane, weekly = row(flagged, "janedoe"), row(flagged, "ainews")
    assert "signal:person_name:jane" in jane["brand_matches"]
    assert jane["brand_confidence"] < weekly["brand_confidence"]
    assert weekly["is_org"] and not jane["is_org"]


def test_a_person_name_never_keeps_a_verified_business_or_a_blacklisted_handle(
    brand_rules: BrandRules,
) -> None:
    frame = profiles(
        user("acme", name="Michael Smith", description="I post news", verified_type="business"),
        user("github", name="Michael Smith", description="my own account"),
    )
    flagged = brand_flagged(frame, brand_rules)
    assert row(flagged, "acme")["is_org"] and row(flagged, "github")["is_org"]


def test_official_account_of_a_person_is_an_individual(brand_rules: BrandRules) -> None:
    frame = profiles(
        user("janedoe", name="Jane Doe", description="Official account of Jane Doe, founder of X"),
        user("numpy_team", name="NumPy", description="Official account of NumPy. Announcements."),
    )
    flagged = brand_flagged(frame, brand_rules)
    jane = row(flagged, "janedoe")
    assert "signal:own_account:official account of" in jane["brand_matches"]
    assert not jane["is_org"]
    assert row(flagged, "numpy_team")["is_org"]


@pytest.mark.parametrize(
    ("username", "name", "description", "signal"),
    [
        (
            "pylib",
            "PyLib",
            "Easy-to-use machine learning in Python. Join us: docs",
            "software",
        ),
        ("tradepub", "Trade Weekly", "Serving the packaging industry with our news", "publication"),
        ("nlpgroup", "Stanford NLP Group", "Computational linguists", "organisation_name"),
    ],
)
def test_the_descriptions_of_software_publications_and_groups_flag(
    brand_rules: BrandRules, username: str, name: str, description: str, signal: str
) -> None:
    flagged = brand_flagged(
        profiles(user(username, name=name, description=description)), brand_rules
    )
    found = flagged.row(0, named=True)
    assert any(match.startswith(f"signal:{signal}:") for match in found["brand_matches"])
    assert found["is_org"]
    # the original file has no such signal: the same profile is kept there
    assert not any(
        m.startswith("signal:")
        for m in brand_flagged(
            profiles(user(username, name=name, description=description)),
            dataclasses.replace(brand_rules, profile_signals=ProfileSignals()),
        )["brand_matches"][0]
    )


def test_the_bio_voice_tips_a_match_either_way(brand_rules: BrandRules) -> None:
    frame = profiles(
        user("svelte_x", name="Svelte X", description="Web apps for the rest of us"),
        user("svelte_y", name="Svelte Y", description="I make web apps"),
    )
    flagged = brand_flagged(frame, brand_rules)
    plural, singular = row(flagged, "svelte_x"), row(flagged, "svelte_y")
    assert "signal:plural_voice:us" in plural["brand_matches"] and plural["is_org"]
    assert "signal:singular_voice:i" in singular["brand_matches"] and not singular["is_org"]
