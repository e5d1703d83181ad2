"""Measured accuracy of the rules on hand-labelled real profiles (``tests/rules/labels.csv``).

The labels were written by reading each profile of ``../shared/data/real_users.jsonl`` before
looking at what the rules decide; about 30 % of the handles (fixed hash) are held out of tuning.
The figures below are the ones ``lists/rules`` reached (``influx-rules accuracy``, README): the
computation is deterministic, so any drop is a regression of the rules or the engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from influx_etl.errors import ConfigError
from influx_etl.rules import BrandRules, RiskRules
from influx_etl.rules.accuracy import (
    Score,
    kind_contributions,
    labelled_decisions,
    load_labels,
    population_profiles,
    scores,
    split_of,
    wilson,
)
from tests.rules.conftest import OWN_BRAND

LABELS = Path(__file__).with_name("labels.csv")

REACHED = {
    # (decision, split): (true positives, false positives, false negatives) of lists/rules
    ("brand", "tune"): (20, 0, 4),
    ("brand", "holdout"): (9, 0, 1),
    ("risk", "tune"): (1, 0, 0),
    ("risk", "holdout"): (0, 0, 0),
}
ORIGINAL = {
    # the same for the original influx files, for the record
    ("brand", "tune"): (16, 1, 8),
    ("brand", "holdout"): (3, 0, 7),
    ("risk", "tune"): (0, 5, 1),
    ("risk", "holdout"): (0, 0, 0),
}


def _by_key(measured: list[Score]) -> dict[tuple[str, str], Score]:
    return {(score.decision, score.split): score for score in measured}


@pytest.fixture(scope="module")
def labels() -> pl.DataFrame:
    return load_labels(LABELS)


@pytest.fixture
def real_profiles(shared_real_users: Path, labels: pl.DataFrame) -> pl.DataFrame:
    return population_profiles(shared_real_users, labels["handle"].to_list())


def test_the_labels_file(labels: pl.DataFrame) -> None:
    assert labels.height >= 120
    assert set(labels["split"]) == {"tune", "holdout"}
    share = (labels["split"] == "holdout").mean()
    assert isinstance(share, float) and 0.2 < share < 0.4
    assert labels["is_brand"].sum() >= 20  # enough brands to measure recall on
    assert labels["reason"].str.len_chars().max() <= 60  # a short reason, not a copied bio


def test_the_labels_cite_handles_and_labels_only(
    labels: pl.DataFrame, shared_real_users: Path
) -> None:
    users = {
        json.loads(line)["username"]: json.loads(line)
        for line in shared_real_users.read_text("utf-8").splitlines()
        if line.strip()
    }
    assert set(labels["handle"]) <= set(users)
    for handle, reason in labels.select("handle", "reason").iter_rows():
        # a phrase of three words or more found in the bio would be copied text
        copied = (
            len(reason.split()) >= 3
            and reason.lower() in (users[handle].get("description") or "").lower()
        )
        assert not copied, f"@{handle}: the reason is text of the profile"


def test_no_labelled_handle_is_listed_by_name_in_the_own_rules(
    labels: pl.DataFrame, brand_rules: BrandRules, original_brand_rules: BrandRules
) -> None:
    # listing a labelled handle would memorise its label: the figures would stop measuring rules
    own = {h.lower() for h in (*brand_rules.org_handles_blacklist, *brand_rules.exceptions)}
    inherited = {
        h.lower()
        for h in (*original_brand_rules.org_handles_blacklist, *original_brand_rules.exceptions)
    }
    listed = (own - inherited) & set(labels["handle"].str.to_lowercase())
    assert not listed, f"labelled handles named in {OWN_BRAND.name}: {sorted(listed)}"


@pytest.mark.parametrize("handle", ["JackMa", "ylecun", "numpy_team", "x"])
def test_the_split_is_a_fixed_hash_of_the_handle(handle: str) -> None:
    assert split_of(handle) == split_of(handle.upper()) in ("tune", "holdout")


def test_a_label_moved_to_the_other_split_is_refused(tmp_path: Path) -> None:
    handle = "ylecun"
    wrong = "tune" if split_of(handle) == "holdout" else "holdout"
    path = tmp_path / "labels.csv"
    path.write_text(
        f"handle,is_brand,is_risky,split,reason\n{handle},0,0,{wrong},person\n", "utf-8"
    )
    with pytest.raises(ConfigError, match=rf"labels\.csv:2: @{handle} belongs to the"):
        load_labels(path)


def test_a_flag_that_is_not_0_or_1_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(f"handle,is_brand,is_risky,split,reason\nx,2,0,{split_of('x')},?\n", "utf-8")
    with pytest.raises(ConfigError, match=r"labels\.csv:2: is_brand must be 0 or 1"):
        load_labels(path)


def test_the_own_rules_keep_the_figures_they_reached(
    labels: pl.DataFrame,
    real_profiles: pl.DataFrame,
    brand_rules: BrandRules,
    risk_rules: RiskRules,
) -> None:
    measured = _by_key(scores(labelled_decisions(labels, real_profiles, brand_rules, risk_rules)))
    for key, (tp, fp, fn) in REACHED.items():
        score = measured[key]
        assert score.true_positives >= tp, key
        assert score.false_positives <= fp, key
        assert score.false_negatives <= fn, key
    # the bar of the held-out part: precision >= 0.95, recall >= 0.90, no risk false alarm
    holdout = measured["brand", "holdout"]
    assert holdout.precision is not None and holdout.precision >= 0.95
    assert holdout.recall is not None and holdout.recall >= 0.90
    assert (
        measured["risk", "tune"].false_positives == measured["risk", "holdout"].false_positives == 0
    )


def test_the_own_rules_do_better_than_the_originals_on_both_parts(
    labels: pl.DataFrame,
    real_profiles: pl.DataFrame,
    brand_rules: BrandRules,
    risk_rules: RiskRules,
    original_brand_rules: BrandRules,
    original_risk_rules: RiskRules,
) -> None:
    own = _by_key(scores(labelled_decisions(labels, real_profiles, brand_rules, risk_rules)))
    original = _by_key(
        scores(labelled_decisions(labels, real_profiles, original_brand_rules, original_risk_rules))
    )
    for key, (tp, fp, fn) in ORIGINAL.items():
        counts = original[key]
        assert (counts.true_positives, counts.false_positives, counts.false_negatives) == (
            tp,
            fp,
            fn,
        ), key
    for key in REACHED:
        assert own[key].true_positives >= original[key].true_positives, key
        assert own[key].false_positives <= original[key].false_positives, key
    # strictly better where there is something to find
    for split in ("tune", "holdout"):
        assert own["brand", split].true_positives > original["brand", split].true_positives
    assert own["risk", "tune"].false_positives < original["risk", "tune"].false_positives


def test_wilson_intervals_hold_the_share_and_narrow_with_more_trials() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(9, 10) or (0.0, 0.0)
    assert low < 0.9 < high <= 1.0
    wide, narrow = wilson(5, 10), wilson(500, 1000)
    assert wide is not None and narrow is not None
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    # a perfect score still has a lower bound below 1
    perfect = wilson(10, 10)
    assert perfect is not None and perfect[0] < 1.0 and perfect[1] == pytest.approx(1.0)
    # the textbook value: 8 of 10 -> [0.490, 0.943]
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_each_rule_kind_is_counted_in_the_decisions_it_took_part_in() -> None:
    decided = pl.DataFrame(
        {
            "handle": ["org", "person", "missed", "risky"],
            "split": ["tune", "tune", "holdout", "tune"],
            "is_brand": [1, 0, 1, 0],
            "is_risky": [0, 0, 0, 1],
            "is_org": [True, True, False, False],
            "risk_excluded": [False, False, False, True],
            "brand_matches": [
                ["name_kw:a:x", "name_kw:b:y", "signal:software:sdk"],
                ["bio_kw:a:z", "signal:person_name:jane"],
                ["signal:person_name:ann"],
                [],
            ],
            "risk_matches": [[], [], [], ["risk:spam:bio:follow back"]],
        }
    )
    table = kind_contributions(decided).filter(pl.col("split") == "all")
    counts = {(r["decision"], r["kind"]): (r["tp"], r["fp"], r["fn"]) for r in table.to_dicts()}
    assert counts["brand", "name_kw"] == (1, 0, 0)  # two name keywords, one decision
    assert counts["brand", "signal:software"] == (1, 0, 0)
    assert counts["brand", "bio_kw"] == (0, 1, 0)
    assert counts["brand", "signal:person_name"] == (0, 1, 1)
    assert counts["risk", "risk:spam:bio"] == (1, 0, 0)
