"""Loading and validating the rule files: every mistake names the file, the key and what was
expected."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from influx_etl.config import PipelineConfig, RuleFiles
from influx_etl.errors import ConfigError, RulesError
from influx_etl.pipeline import load_rulebook
from influx_etl.rules import BrandRules, RiskRules, Severity, load_brand_rules, load_risk_rules
from tests.rules.conftest import OWN_BRAND, OWN_RISK


def _write(tmp_path: Path, document: Any, name: str = "rules.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return path


@pytest.fixture
def brand_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OWN_BRAND.read_text("utf-8"))
    return document


@pytest.fixture
def risk_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OWN_RISK.read_text("utf-8"))
    return document


# --------------------------------------------------------------------------------------------------
# the files as shipped


def test_the_original_brand_file_loads_with_chinese_official_under_name_keywords(
    shared_compat_dir: Path,
) -> None:
    rules = load_brand_rules(shared_compat_dir / "brand_heuristics.yml")
    categories = {category.name: category.keywords for category in rules.name_keywords}
    # the comment before it sits at column 0, the key itself is indented: it is a name category
    assert "官方" in categories["chinese_official"]
    assert "team" in categories["official_indicators"]
    assert rules.domain_patterns[0].exceptions == ("github.org", "huggingface.co")
    assert rules.verification_rules.flag_org_verification is True
    assert rules.confidence_weights.flag_threshold == pytest.approx(0.7)
    assert "github" in rules.org_handles_blacklist and "JackMa" in rules.exceptions


def test_the_original_risk_file_loads_every_category(shared_compat_dir: Path) -> None:
    rules = load_risk_rules(shared_compat_dir / "risk_terms.yml")
    by_key = {category.key: category for category in rules.categories}
    assert set(by_key) == {
        "nsfw",
        "political",
        "controversy",
        "spam",
        "hate_speech",
        "impersonation",
        "scam",
    }
    assert by_key["impersonation"].flag_name == "impersonation_risk"
    assert by_key["hate_speech"].severity is Severity.CRITICAL
    assert by_key["spam"].excessive_hashtags == 3 and by_key["spam"].auto_exclude
    assert not by_key["controversy"].auto_exclude
    assert rules.processing_rules.multi_flag_threshold == 2
    assert "impersonation_risk" in rules.flag_names


def test_the_own_files_report_the_same_flags_and_categories_as_the_originals(
    brand_rules: BrandRules,
    risk_rules: RiskRules,
    original_brand_rules: BrandRules,
    original_risk_rules: RiskRules,
) -> None:
    # the own file adds flags (compromised, handle_squat), it drops none
    assert original_risk_rules.flag_names <= risk_rules.flag_names
    assert [c.name for c in brand_rules.name_keywords] == [
        c.name for c in original_brand_rules.name_keywords
    ]
    assert set(original_brand_rules.exceptions) - {"example_personal_account"} <= set(
        brand_rules.exceptions
    )


@pytest.mark.parametrize("name", ["brand_heuristics.yml", "risk_terms.yml"])
def test_the_own_files_keep_the_key_structure_of_the_originals(
    shared_compat_dir: Path, name: str
) -> None:
    original = yaml.safe_load((shared_compat_dir / name).read_text("utf-8"))
    own = yaml.safe_load((OWN_BRAND.parent / name).read_text("utf-8"))
    added = {"profile_signals", "handle_squat", "compromised"}  # the keys the originals lack
    assert [key for key in own if key not in added] == list(original)
    for key, value in original.items():
        if isinstance(value, dict):
            # a section may gain keys of the same file format (political.name_patterns)
            assert set(value) <= set(own[key]), key
            for sub_key, sub_value in value.items():
                assert type(own[key][sub_key]) is type(sub_value), f"{key}.{sub_key}"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            allowed = {entry_key for entry in value for entry_key in entry}
            assert {entry_key for entry in own[key] for entry_key in entry} <= allowed, key
        else:
            assert type(own[key]) is type(value), key


def test_a_curator_can_add_a_risk_category(tmp_path: Path, risk_document: dict[str, Any]) -> None:
    risk_document["gambling"] = {
        "bio_keywords": ["casino bonus"],
        "flag_name": "gambling",
        "severity": "medium",
        "auto_exclude": True,
    }
    rules = load_risk_rules(_write(tmp_path, risk_document))
    assert "gambling" in rules.flag_names


def test_version_and_updated_may_be_unquoted(
    tmp_path: Path, brand_document: dict[str, Any]
) -> None:
    path = _write(tmp_path, brand_document)
    text = path.read_text("utf-8").replace("updated: '2025-11-24'", "updated: 2025-11-24")
    text = text.replace("version: 2.1.0", "version: 2")
    path.write_text(text, "utf-8")
    rules = load_brand_rules(path)
    assert rules.updated == "2025-11-24"


def test_rules_are_comparable_and_hashable_values() -> None:
    first, second = load_brand_rules(OWN_BRAND), load_brand_rules(OWN_BRAND)
    assert first == second and hash(first) == hash(second)


# --------------------------------------------------------------------------------------------------
# errors


def _brand_error(tmp_path: Path, document: Any) -> RulesError:
    path = _write(tmp_path, document)
    with pytest.raises(RulesError) as caught:
        load_brand_rules(path)
    assert caught.value.file == str(path)
    assert str(path) in str(caught.value)
    return caught.value


def _risk_error(tmp_path: Path, document: Any) -> RulesError:
    path = _write(tmp_path, document)
    with pytest.raises(RulesError) as caught:
        load_risk_rules(path)
    assert caught.value.file == str(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("name_keywords:\n  official: [team\nbio_keywords: {}\n", "utf-8")
    with pytest.raises(RulesError, match=r"not valid YAML at line \d+") as caught:
        load_brand_rules(path)
    assert str(path) in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(RulesError, match="cannot read") as caught:
        load_risk_rules(path)
    assert caught.value.file == str(path)


@pytest.mark.parametrize("document", [["a", "list"], "just text", None])
def test_a_top_level_that_is_not_a_mapping(tmp_path: Path, document: Any) -> None:
    error = _brand_error(tmp_path, document)
    assert "expected a mapping at the top level" in str(error)
    error = _risk_error(tmp_path, document)
    assert "expected a mapping at the top level" in str(error)


def test_a_repeated_key(tmp_path: Path) -> None:
    path = tmp_path / "twice.yml"
    path.write_text(
        "spam:\n  flag_name: spam\n  severity: high\nspam:\n  flag_name: x\n  severity: low\n",
        "utf-8",
    )
    with pytest.raises(RulesError, match="duplicate key 'spam'"):
        load_risk_rules(path)


def test_flag_threshold_that_is_not_a_number(
    tmp_path: Path, brand_document: dict[str, Any]
) -> None:
    brand_document["confidence_weights"]["flag_threshold"] = "high"
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "confidence_weights.flag_threshold"
    assert "expected a number" in str(error) and "'high'" in str(error)


def test_a_weight_that_is_missing(tmp_path: Path, brand_document: dict[str, Any]) -> None:
    del brand_document["confidence_weights"]["domain_match"]
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "confidence_weights.domain_match" and "required" in str(error)


def test_a_keyword_category_that_is_not_a_list(
    tmp_path: Path, brand_document: dict[str, Any]
) -> None:
    brand_document["name_keywords"]["official_indicators"] = "official"
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "name_keywords.official_indicators"
    assert "expected a list of strings" in str(error)


def test_a_keyword_that_is_not_a_string(tmp_path: Path, brand_document: dict[str, Any]) -> None:
    brand_document["name_keywords"]["official_indicators"] = ["official", 1488]
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "name_keywords.official_indicators[1]"
    assert "expected a string (quote it)" in str(error)


def test_an_empty_keyword(tmp_path: Path, brand_document: dict[str, Any]) -> None:
    # it would match every profile
    brand_document["bio_keywords"]["organizational"].append("  ")
    error = _brand_error(tmp_path, brand_document)
    assert error.key is not None and error.key.startswith("bio_keywords.organizational[")
    assert "non-empty" in str(error)


def test_a_domain_pattern_polars_cannot_compile(
    tmp_path: Path, brand_document: dict[str, Any]
) -> None:
    brand_document["domain_patterns"][1]["pattern"] = r"(?<=shop)\.com"
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "domain_patterns[1].pattern"
    assert "look-around" in str(error) and "regular expression" in str(error)


def test_a_domain_pattern_entry_with_an_unknown_key(
    tmp_path: Path, brand_document: dict[str, Any]
) -> None:
    brand_document["domain_patterns"][0]["exception"] = ["x.org"]
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "domain_patterns[0].exception"
    assert "pattern, reason, exceptions" in str(error)


def test_an_unknown_top_level_key_in_the_brand_file(
    tmp_path: Path, brand_document: dict[str, Any]
) -> None:
    brand_document["blacklist"] = ["github"]
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "blacklist" and "org_handles_blacklist" in str(error)


def test_a_handle_written_with_an_at_sign(tmp_path: Path, brand_document: dict[str, Any]) -> None:
    brand_document["exceptions"] = ["@Ninja"]
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "exceptions[0]" and "without '@'" in str(error)


def test_a_flag_that_is_not_a_boolean(tmp_path: Path, brand_document: dict[str, Any]) -> None:
    brand_document["verification_rules"]["flag_org_verification"] = "yes please"
    error = _brand_error(tmp_path, brand_document)
    assert error.key == "verification_rules.flag_org_verification"
    assert "expected true or false" in str(error)


def test_an_unknown_severity_lists_the_valid_ones(
    tmp_path: Path, risk_document: dict[str, Any]
) -> None:
    risk_document["spam"]["severity"] = "severe"
    error = _risk_error(tmp_path, risk_document)
    assert error.key == "spam.severity"
    assert "'severe'" in str(error) and "low, medium, high, critical" in str(error)


def test_a_category_without_a_flag_name(tmp_path: Path, risk_document: dict[str, Any]) -> None:
    del risk_document["nsfw"]["flag_name"]
    error = _risk_error(tmp_path, risk_document)
    assert error.key == "nsfw.flag_name" and "required" in str(error)


@pytest.mark.parametrize("kind", ["name_patterns", "emoji_patterns", "domain_patterns"])
def test_a_risk_pattern_polars_cannot_compile(
    tmp_path: Path, risk_document: dict[str, Any], kind: str
) -> None:
    risk_document["scam"][kind] = ["fine", r"(a)\1"]
    error = _risk_error(tmp_path, risk_document)
    assert error.key == f"scam.{kind}[1]" and "regular expression" in str(error)


def test_an_unknown_key_inside_a_category_lists_the_valid_ones(
    tmp_path: Path, risk_document: dict[str, Any]
) -> None:
    risk_document["spam"]["bio_keyword"] = ["typo"]
    error = _risk_error(tmp_path, risk_document)
    assert error.key == "spam.bio_keyword"
    assert "bio_keywords" in str(error) and "excessive_hashtags" in str(error)


def test_a_top_level_risk_key_that_is_not_a_mapping(
    tmp_path: Path, risk_document: dict[str, Any]
) -> None:
    risk_document["crypto"] = ["giveaway"]
    error = _risk_error(tmp_path, risk_document)
    assert error.key == "crypto" and "expected a mapping (a risk category" in str(error)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"excessive_hashtags": "three"}, "spam.excessive_hashtags"),
        ({"excessive_hashtags": 0}, "spam.excessive_hashtags"),
        ({"auto_exclude": "yes"}, "spam.auto_exclude"),
        ({"bio_keywords": {"follow": "back"}}, "spam.bio_keywords"),
    ],
)
def test_a_category_value_of_the_wrong_type(
    tmp_path: Path, risk_document: dict[str, Any], change: dict[str, Any], key: str
) -> None:
    risk_document["spam"].update(change)
    error = _risk_error(tmp_path, risk_document)
    assert error.key == key and "expected" in str(error)


def test_processing_rules_of_the_wrong_type(tmp_path: Path, risk_document: dict[str, Any]) -> None:
    document = copy.deepcopy(risk_document)
    document["processing_rules"]["multi_flag_threshold"] = 0
    error = _risk_error(tmp_path, document)
    assert error.key == "processing_rules.multi_flag_threshold" and ">= 1" in str(error)


def test_a_rules_error_survives_pickling(tmp_path: Path, risk_document: dict[str, Any]) -> None:
    risk_document["spam"]["severity"] = "severe"
    error = _risk_error(tmp_path, risk_document)
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.file, copied.key, str(copied)) == (error.file, error.key, str(error))


# --------------------------------------------------------------------------------------------------
# --allow-risk


def test_allowed_risk_flags_must_be_flags_of_the_file(risk_rules: RiskRules) -> None:
    assert risk_rules.checked_allowed(["political", "controversy"]) == {"political", "controversy"}
    with pytest.raises(ConfigError) as caught:
        risk_rules.checked_allowed(["politics", "controversy"])
    message = str(caught.value)
    assert "unknown risk flag 'politics'" in message
    assert (
        "compromised, controversy, handle_squat, hate_speech, impersonation_risk, nsfw, "
        "political, scam, spam" in message
    )
    assert str(OWN_RISK) in message


def test_a_misspelt_allowed_flag_fails_when_the_rules_are_loaded() -> None:
    config = PipelineConfig(
        rules=RuleFiles(brand=OWN_BRAND, risk=OWN_RISK, allow_risk=frozenset({"nfsw"}))
    )
    with pytest.raises(ConfigError, match="unknown risk flag 'nfsw'"):
        load_rulebook(config)


@pytest.mark.parametrize(
    ("signals", "key", "expected"),
    [
        ({"person_name": {"min_count": 500}}, "profile_signals.person_name.weight", "required"),
        ({"person_name": {"min_count": 0, "weight": -0.4}}, ".min_count", "whole number >= 1"),
        ({"software": {"keywords": ["sdk"], "weight": "high"}}, ".weight", "expected a number"),
        ({"software": {"keywords": [], "weight": 0.5}}, ".keywords", "at least one entry"),
        ({"sotfware": {"keywords": ["sdk"], "weight": 0.5}}, "profile_signals.sotfware", "valid"),
        ({"own_account": {"keywords": ["x"], "weight": -1}}, ".own_account.keywords", "unknown"),
    ],
)
def test_profile_signals_are_validated(
    tmp_path: Path, brand_document: dict[str, Any], signals: Any, key: str, expected: str
) -> None:
    brand_document["profile_signals"] = signals
    error = _brand_error(tmp_path, brand_document)
    assert key.lstrip(".") in (error.key or "")
    assert expected in str(error)


def test_the_shipped_signals_load_with_their_weights(brand_rules: BrandRules) -> None:
    signals = brand_rules.profile_signals
    assert signals.person_name is not None and signals.person_name.weight < 0
    assert signals.own_account is not None and signals.own_account.weight < 0
    assert {key for key, _ in signals.keyword_signals()} == {
        "organisation_name",
        "software",
        "publication",
        "plural_voice",
        "singular_voice",
    }


def test_org_handle_words_must_be_strings(tmp_path: Path, risk_document: dict[str, Any]) -> None:
    risk_document["handle_squat"]["org_handle_words"] = ["team", 7]
    with pytest.raises(RulesError, match=r"handle_squat.org_handle_words\[1\]"):
        load_risk_rules(_write(tmp_path, risk_document))
