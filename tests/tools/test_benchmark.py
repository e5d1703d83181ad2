"""The lookup benchmark: ceilings from the latency model, the same-work check, the files.

Real parts only: the embedded server on 127.0.0.1 and the whole pipeline into DuckDB files in
``tmp_path``. Nothing here asserts a time; the timings are only checked to be what was written.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pytest

from influx_etl.apisim import synthetic_handles
from influx_etl.config import RuleFiles
from influx_etl.errors import BenchmarkMismatch, ConfigError
from influx_etl.tools.benchmark import (
    BenchmarkResult,
    BenchmarkSettings,
    LatencyModel,
    Method,
    MethodOutput,
    ceiling,
    check_same_work,
    comparison_methods,
    least_lookup_seconds,
    run_benchmark,
    run_method,
    steady_ceiling,
)
from influx_etl.tools.benchmark_report import write_outputs
from tests.conftest import REPO_ROOT

RULES = RuleFiles(
    brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
    risk=REPO_ROOT / "lists/rules/risk_terms.yml",
)
MODEL = LatencyModel(latency_s=0.05, per_user_s=0.001)
PER_USER, SMALL_BATCH, BULK, PARALLEL_BULK = comparison_methods(75, 3)


# -- ceilings -----------------------------------------------------------------------------------


def test_each_methods_steady_ceiling_is_b_over_latency_plus_b_per_user_times_workers() -> None:
    assert [m.name for m in (PER_USER, SMALL_BATCH, BULK, PARALLEL_BULK)] == [
        "per-user",
        "small-batch",
        "bulk",
        "parallel-bulk",
    ]
    assert steady_ceiling(PER_USER, MODEL) == pytest.approx(1 / 0.051)
    assert steady_ceiling(SMALL_BATCH, MODEL) == pytest.approx(15 / 0.065)
    assert steady_ceiling(BULK, MODEL) == pytest.approx(100 / 0.150)
    assert steady_ceiling(PARALLEL_BULK, MODEL) == pytest.approx(3 * 75 / 0.125)


def test_a_scenarios_ceiling_is_the_least_time_of_the_methods_own_schedule() -> None:
    # 50 requests of one username, one after the other
    assert least_lookup_seconds(PER_USER, 50, MODEL) == pytest.approx(50 * 0.051)
    # 100 handles in batches of 15: six of 15 and one of 10
    assert least_lookup_seconds(SMALL_BATCH, 100, MODEL) == pytest.approx(6 * 0.065 + 0.060)
    # 75 and 25 at once on two of the three workers: the longer one decides
    assert least_lookup_seconds(PARALLEL_BULK, 100, MODEL) == pytest.approx(0.125)
    # 13 batches of 75 and one of 25 on 3 workers: four full rounds, then a 75 and the 25
    assert least_lookup_seconds(PARALLEL_BULK, 1000, MODEL) == pytest.approx(5 * 0.125)
    at_1000 = ceiling(PARALLEL_BULK, 1000, MODEL)
    assert at_1000.handles_per_s == pytest.approx(1000 / 0.625)
    assert at_1000.bound == "latency"
    assert at_1000.handles_per_s < at_1000.steady_handles_per_s  # type: ignore[operator]


def test_large_scenarios_tend_to_the_steady_ceiling() -> None:
    rounds = 40 * 3 * 75  # whole rounds of full batches on every worker
    assert ceiling(PARALLEL_BULK, rounds, MODEL).handles_per_s == pytest.approx(
        steady_ceiling(PARALLEL_BULK, MODEL)
    )
    assert ceiling(PER_USER, 10_000, MODEL).handles_per_s == pytest.approx(1 / 0.051)


def test_a_rate_limit_caps_the_ceiling_at_r_times_b_over_w() -> None:
    limited = replace(MODEL, rate_limit=2, window_s=10.0)
    assert steady_ceiling(BULK, limited) == pytest.approx(2 * 100 / 10.0)
    assert steady_ceiling(PER_USER, limited) == pytest.approx(2 * 1 / 10.0)
    assert ceiling(BULK, 500, limited).bound == "rate limit"
    # five requests, two per window: the fifth may start only when the third window opens
    assert least_lookup_seconds(BULK, 500, limited) == pytest.approx(2 * 10.0 + 0.150)
    # a limit the method never reaches leaves the latency bound
    generous = replace(MODEL, rate_limit=1000, window_s=1.0)
    assert ceiling(BULK, 500, generous).bound == "latency"
    assert steady_ceiling(BULK, generous) == pytest.approx(100 / 0.150)


def test_a_model_that_costs_nothing_has_no_ceiling() -> None:
    free = LatencyModel(latency_s=0.0, per_user_s=0.0)
    assert steady_ceiling(BULK, free) is None
    assert ceiling(BULK, 100, free).handles_per_s is None
    assert ceiling(BULK, 100, free).bound == "none"


def test_settings_are_checked_with_messages_that_list_what_is_valid() -> None:
    with pytest.raises(ConfigError, match="expected one of bulk, per-user"):
        Method("odd", "graphql", 10, 1)
    with pytest.raises(ConfigError, match="must be >= 1 and <= 100"):
        Method("huge", "bulk", 150, 1)
    with pytest.raises(ConfigError, match="headline scenario 30 is not one of"):
        BenchmarkSettings(scenarios=(10, 20), headline_handles=30)
    with pytest.raises(ConfigError, match="method names must differ"):
        BenchmarkSettings(methods=(BULK, BULK))
    with pytest.raises(ConfigError, match="rate limit must be >= 1"):
        LatencyModel(rate_limit=0)


# -- the same-work check ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first synthetic handles as recorded individuals above the threshold, so that every
    scenario exports records to compare (the synthetic ones rarely pass at a dozen handles)."""
    path = tmp_path_factory.mktemp("population") / "people.jsonl"
    people = [
        {
            "id": str(9_000 + i),
            "username": handle,
            "name": handle.title(),
            "description": "Physicist and writer.",
            "verified": False,
            "public_metrics": {"followers_count": 80_000 + i, "listed_count": 900},
        }
        for i, handle in enumerate(synthetic_handles(3))
    ]
    path.write_text("".join(json.dumps(p) + "\n" for p in people), encoding="utf-8")
    return path


