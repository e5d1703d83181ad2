"""``influx-export`` as a real subprocess: every file, byte-identical runs, the dated snapshot."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import polars as pl

from tests.cli.scripts import clean_env, console_script
from tests.release_records import scored_authors, user, write_dataset

FILES = ("latest.jsonl", "latest.jsonl.gz", "latest.parquet", "latest.csv", "manifest.json")


def influx_export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("influx-export"), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


def test_two_exports_of_an_unchanged_dataset_are_byte_identical(tmp_path: Path) -> None:
    authors = scored_authors([user("11", "Ann", 3_000_000), user("12", "Ben", 60_000)])
    dataset = write_dataset(tmp_path / "data" / "influx.duckdb", authors)

    first = influx_export("--dataset", str(dataset), "--snapshot")
    assert first.returncode == 0, first.stderr
    latest = tmp_path / "data" / "latest"
    before = {name: (latest / name).read_bytes() for name in FILES}
    second = influx_export("--dataset", str(dataset))
    assert second.returncode == 0, second.stderr

    assert {name: (latest / name).read_bytes() for name in FILES} == before
    manifest = json.loads(before["manifest.json"])
    assert manifest["count"] == 2
    assert [entry["name"] for entry in manifest["files"]] == list(FILES[:-1])
    assert gzip.decompress(before["latest.jsonl.gz"]) == before["latest.jsonl"]
    assert pl.read_parquet(latest / "latest.parquet")["handle"].to_list() == ["Ann", "Ben"]
    (snapshot,) = (tmp_path / "data" / "snapshots").iterdir()
    assert {name: (snapshot / name).read_bytes() for name in FILES} == before
    assert "exported 2 records" in first.stdout


def test_a_missing_dataset_is_an_error(tmp_path: Path) -> None:
    result = influx_export("--dataset", str(tmp_path / "nowhere.duckdb"))
    assert result.returncode == 1
    assert "no dataset at" in result.stderr
    assert not (tmp_path / "latest").exists()
