"""``influx-batch-benchmark run`` as users run it: a real subprocess, server, pipeline, files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT

RULES = [
    "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
    "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
]  # fmt: skip


def benchmark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("influx-batch-benchmark"), "run", *args, *RULES],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_compare_methods_prints_the_model_and_writes_the_three_files(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks"
    model = ["--latency-ms", "2", "--per-user-ms", "0.5"]
    result = benchmark("--test-handles", "10", "--scenarios", "5,10", "--compare-methods",
                       *model, "--out-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "latency model: 2 ms per request + 0.5 ms per username" in result.stdout
    assert "rate limit: not enforced" in result.stdout
    assert "method per-user: GET /2/users/by/username/{u}, batches of 1, sequential" in (
        result.stdout
    )
    assert "At 10 handles, parallel-bulk looked up" in result.stdout

    (folder,) = out.iterdir()
    assert {p.name for p in folder.iterdir()} == {"benchmark.json", "report.md", "throughput.png"}
    written = json.loads((folder / "benchmark.json").read_text(encoding="utf-8"))
    assert [(r["scenario"], r["method"]) for r in written["results"]] == [
        (n, m) for n in (5, 10) for m in ("per-user", "small-batch", "bulk", "parallel-bulk")
    ]
    per_user = [r for r in written["results"] if r["method"] == "per-user"]
    assert [r["requests"] for r in per_user] == [5, 10]
    assert written["command"].startswith("influx-batch-benchmark run --test-handles 10")
    for row in written["results"]:
        # the table printed is the one written
        assert f"| {row['method']} | {row['requests']} | {row['wall_s']:.2f} |" in result.stdout


def test_without_compare_methods_only_the_pipelines_own_method_runs(tmp_path: Path) -> None:
    result = benchmark("--test-handles", "7", "--scenarios", "5", "--latency-ms", "1",
                       "--rate-limit", "50", "--window-seconds", "1",
                       "--out-dir", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rate limit: 50 requests per 1 s window per endpoint (enforced)" in result.stdout
    (folder,) = tmp_path.iterdir()
    written = json.loads((folder / "benchmark.json").read_text(encoding="utf-8"))
    assert written["scenarios"] == [5, 7]  # --test-handles joins the scenarios
    assert {r["method"] for r in written["results"]} == {"parallel-bulk"}
    assert all(r["speedup_vs_per_user"] is None for r in written["results"])


def test_bad_flags_say_what_was_expected(tmp_path: Path) -> None:
    result = benchmark("--scenarios", "fifty", "--out-dir", str(tmp_path))
    assert result.returncode == 2
    assert "expected handle counts separated by commas" in result.stderr
    result = benchmark("--batch-size", "101", "--out-dir", str(tmp_path))
    assert result.returncode == 2 and "--batch-size" in result.stderr
    assert not any(tmp_path.iterdir())
