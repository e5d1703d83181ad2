"""The CPU benchmark on a small count: a real harvest subprocess, its figures and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from influx_etl.tools import cpubench
from tests.conftest import REPO_ROOT


def test_the_benchmark_reports_floor_runs_and_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the rule files are read from lists/rules/
    work = tmp_path / "bench"
    argv = ["--profiles", "300", "--work-dir", str(work), "--repeat", "1"]
    assert cpubench.main([*argv, "--chunk-rows", "70", "--chunk-rows", "1000"]) == 0
    report = json.loads((work / "cpubench-300.json").read_text())
    run = report["harvest"]
    assert report["profiles"] == 300 and report["handles"] > 300
    assert run["exit_status"] == 0 and run["peak_rss_mb"] > 50
    assert {"profiles", "rules", "validate", "integrate", "export"} <= set(run["stages"])
    assert sum(run["stages"][s] for s in ("profiles", "integrate")) < run["seconds"]
    assert len(report["floors"]) == 3 and all(f["rows"] > 300 for f in report["floors"])
    assert set(report["ratios"]) == {f["name"] for f in report["floors"]}
    # one run per --chunk-rows, each passed on, the same profiles kept and exported
    runs = report["runs"]
    assert [r["chunk_rows"] for r in runs] == [70, 1000] and runs[0] == run
    assert all(r["exit_status"] == 0 and "output" not in r for r in runs)
    assert runs[0]["command"][-2:] == ["--chunk-rows", "70"]
    assert runs[0]["funnel"] == runs[1]["funnel"] and runs[0]["funnel"]["kept"] > 0
    assert runs[0]["funnel"]["exported"] > 0
    # the generated profiles are synthetic: the harvest wrote the synthetic dataset, no live one
    exported = (work / "data" / "synthetic" / "latest" / "latest.jsonl").read_text().splitlines()
    assert exported, "the harvest kept some of the profiles"
    assert not (work / "data" / "influx.duckdb").exists()
    markdown = (work / "cpubench-300.md").read_text()
    assert "end to end" in markdown and "| validate |" in markdown
    assert "| --chunk-rows | wall time (s) |" in markdown
    assert "| 70 |" in markdown and "| 1,000 |" in markdown
    # the input is made once and reused
    before = (work / "profiles-300.jsonl").stat().st_mtime_ns
    cpubench.input_files(work, 300, 0)
    assert (work / "profiles-300.jsonl").stat().st_mtime_ns == before


def test_without_floors_and_with_store_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    work = tmp_path / "bench"
    argv = ["--profiles", "200", "--work-dir", str(work), "--no-floors", "--store-memory", "200MB"]
    assert cpubench.main(argv) == 0
    report = json.loads((work / "cpubench-200.json").read_text())
    assert report["floors"] == [] and report["ratios"] == {}
    assert len(report["runs"]) == 1 and report["harvest"]["chunk_rows"] is None
    assert report["harvest"]["command"][-2:] == ["--store-memory", "200MB"]
    markdown = (work / "cpubench-200.md").read_text()
    assert "floor:" not in markdown and "÷" not in markdown and "--chunk-rows" not in markdown
    assert "influx-harvest bulk --store-memory 200MB" in markdown
    assert not (work / "cpubench.md").exists()


@pytest.mark.parametrize(
    "argv",
    [["--chunk-rows", "0"], ["--chunk-rows", "-5"], ["--chunk-rows", "many"], ["--profiles", "0"]],
)
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cpubench.main(argv)
    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


def _run(chunk_rows: int | None, seconds: float, peak: float, kept: int = 40) -> cpubench.Harvest:
    options = [] if chunk_rows is None else ["--chunk-rows", str(chunk_rows)]
    return cpubench.Harvest(
        command=["influx-harvest", "bulk", "-vv", *options],
        seconds=seconds,
        peak_rss_mb=peak,
        exit_status=0,
        chunk_rows=chunk_rows,
        stages={"profiles": seconds / 2, "profiles.parse": seconds / 4, "export": seconds / 4},
        stage_peak_rss_mb={"profiles": int(peak), "export": int(peak)},
        funnel={"kept": kept, "exported": kept - 1},
        output="the log",
    )


def _report(floors: list[cpubench.Floor], runs: list[cpubench.Harvest]) -> cpubench.Report:
    return cpubench.Report(
        date="2025-01-02",
        profiles=10_000_000,
        handles=12_000_000,
        file_bytes=5_700_000_000,
        machine={
            "cpus": 8,
            "memory_mb": 16384,
            "python": "3.12.0",
            "polars": "1.0",
            "duckdb": "1.1",
            "load_average_1m": 0.5,
        },
        floors=floors,
        runs=runs,
        load_after=1.5,
    )


def test_the_markdown_of_several_runs_without_floors() -> None:
    runs = [_run(100_000, 500.0, 1500.4), _run(250_000, 480.0, 2500.0), _run(None, 470.0, 4000)]
    text = cpubench.markdown(_report([], runs))
    lines = text.splitlines()
    assert lines[0].startswith("CPU path, 10,000,000 profiles (12,000,000 handles, 5,700 MB")
    assert "40 kept, 39 exported" in lines[0] and lines[0].endswith("0.5 before, 1.5 after")
    assert lines[2:5] == [
        "| measured | seconds |",
        "| --- | ---: |",
        "| **end to end: influx-harvest bulk --chunk-rows 100000** (peak RSS 1,500 MB) "
        "| **500.00** |",
    ]
    assert "floor:" not in text and "÷" not in text
    # the stage table is the first run's
    assert (
        "| profiles | 250.00 | 1,500 |" in lines and "|   ↳ profiles.parse | 125.00 | 0 |" in lines
    )
    assert "| start-up, imports, command line (the rest) | 125.00 | |" in lines
    assert lines[-5:] == [
        "| --chunk-rows | wall time (s) | peak RSS (MB) | kept | exported |",
        "| ---: | ---: | ---: | ---: | ---: |",
        "| 100,000 | 500.00 | 1,500 | 40 | 39 |",
        "| 250,000 | 480.00 | 2,500 | 40 | 39 |",
        "| default | 470.00 | 4,000 | 40 | 39 |",
    ]


def test_the_markdown_of_one_run_with_floors_is_as_before() -> None:
    floors = [cpubench.Floor("DuckDB count(*) over read_ndjson", 4.0, 300)]
    text = cpubench.markdown(_report(floors, [_run(None, 10.0, 900.0)]))
    lines = text.splitlines()
    assert lines[2:6] == [
        "| measured | seconds | end to end ÷ this |",
        "| --- | ---: | ---: |",
        "| floor: DuckDB count(*) over read_ndjson | 4.00 | 2.5× |",
        "| **end to end: influx-harvest bulk** (peak RSS 900 MB) | **10.00** | 1.0× |",
    ]
    assert "--chunk-rows" not in text  # no runs table for a single run
    assert lines[-1] == "| start-up, imports, command line (the rest) | 2.50 | |"


def test_the_json_has_every_run_without_the_logs() -> None:
    floors = [cpubench.Floor("a floor", 5.0, 300)]
    report = _report(floors, [_run(100, 10.0, 900.0), _run(200, 8.0, 950.0)])
    result = cpubench.report_json(report)
    json.dumps(result)  # serialisable
    assert [r["chunk_rows"] for r in result["runs"]] == [100, 200]
    assert all("output" not in r for r in result["runs"])
    assert result["harvest"] == result["runs"][0] and result["ratios"] == {"a floor": 2.0}
