"""The curator-edited YAML files: key lines and unknown keys with the closest valid one."""

from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl import rules, score
from influx_etl.errors import RulesError, ScoringError
from influx_etl.yaml_files import key_lines, unknown_key_message
from tests.conftest import REPO_ROOT


def test_key_lines_names_keys_and_list_items_by_the_checkers_paths() -> None:
    text = "a:\n  b: 1\n  c:\n    - x\n    - pattern: p\n      reason: r\n"
    lines = key_lines(text)
    assert lines["a"] == 1 and lines["a.b"] == 2 and lines["a.c"] == 3
    assert lines["a.c[0]"] == 4 and lines["a.c[1].pattern"] == 5 and lines["a.c[1].reason"] == 6
    assert key_lines("a: [unclosed") == {}


def test_an_unknown_key_suggests_the_closest_valid_one_only_when_there_is_one() -> None:
    message = unknown_key_message("flag_treshold", ["flag_threshold", "name_keywords"])
    assert "did you mean 'flag_threshold'?" in message
    assert "valid keys are: flag_threshold, name_keywords" in message
    assert "did you mean" not in unknown_key_message("zzz", ["flag_threshold"])


def test_a_misspelt_rules_key_is_reported_with_its_line_and_the_right_spelling(
    tmp_path: Path,
) -> None:
    original = (REPO_ROOT / "lists/rules/brand_heuristics.yml").read_text(encoding="utf-8")
    assert "\nexceptions:" in original
    broken = tmp_path / "brand.yml"
    broken.write_text(original.replace("\nexceptions:", "\nexeptions:", 1), encoding="utf-8")
    line = original[: original.index("\nexceptions:")].count("\n") + 2
    with pytest.raises(RulesError) as caught:
        rules.load_brand_rules(broken)
    assert caught.value.line == line and caught.value.key == "exeptions"
    assert str(caught.value).startswith(f"{broken}:{line} [exeptions]: unknown key 'exeptions'")
    assert "did you mean 'exceptions'?" in str(caught.value)


def test_a_misspelt_scoring_key_is_reported_with_its_line(tmp_path: Path) -> None:
    scoring = tmp_path / "scoring.yml"
    scoring.write_text("weights:\n  activity: 1\n  quality: 1\n  relevence: 1\n", encoding="utf-8")
    with pytest.raises(ScoringError) as caught:
        score.load_scoring(scoring)
    assert caught.value.line == 4
    assert "did you mean 'relevance'?" in str(caught.value)