def small_settings(population: Path, **changes: object) -> BenchmarkSettings:
    settings = BenchmarkSettings(
        scenarios=(12,),
        model=LatencyModel(latency_s=0.001, per_user_s=0.0),
        population=population,
        rules=RULES,
        warm_up=False,
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def real_outputs(
    population: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, MethodOutput]:
    """What per-user and bulk really produced for the same 12 handles."""
    folder = tmp_path_factory.mktemp("methods")
    settings = small_settings(population)
    handles = synthetic_handles(12)
    return {
        method.name: run_method(method, handles, settings, folder / method.name)[1]
        for method in (PER_USER, BULK)
    }


def test_methods_that_did_the_same_work_pass(real_outputs: dict[str, MethodOutput]) -> None:
    assert len(real_outputs["bulk"].outcomes) == 12
    assert check_same_work(12, real_outputs) == len(real_outputs["per-user"].records) >= 3


def test_a_method_that_drops_handles_is_caught(real_outputs: dict[str, MethodOutput]) -> None:
    bulk = real_outputs["bulk"]
    dropped = sorted(bulk.outcomes)[:2]
    lazy = MethodOutput(
        {h: o for h, o in bulk.outcomes.items() if h not in dropped},
        [r for r in bulk.records if r["handle"].lower() not in dropped],
    )
    with pytest.raises(BenchmarkMismatch, match="lazy: no outcome for 2 handle") as caught:
        check_same_work(12, {"per-user": real_outputs["per-user"], "lazy": lazy})
    assert all(f"@{handle}" in str(caught.value) for handle in dropped)
    assert caught.value.scenario == 12 and caught.value.methods == ("per-user", "lazy")


def test_a_method_whose_handles_failed_or_whose_records_differ_is_caught(
    real_outputs: dict[str, MethodOutput],
) -> None:
    bulk = real_outputs["bulk"]
    handle = next(h for h, o in bulk.outcomes.items() if o == "found")
    failing = MethodOutput({**bulk.outcomes, handle: "failed"}, bulk.records)
    with pytest.raises(BenchmarkMismatch, match=f"1 handle.s. failed to be looked up: @{handle}"):
        check_same_work(12, {"per-user": real_outputs["per-user"], "failing": failing})
    records = json.loads(json.dumps(bulk.records))
    records[0]["followers_count"] += 1
    changed = MethodOutput(bulk.outcomes, records)
    with pytest.raises(
        BenchmarkMismatch, match=f"same author, different content: @{records[0]['handle']}"
    ):
        check_same_work(12, {"per-user": real_outputs["per-user"], "changed": changed})


# -- a whole benchmark and its files ------------------------------------------------------------


@pytest.fixture(scope="module")
def benchmark_result(population: Path) -> BenchmarkResult:
    settings = small_settings(
        population,
        scenarios=(6, 12),
        methods=comparison_methods(batch_size=5, parallel_batches=2),
        repeats=2,
        headline_handles=12,
    )
    return run_benchmark(settings, command="influx-batch-benchmark run (test)")


def test_every_method_ran_every_scenario_with_the_requests_its_batching_needs(
    benchmark_result: BenchmarkResult,
) -> None:
    runs = {(r.scenario, r.method): r for r in benchmark_result.runs}
    assert set(runs) == {(n, m.name) for n in (6, 12) for m in comparison_methods(5, 2)}
    for n in (6, 12):
        # counted by the server, compared with the batching
        assert runs[n, "per-user"].requests_by_endpoint == {"/2/users/by/username/:username": n}
        assert runs[n, "small-batch"].requests == runs[n, "bulk"].requests == 1
        assert runs[n, "parallel-bulk"].requests == math.ceil(n / 5)
        baseline = runs[n, "per-user"].wall_s
        for run in (runs[n, m] for m in ("per-user", "small-batch", "bulk", "parallel-bulk")):
            assert run.speedup_vs_per_user == pytest.approx(baseline / run.wall_s)
            assert len(run.wall_s_each) == 2 and run.wall_s in run.wall_s_each
            assert 0 < run.lookup_s < run.wall_s
            method = Method(run.method, run.endpoint, run.batch_size, run.workers)
            least = least_lookup_seconds(method, n, benchmark_result.settings.model)
            assert run.ceiling_handles_per_s == pytest.approx(n / least)
    assert benchmark_result.compared_records[12] >= 3


def test_the_files_hold_the_measured_numbers(
    benchmark_result: BenchmarkResult, tmp_path: Path
) -> None:
    files = write_outputs(benchmark_result, tmp_path / "benchmarks")
    assert files.folder.parent == tmp_path / "benchmarks"
    assert files.folder.name[:4].isdigit()  # dated, e.g. 2026-11-25_004056

    written = json.loads(files.json.read_text(encoding="utf-8"))
    assert written["latency_model"] == {
        "latency_s": 0.001,
        "per_user_s": 0.0,
        "rate_limit": None,
        "window_s": 900.0,
    }
    assert written["scenarios"] == [6, 12] and written["headline_scenario"] == 12
    assert len(written["results"]) == len(benchmark_result.runs) == 8
    for row, run in zip(written["results"], benchmark_result.runs, strict=True):
        assert (row["scenario"], row["method"]) == (run.scenario, run.method)
        assert row["wall_s"] == run.wall_s and row["requests"] == run.requests
        assert row["handles_per_s"] == pytest.approx(run.handles / run.wall_s)
        assert row["authors_per_hour"] == pytest.approx(3600 * run.handles / run.wall_s)
        assert row["fraction_of_ceiling"] == pytest.approx(
            (run.handles / run.lookup_s) / run.ceiling_handles_per_s  # type: ignore[operator]
        )

    report = files.report.read_text(encoding="utf-8")
    assert "latency model: 1 ms per request + 0 ms per username" in report
    for run in benchmark_result.runs:
        row = f"| {run.handles:,} | {run.method} | {run.requests:,} | {run.wall_s:.2f} |"
        assert row in report
    assert "At 12 handles, parallel-bulk looked up" in report
    assert "exported the same" in report and f"]({files.chart.name})" in report

    pixels = matplotlib.image.imread(files.chart)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600
    assert pixels.std() > 0.05  # something was drawn


def test_outputs_never_overwrite_an_earlier_benchmark(
    benchmark_result: BenchmarkResult, tmp_path: Path
) -> None:
    first = write_outputs(benchmark_result, tmp_path)
    second = write_outputs(benchmark_result, tmp_path)
    assert first.folder != second.folder
    assert first.json.is_file() and second.json.is_file()
