"""``influx-rules`` as a user runs it: a real subprocess over a real DuckDB file made by a run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles
from influx_etl.pipeline import run_harvest
from influx_etl.tools.qa import record_verdicts
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT

BRAND_RULES = REPO_ROOT / "lists/rules/brand_heuristics.yml"
RISK_RULES = REPO_ROOT / "lists/rules/risk_terms.yml"


def _user(user_id: str, username: str, followers: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": username,
        "name": fields.pop("name", username),
        "description": fields.pop("description", "Researcher and writer."),
        "created_at": "2012-01-01T00:00:00.000Z",
        "verified": False,
        "verified_type": fields.pop("verified_type", "none"),
        "public_metrics": {"followers_count": followers, "following_count": 800},
        **fields,
    }


POPULATION = {
    "adalovelace": _user("2001", "AdaLovelace", 400_000, name="Ada Lovelace"),
    "acmenews": _user(
        "2002",
        "AcmeNews",
        900_000,
        name="Acme News Official",
        description="The official account of Acme News. Press releases and company news.",
        verified_type="business",
    ),
    "followbackking": _user(
        "2003", "FollowBackKing", 300_000, description="I follow back! crypto giveaway daily"
    ),
    "smallfry": _user("2004", "SmallFry", 900),
}


def _rules(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("influx-rules"), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rules-cli")
    (root / "rules").mkdir()
    for original in (BRAND_RULES, RISK_RULES):
        shutil.copy(original, root / "rules" / original.name)
    seeds = root / "seeds.csv"
    handles = [*(user["username"] for user in POPULATION.values()), "nobody_here"]
    seeds.write_text("handle\n" + "\n".join(handles) + "\n", encoding="utf-8")
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as server:
        run_harvest(
            PipelineConfig(
                seed_paths=(seeds,),
                lookup=LookupSettings(source=server.base_url, batch_size=10),
                rules=RuleFiles(
                    brand=root / "rules" / BRAND_RULES.name, risk=root / "rules" / RISK_RULES.name
                ),
                outputs=OutputPaths(data_dir=root / "data"),
            )
        )
    return root / "data"


def test_explain_a_brand(data_dir: Path) -> None:
    result = _rules("explain", "@acmenews", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "@AcmeNews in run " in out
    assert "900,000 (verified); threshold (verified AND >= 30,000) OR >= 50,000: passes" in out
    # rule lines: two spaces, the rule name padded to 48 characters, a space, its weight
    lines = {line[2:50].strip(): line[51:] for line in out.splitlines() if line.startswith("  ")}
    assert lines["name_kw:official_indicators:news"] == "+0.6 (name keyword)"
    counted_once = "(name keyword: each kind counts once)"
    assert lines["name_kw:official_indicators:official"] == f"+0 {counted_once}"
    assert lines["bio_kw:organizational:the official account"] == "+0.4 (bio keyword)"
    assert lines["verification:business"] == "+1 (organisation verification)"
    assert lines["ratio:high_ratio"] == "+0.3 (ratio heuristic)"  # 1,125 followers per followed
    assert lines["signal:publication:news"] == "+0.5 (profile signal publication)"
    assert "confidence 2.8 vs flag_threshold 0.7 → organisation (is_org), official" in out
    assert "decision:   brand — DROPPED" in out
    assert f"brand rules: {data_dir.parent / 'rules' / BRAND_RULES.name}\n" in out


def test_explain_a_risky_author_and_a_kept_one(data_dir: Path) -> None:
    risky = _rules("explain", "FollowBackKing", "--data-dir", str(data_dir))
    assert "risk:spam:bio:follow back" in risky.stdout
    assert "risk:spam:bio:crypto giveaway" in risky.stdout
    assert "→ spam (high, auto_exclude)" in risky.stdout
    assert "decision:   risk — DROPPED: excluded by the risk rules" in risky.stdout
    kept = _rules("explain", "adalovelace", "--data-dir", str(data_dir), "--dataset", "synthetic")
    assert "no brand rule matched" in kept.stdout
    assert "decision:   kept — KEPT" in kept.stdout


def test_explain_an_unknown_handle_or_run(data_dir: Path, tmp_path: Path) -> None:
    unknown = _rules("explain", "someone_else", "--data-dir", str(data_dir))
    assert unknown.returncode == 1
    assert "error: @someone_else was not looked up in any run" in unknown.stderr
    wrong_run = _rules("explain", "acmenews", "--data-dir", str(data_dir), "--run", "nope")
    assert wrong_run.returncode == 1 and "run nope" in wrong_run.stderr
    empty = _rules("explain", "acmenews", "--data-dir", str(tmp_path))
    assert empty.returncode == 1 and "no dataset at" in empty.stderr


def test_the_matched_rules_are_stored_with_the_run(data_dir: Path) -> None:
    with duckdb.connect(str(data_dir / "synthetic/influx.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT handle_key, brand_matches, risk_flags, decision FROM handle_outcomes "
            "ORDER BY handle_key"
        ).fetchall()
    by_handle = {row[0]: row[1:] for row in rows}
    assert "verification:business" in by_handle["acmenews"][0]
    assert by_handle["followbackking"][1:] == (["spam"], "risk")
    assert by_handle["adalovelace"] == ([], [], "kept")


def test_flagged_accounts_as_jsonl(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit" / "flagged.jsonl"
    result = _rules(
        "flagged", "--data-dir", str(data_dir), "--dataset", "synthetic", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    audit = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert {row["handle"] for row in audit} == {"AcmeNews", "FollowBackKing"}
    assert {row["decision"] for row in audit} == {"brand", "risk"}
    table = _rules("flagged", "--data-dir", str(data_dir), "--dataset", "synthetic")
    assert "2 flagged accounts" in table.stdout and "@FollowBackKing" in table.stdout


def test_check_accepts_good_files_and_names_the_key_of_a_bad_one(tmp_path: Path) -> None:
    good = _rules("check", str(BRAND_RULES), str(RISK_RULES))
    assert good.returncode == 0, good.stderr
    assert good.stdout.count(": ok (") == 2
    bad = tmp_path / "my_risk_terms.yml"
    bad.write_text(
        "spam:\n  bio_keywords: ['x']\n  name_patterns: ['(?=ahead)']\n"
        "  flag_name: spam\n  severity: high\n",
        encoding="utf-8",
    )
    result = _rules("check", str(BRAND_RULES), str(bad))
    assert result.returncode == 1
    # line 3 holds the pattern
    assert f"error: {bad}:3 [spam.name_patterns[0]]: expected a regular expression" in result.stderr
    assert "'(?=ahead)'" in result.stderr


def test_accuracy_compares_rule_sets(shared_real_users: Path, shared_compat_dir: Path) -> None:
    result = _rules(
        "accuracy",
        "--labels",
        str(REPO_ROOT / "tests/rules/labels.csv"),
        "--population",
        str(shared_real_users),
        "--rules-dir",
        str(BRAND_RULES.parent),
        "--rules-dir",
        str(shared_compat_dir),
    )
    assert result.returncode == 0, result.stderr
    scores, kinds = result.stdout.split("\n\n")
    rows = [line.split() for line in scores.splitlines()[1:]]
    assert len(rows) == 12  # 2 rule sets x 2 decisions x (tune, holdout, all)
    own = {tuple(r[1:3]): r for r in rows if r[0] == str(BRAND_RULES.parent)}
    # n pos TP FP FN TN precision [low, high] recall [low, high]
    n, positives, tp, fp, fn, tn = (int(value) for value in own["brand", "holdout"][3:9])
    assert n == positives + fp + tn and positives == tp + fn
    precision, recall = float(own["brand", "holdout"][9]), float(own["brand", "holdout"][12])
    assert precision >= 0.95 and recall >= 0.90
    low, high = (float(v.strip("[],")) for v in own["brand", "holdout"][13:15])
    assert low < recall <= high
    kind_rows = [line.split() for line in kinds.splitlines()[1:]]
    own_kinds = {r[3]: r[4:] for r in kind_rows if r[0] == str(BRAND_RULES.parent)}
    assert "signal:person_name" in own_kinds and "name_kw" in own_kinds


def test_explain_says_when_a_rules_file_changed_since_the_run(data_dir: Path) -> None:
    risk_copy = data_dir.parent / "rules" / RISK_RULES.name
    original = risk_copy.read_text("utf-8")
    try:
        risk_copy.write_text(original + "\n# edited after the run\n", "utf-8")
        result = _rules("explain", "followbackking", "--data-dir", str(data_dir))
    finally:
        risk_copy.write_text(original, "utf-8")
    assert f"risk rules: {risk_copy} (changed since the run" in result.stdout
    assert "brand rules:" in result.stdout and "brand_heuristics.yml (changed" not in result.stdout


def test_accuracy_against_the_recorded_qa_verdicts(data_dir: Path, tmp_path: Path) -> None:
    missing = _rules("accuracy", "--verdicts", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no dataset at" in missing.stderr
    dataset = OutputPaths(data_dir=data_dir).synthetic_dataset  # the embedded server's
    review = tmp_path / "review.csv"
    # a curator judged the kept author a brand (a rule that missed) and was unsure of nothing else
    review.write_text("handle,verdict,note\nAdaLovelace,brand,a museum's account\n", "utf-8")
    record_verdicts(dataset, review, "2026-01-01T00:00:00Z")
    result = _rules("accuracy", "--verdicts", "--data-dir", str(data_dir), "--dataset", "synthetic")
    assert result.returncode == 0, result.stderr
    assert "QA verdicts of" in result.stdout and "1 authors" in result.stdout
    rows = [line.split() for line in result.stdout.split("\n\n")[0].splitlines()[2:]]
    brand = next(r for r in rows if r[1:3] == ["brand", "verdicts"])
    # n pos TP FP FN TN: the one brand verdict is a false negative of the current rules
    assert brand[3:9] == ["1", "1", "0", "0", "1", "0"]
