"""Every notebook in ``notebooks/`` runs headless, start to end, against a small real dataset.

The notebooks are jupytext percent scripts; each is read into a notebook and executed cell by
cell by nbclient in a kernel of this interpreter (so the venv's packages, and no network). A cell
that raises fails the test with the cell and its traceback.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from influx_etl.store import Store
from influx_etl.tools.qa import qa_sample, record_verdicts
from tests.conftest import REPO_ROOT
from tests.run_dataset import report_dataset

nbclient = pytest.importorskip("nbclient", reason="notebook extra: pip install -e '.[notebooks]'")
jupytext = pytest.importorskip("jupytext", reason="notebook extra: pip install -e '.[notebooks]'")

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.py"))
KERNEL = "influx-tests"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared test dataset, copied, with a reviewer's verdicts recorded on two authors."""
    folder = tmp_path_factory.mktemp("notebook-dataset")
    path = Path(shutil.copy(report_dataset(tmp_path_factory).path, folder / "influx.duckdb"))
    review = folder / "review.csv"
    review.write_text("handle,verdict,note\nAda,individual,\nGrace,brand,a fan club\n")
    record_verdicts(path, review, "2026-01-01T00:00:00.000Z")
    return path


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernel spec for this very interpreter, found before any user or system ``python3``."""
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "influx tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(spec_dir.parent.parent))
        yield KERNEL


def executed(path: Path, kernel: str) -> Any:
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=120,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def outputs(notebook: Any) -> tuple[str, int]:
    """All text the notebook printed or displayed, and how many images it drew."""
    texts, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            data = output.get("data", {})
            texts += [data.get("text/plain", ""), data.get("text/html", "")]
            images += "image/png" in data
    return "\n".join(texts), images


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty benchmarks folder: the benchmarks notebook builds a small benchmark in it."""
    return tmp_path_factory.mktemp("benchmarks")


BENCHMARK_SIZE = {"INFLUX_BENCH_SCENARIOS": "5,10", "INFLUX_BENCH_LATENCY_MS": "1"}
"""The benchmark the notebook builds in the tests: tiny, so that it takes seconds."""


@pytest.fixture(scope="module")
def runs(dataset: Path, benchmarks: Path, kernel: str) -> Iterator[dict[str, tuple[str, int]]]:
    """Each notebook executed once against ``dataset`` (and the empty ``benchmarks`` folder):
    what it printed, how many images."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFLUX_DATASET", str(dataset))
        patch.setenv("INFLUX_BENCHMARKS", str(benchmarks))
        for name, value in BENCHMARK_SIZE.items():
            patch.setenv(name, value)
        yield {path.stem: outputs(executed(path, kernel)) for path in NOTEBOOKS}


def test_there_are_notebooks_to_run() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"explore_dataset", "rules_audit", "benchmarks"}


@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_every_notebook_runs_headless_on_the_dataset_it_was_given(
    name: str, runs: dict[str, tuple[str, int]], dataset: Path, benchmarks: Path
) -> None:
    text, images = runs[name]  # a cell that raised would have failed the fixture
    reads = f"benchmarks {benchmarks}" if name == "benchmarks" else f"dataset {dataset}"
    assert reads in text
    assert images >= 3


def test_explore_dataset_shows_growth_and_seed_file_rates(
    runs: dict[str, tuple[str, int]], dataset: Path
) -> None:
    text, _ = runs["explore_dataset"]
    con = duckdb.connect(str(dataset), read_only=True)
    (grown,) = con.execute(
        "SELECT count(*) FROM (SELECT id FROM author_snapshots GROUP BY id HAVING count(*) > 1)"
    ).fetchone() or (0,)
    con.close()
    assert grown > 0
    assert f"{grown} authors with more than one snapshot" in text
    for seed_file in ("ai.csv", "science.csv", "more.csv"):
        assert seed_file in text  # a row of the per-seed-file rates


def test_rules_audit_shows_firing_rules_the_sample_and_the_verdicts(
    runs: dict[str, tuple[str, int]], dataset: Path
) -> None:
    text, _ = runs["rules_audit"]
    assert "risk:spam:bio:follow back" in text  # FollowBackKing's rule fired
    assert "flag_threshold" in text
    assert "1 kept authors judged brand or risky" in text  # Grace, recorded above
    with Store.open_existing(dataset) as store:
        expected = qa_sample(store.authors(), 20, seed=0)["handle"].to_list()
    assert all(f"https://x.com/{handle}" in text for handle in expected)


def test_a_notebook_without_a_dataset_says_how_to_make_one(
    tmp_path: Path, kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFLUX_DATASET", str(tmp_path / "none.duckdb"))
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="make harvest"):
        executed(REPO_ROOT / "notebooks/rules_audit.py", kernel)


def test_the_benchmarks_notebook_builds_a_small_benchmark_when_there_is_none(
    runs: dict[str, tuple[str, int]], benchmarks: Path
) -> None:
    text, _ = runs["benchmarks"]
    (built,) = benchmarks.glob("*/benchmark.json")
    assert f"no benchmark.json under {benchmarks}: built a small one in {built.parent.name}" in text
    document = json.loads(built.read_text(encoding="utf-8"))
    assert document["scenarios"] == [5, 10]
    assert document["latency_model"]["latency_s"] == pytest.approx(0.001)
    assert all(line in text for line in document["server"])  # the model it charts against
    methods = {row["method"] for row in document["results"]}
    assert methods == {"per-user", "small-batch", "bulk", "parallel-bulk"}
    assert (built.parent / "throughput.png").is_file()


def test_the_benchmarks_notebook_charts_every_benchmark_it_finds(
    runs: dict[str, tuple[str, int]],
    benchmarks: Path,
    kernel: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (built,) = benchmarks.glob("*/benchmark.json")
    older = tmp_path / "2020-01-01_000000"
    newer = Path(shutil.copytree(built.parent, tmp_path / built.parent.name))
    shutil.copytree(built.parent, older)
    document = json.loads((older / "benchmark.json").read_text(encoding="utf-8"))
    document["started_at"] = "2020-01-01T00:00:00.000Z"
    (older / "benchmark.json").write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setenv("INFLUX_BENCHMARKS", str(tmp_path))
    text, images = outputs(executed(REPO_ROOT / "notebooks/benchmarks.py", kernel))
    assert f"benchmarks {tmp_path}: 2 benchmark(s)" in text
    assert "built a small one" not in text
    assert f"latest: {newer.name}" in text
    assert older.name in text and newer.name in text  # both in the history table
    assert images >= 3
