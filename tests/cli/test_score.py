"""``influx-score`` as a real subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.cli.scripts import clean_env, console_script
from tests.release_records import scored_authors, user, write_dataset


def influx_score(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("influx-score"), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    authors = pl.concat(
        [
            scored_authors([user("1", "Quiet", 5_000_000, metrics={"tweet_count": 10})]),
            scored_authors(
                [user("2", "Busy", 60_000, metrics={"tweet_count": 900_000})],
                categories=("AI Research", "VC"),
                seed_files=("a.csv", "b.csv", "c.csv"),
            ),
        ]
    )
    return write_dataset(tmp_path / "influx.duckdb", authors)


def test_prints_the_composite_leaders_and_writes_the_table(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    result = influx_score("--dataset", str(dataset), "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "2 authors" in lines[0]
    table = pl.read_parquet(out)
    busy, quiet = (
        table.filter(pl.col("handle") == h).row(0, named=True) for h in ("Busy", "Quiet")
    )
    assert busy["composite_score"] > quiet["composite_score"]  # busier, more curated lists
    assert quiet["rank_global"] == 1  # while the proxy score still ranks reach
    leaders = [line.split()[1] for line in lines if line.split()[:1] in (["1"], ["2"])]
    assert leaders[:2] == ["Busy", "Quiet"]
    assert {"ai_research", "vc"} <= {entry["topic"] for entry in busy["rank_topic"]}


def test_one_topics_ranking(dataset: Path) -> None:
    result = influx_score("--dataset", str(dataset), "--topic", "vc")
    assert result.returncode == 0, result.stderr
    assert "Busy" in result.stdout and "Quiet" not in result.stdout


def test_a_bad_scoring_file_is_named(dataset: Path, tmp_path: Path) -> None:
    scoring = tmp_path / "scoring.yml"
    scoring.write_text("weights: {activity: 1, quality: lots, relevance: 1}\n", encoding="utf-8")
    result = influx_score("--dataset", str(dataset), "--scoring", str(scoring))
    assert result.returncode == 1
    assert f"{scoring}:1 [weights.quality]: expected a number" in result.stderr
