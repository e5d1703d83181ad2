"""The CPU benchmark on a small count: a real harvest subprocess, its figures and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from influx_etl import cpubench
from tests.conftest import REPO_ROOT


def test_the_benchmark_reports_floor_run_and_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the rule files are read from lists/rules/
    work = tmp_path / "bench"
    assert cpubench.main(["--profiles", "300", "--work-dir", str(work), "--repeat", "1"]) == 0
    report = json.loads((work / "cpubench.json").read_text())
    run = report["harvest"]
    assert report["profiles"] == 300 and report["handles"] > 300
    assert run["exit_status"] == 0 and run["peak_rss_mb"] > 50
    assert {"profiles", "rules", "validate", "integrate", "export"} <= set(run["stages"])
    assert sum(run["stages"][s] for s in ("profiles", "integrate")) < run["seconds"]
    assert len(report["floors"]) == 3 and all(f["rows"] > 300 for f in report["floors"])
    assert set(report["ratios"]) == {f["name"] for f in report["floors"]}
    exported = (work / "data" / "latest" / "latest.jsonl").read_text().splitlines()
    assert exported, "the harvest kept some of the profiles"
    markdown = (work / "cpubench.md").read_text()
    assert "end to end" in markdown and "| validate |" in markdown
    # the input is made once and reused
    before = (work / "profiles-300.jsonl").stat().st_mtime_ns
    cpubench.input_files(work, 300, 0)
    assert (work / "profiles-300.jsonl").stat().st_mtime_ns == before
