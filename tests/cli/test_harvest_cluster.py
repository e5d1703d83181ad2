"""``influx-harvest --backend dask`` as a user runs it: a real subprocess starting its own local
Dask cluster, a rate-limited server, a real DuckDB file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from influx_etl.apisim import ENDPOINT_USERS_BY, ApiServerConfig, start_server, synthetic_handles
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT

pytest.importorskip("distributed", reason="needs the cluster extra")

HANDLES = synthetic_handles(60, seed=5)
BATCHES = 12  # batches of 5; 4 requests per 1 s window


def harvest(data_dir: Path, seeds_dir: Path, source: str, *extra: str) -> list[str]:
    return [
        console_script("influx-harvest"),
        "run",
        "--seeds-dir", str(seeds_dir),
        "--source", source,
        "--data-dir", str(data_dir),
        "--batch-size", "5",
        "--parallel-batches", "3",
        "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
        "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
        *extra,
    ]  # fmt: skip


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "members.txt").write_text("\n".join(HANDLES) + "\n", encoding="utf-8")
    return folder


def outcomes(data_dir: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(data_dir / "synthetic/influx.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT handle_key, outcome, decision FROM handle_outcomes ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


def run_args(data_dir: Path) -> dict[str, Any]:
    con = duckdb.connect(str(data_dir / "synthetic/influx.duckdb"), read_only=True)
    try:
        args: dict[str, Any] = json.loads(con.execute("SELECT args FROM runs").fetchall()[0][0])
        return args
    finally:
        con.close()


def test_a_scheduler_without_the_dask_backend_is_a_clear_error(
    tmp_path: Path, seeds_dir: Path
) -> None:
    command = harvest(tmp_path / "data", seeds_dir, "sim", "--scheduler", "tcp://127.0.0.1:8786")
    result = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: --scheduler tcp://127.0.0.1:8786 needs --backend dask (got --backend threading)"
    ), result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_help_says_when_to_use_a_backend() -> None:
    result = subprocess.run([console_script("influx-harvest"), "bulk", "--help"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0
    for text in ("--backend [threading|loky|dask]", "--scheduler ADDRESS", "rate limit"):
        assert text in result.stdout


def test_the_dask_backend_starts_a_local_cluster_and_paces_by_one_budget(
    tmp_path: Path, seeds_dir: Path
) -> None:
    limited = ApiServerConfig(seed=5, rate_limit=4, window_s=1.0)
    with start_server(limited) as server:
        command = harvest(tmp_path / "dask", seeds_dir, server.base_url, "--backend", "dask")
        result = subprocess.run(
            command, env=clean_env(), capture_output=True, text=True, timeout=180
        )
        stats = server.stats()
    assert result.returncode == 0, result.stderr
    assert "started a local Dask cluster" in result.stderr
    assert "it is closed when the run ends" in result.stderr
    # the waits happen on the workers; the service tells the coordinator's progress display
    assert "rate-limit window used up: waiting" in result.stderr
    assert stats.by_status == {200: BATCHES}, "no request went into a spent window"
    assert stats.by_endpoint[ENDPOINT_USERS_BY] == BATCHES
    assert run_args(tmp_path / "dask")["backend"] == "dask"

    with start_server(ApiServerConfig(seed=5)) as server:
        single = subprocess.run(harvest(tmp_path / "threads", seeds_dir, server.base_url),
                                env=clean_env(), capture_output=True, text=True,
                                timeout=120)  # fmt: skip
    assert single.returncode == 0, single.stderr
    assert outcomes(tmp_path / "dask") == outcomes(tmp_path / "threads")
    assert len(outcomes(tmp_path / "dask")) == len(HANDLES)
