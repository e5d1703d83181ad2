"""The generator of prefetched users files (``influx-generate-profiles``)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from influx_etl import rules, threshold
from influx_etl.apisim.generate import write_profiles
from influx_etl.apisim.synthetic import (
    HANDLE_PATTERN,
    ORIGIN_FIELD,
    handle_status,
    synthetic_handles,
    synthetic_user,
)
from influx_etl.cli.generate import main
from influx_etl.config import Thresholds
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import PrefetchedSource
from tests.rules.conftest import OWN_BRAND, OWN_RISK


def test_the_files_are_the_same_whatever_the_workers(tmp_path: Path) -> None:
    one = write_profiles(1_200, tmp_path / "a.jsonl", tmp_path / "a.txt", seed=5, workers=1)
    two = write_profiles(1_200, tmp_path / "b.jsonl", tmp_path / "b.txt", seed=5, workers=2)
    assert one.sha256 == two.sha256
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    other = write_profiles(1_200, tmp_path / "c.jsonl", seed=6, workers=1)
    assert other.sha256 != one.sha256


def test_the_users_file_holds_the_servers_profiles_and_answers(tmp_path: Path) -> None:
    files = write_profiles(3_000, tmp_path / "p.jsonl", tmp_path / "h.txt", seed=2)
    handles = (tmp_path / "h.txt").read_text(encoding="utf-8").split()
    assert handles == synthetic_handles(len(handles), seed=2)
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    users = [line for line in lines if "username" in line]
    answers = [error for line in lines if "errors" in line for error in line["errors"]]
    assert len(users) == files.profiles == 3_000
    assert files.handles == len(handles) == files.profiles + files.not_found + files.suspended
    statuses = Counter(handle_status(handle, 2) for handle in handles)
    assert (statuses["not_found"], statuses["suspended"]) == (files.not_found, files.suspended)
    # the embedded server's users with its synthetic mark: a harvest keeps them out of live data
    assert users[0] == synthetic_user(handles[0], 2)
    assert all(user[ORIGIN_FIELD] == "synthetic" for user in users)
    assert {error["value"] for error in answers} == {
        h for h in handles if handle_status(h, 2) != "active"
    }
    assert {error["title"] for error in answers} == {"Not Found Error", "Forbidden"}


def test_handles_are_distinct_and_look_like_peoples_at_any_count() -> None:
    handles = synthetic_handles(300_000, seed=1)
    assert len({handle.lower() for handle in handles}) == len(handles)
    assert all(HANDLE_PATTERN.match(handle) for handle in handles)
    digits = Counter(len(re.search(r"[0-9]*$", handle).group(0)) for handle in handles)  # type: ignore[union-attr]
    assert max(digits) <= 4, "never the 6+ digit endings of generated bot handles"
    assert digits[0] > 10_000, "many handles have no number at all"


@pytest.fixture(scope="module")
def hundred_thousand(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    folder = tmp_path_factory.mktemp("generated")
    files = write_profiles(100_000, folder / "p.jsonl", folder / "h.txt")
    handles = (folder / "h.txt").read_text(encoding="utf-8").split()
    raw = raw_frame(PrefetchedSource(files.profiles_path).fetch_batches([(0, handles)]))
    found = profiles(raw).filter(pl.col("outcome") == "found")
    decided = rules.flagged(
        threshold.thresholded(found, Thresholds()),
        rules.load_brand_rules(OWN_BRAND),
        rules.load_risk_rules(OWN_RISK),
    )
    return decided


def test_a_hundred_thousand_profiles_look_like_a_seed_list(hundred_thousand: pl.DataFrame) -> None:
    profiles_ = hundred_thousand
    assert profiles_.height == 100_000
    assert profiles_["id"].n_unique() == 100_000
    followers = profiles_["followers_count"]
    assert followers.median() < 5_000  # type: ignore[operator]
    passing = profiles_["passes_threshold"].mean()
    assert 0.03 < passing < 0.15  # type: ignore[operator]
    spam = profiles_["risk_flags"].list.contains("spam").mean()
    assert spam < 0.05, "not mostly spam-flagged"  # type: ignore[operator]
    flagged = profiles_["risk_excluded"].mean()
    assert flagged < 0.2  # type: ignore[operator]


def test_the_command_line_writes_both_files(tmp_path: Path) -> None:
    out, handles = tmp_path / "p.jsonl", tmp_path / "h.txt"
    arguments = [
        "--count",
        "40",
        "--out",
        str(out),
        "--handles-out",
        str(handles),
        "--workers",
        "1",
    ]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "40 profiles" in result.output and "handles" in result.output
    assert len(out.read_text().splitlines()) >= 40
