"""``influx-harvest`` as a user runs it: a real subprocess, a real server, a real DuckDB file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.cli.harvest import config_from_options, main
from influx_etl.exit_codes import ExitCode
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT
from tests.store.test_connection import held_by_another_process

HANDLES = [f"member{i:02d}" for i in range(30)]
POPULATION = {
    h: {
        "id": str(7_000 + i),
        "username": h,
        "name": f"Member {i}",
        "description": "Writes about science.",
        "created_at": "2015-05-05T00:00:00.000Z",
        "verified": False,
        "verified_type": "none",
        "public_metrics": {"followers_count": 60_000 + 1_000 * i, "listed_count": 300 + i},
    }
    for i, h in enumerate(HANDLES)
}
BATCHES = 15  # 30 handles in batches of 2


def harvest_command(seeds_dir: Path, data_dir: Path, server: RunningServer) -> list[str]:
    return [
        console_script("influx-harvest"),
        "run",
        "--seeds-dir", str(seeds_dir),
        "--source", server.base_url,
        "--data-dir", str(data_dir),
        "--batch-size", "2",
        "--parallel-batches", "1",
        "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
        "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
    ]  # fmt: skip


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    rows = ["handle,category,source,note", *[f"{h},science,test," for h in HANDLES]]
    (folder / "members.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def stored_batches(dataset: Path) -> int:
    con = duckdb.connect(str(dataset), read_only=True)
    count = con.execute("SELECT count(*) FROM raw_lookups WHERE error IS NULL").fetchall()[0][0]
    con.close()
    return int(count)


def exported_without_fetch_times(data_dir: Path) -> list[dict[str, Any]]:
    lines = (data_dir / "synthetic/latest/latest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        del record["meta"]["last_refresh_at"]
        for source in record["meta"]["sources"]:
            del source["fetched_at"]
    return records


@pytest.mark.parametrize("kill_after_requests", [1, 8])
def test_kill_9_mid_run_then_the_same_command_finishes_the_same_dataset(
    tmp_path: Path, seeds_dir: Path, kill_after_requests: int
) -> None:
    config = ApiServerConfig(population=POPULATION, synthetic=False, latency_s=0.05)
    with start_server(config) as server:
        command = harvest_command(seeds_dir, tmp_path / "killed", server)
        process = subprocess.Popen(command, env=clean_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 60
        while server.requests_served < kill_after_requests and process.poll() is None:
            assert time.monotonic() < deadline, "the harvest never reached the kill point"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        dataset = tmp_path / "killed/synthetic/influx.duckdb"
        stored = stored_batches(dataset)  # DuckDB replays its WAL on open after the crash
        assert stored < BATCHES
        before = server.requests_served

        rerun = subprocess.run(
            command, env=clean_env(), capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "resuming run" in rerun.stderr
        assert server.requests_served - before == BATCHES - stored  # stored batches not re-asked

        uninterrupted = subprocess.run(harvest_command(seeds_dir, tmp_path / "clean", server),
                                       env=clean_env(), capture_output=True, text=True,
                                       timeout=120)  # fmt: skip
        assert uninterrupted.returncode == 0, uninterrupted.stderr
    resumed_records = exported_without_fetch_times(tmp_path / "killed")
    assert len(resumed_records) == 30
    assert resumed_records == exported_without_fetch_times(tmp_path / "clean")


def test_bad_input_is_a_clear_error_with_exit_code_1(tmp_path: Path, seeds_dir: Path) -> None:
    missing_rules = tmp_path / "nope.yml"
    result = subprocess.run(
        [console_script("influx-harvest"), "run", "--seeds-dir", str(seeds_dir),
         "--brand-rules", str(missing_rules), "--data-dir", str(tmp_path / "data")],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "nope.yml" in result.stderr
    assert not (tmp_path / "data").exists()  # failed before anything was written


def test_help_explains_sources_and_the_token() -> None:
    result = subprocess.run([console_script("influx-harvest"), "run", "--help"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0
    for text in ("--source", "X_BEARER_TOKEN", "--batch-size", "--from-raw", "prefetched:FILE"):
        assert text in result.stdout


def test_a_store_memory_that_is_no_size_stops_before_anything_is_written(
    tmp_path: Path, seeds_dir: Path
) -> None:
    result = subprocess.run(
        [console_script("influx-harvest"), "run", "--seeds-dir", str(seeds_dir),
         "--store-memory", "lots", "--data-dir", str(tmp_path / "data")],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: --store-memory must be a size such as 500MB")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("given", "expected"), [("none", None), ("NONE", None), ("300MB", "300MB")]
)
def test_store_memory_reaches_the_config(given: str, expected: str | None) -> None:
    context = main.commands["run"].make_context("run", ["--store-memory", given])
    assert config_from_options([], None, context.params).store_memory == expected


def _bulk_prefetched(users_file: Path, handles: list[str], data_dir: Path) -> list[str]:
    handles_file = users_file.with_name("handles.txt")
    handles_file.write_text("\n".join(handles) + "\n", encoding="utf-8")
    return [
        console_script("influx-harvest"), "bulk", "--handles-file", str(handles_file),
        "--source", f"prefetched:{users_file}", "--data-dir", str(data_dir),
        "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
        "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
    ]  # fmt: skip


def test_a_prefetched_file_where_one_id_answers_two_handles_ends_with_exit_0(
    tmp_path: Path, shared_real_users: Path
) -> None:
    real = [json.loads(line) for line in shared_real_users.read_text().splitlines()[:3]]
    renamed = {**real[0], "username": real[0]["username"] + "_was"}  # the same account, renamed
    generated = [
        {**POPULATION["member01"], "id": "9001", "username": "GenOld"},
        {**POPULATION["member02"], "id": "9001", "username": "GenNew"},
    ]
    users = [renamed, *real, *generated]
    users_file = tmp_path / "users.jsonl"
    users_file.write_text("\n".join(json.dumps(u) for u in users) + "\n", encoding="utf-8")
    handles = [u["username"] for u in users]
    data_dir = tmp_path / "data"
    result = subprocess.run(
        _bulk_prefetched(users_file, handles, data_dir),
        env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "id answered another handle too, which keeps it" in result.stdout
    con = duckdb.connect(str(data_dir / "influx.duckdb"), read_only=True)
    outcomes = dict(con.execute("SELECT handle_key, outcome FROM handle_outcomes").fetchall())
    per_id = con.execute("SELECT id, count(*) FROM authors GROUP BY id").fetchall()
    con.close()
    assert set(outcomes) == {h.lower() for h in handles}  # every handle has its outcome
    assert all(count == 1 for _, count in per_id)
    # fetched together, both usernames the handle asked for: the handle sorting first keeps it
    for pair in ((real[0]["username"], renamed["username"]), ("GenOld", "GenNew")):
        keeper, other = sorted(pair, key=str.lower)
        assert outcomes[keeper.lower()] == "found"
        assert outcomes[other.lower()] == "duplicate_id"
        explained = subprocess.run(
            [console_script("influx-rules"), "explain", other, "--data-dir", str(data_dir)],
            env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert explained.returncode == 0, explained.stderr
        assert "outcome:    duplicate_id" in explained.stdout
        assert f"is kept by @{keeper}" in explained.stdout
    assert "9001" in {user_id for user_id, _ in per_id}  # generated, above threshold: kept


def test_a_second_run_on_a_held_dataset_stops_naming_the_first(tmp_path: Path) -> None:
    users_file = tmp_path / "users.jsonl"
    users_file.write_text(json.dumps(POPULATION["member01"]) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    dataset = data_dir / "influx.duckdb"
    data_dir.mkdir()
    duckdb.connect(str(dataset)).close()
    with held_by_another_process(dataset) as pid:
        second = subprocess.run(
            _bulk_prefetched(users_file, ["member01"], data_dir),
            env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert second.returncode == 1
    assert second.stderr.splitlines()[-1] + "\n" == (
        f"error: another influx run (PID {pid}) holds {dataset}; wait for it, or use "
        "another --data-dir\n"
    )


def bulk_command(data_dir: Path, source: str, *handles_files: Path) -> list[str]:
    files = [arg for path in handles_files for arg in ("--handles-file", str(path))]
    return [
        console_script("influx-harvest"),
        "bulk",
        *files,
        "--source", source,
        "--data-dir", str(data_dir),
        "--min-followers", "0",
        "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
        "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
        "-v",
    ]  # fmt: skip


def run_cli(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), timeout=180, check=False
    )


def funnel_count(stdout: str, label: str) -> int:
    (line,) = [line for line in stdout.splitlines() if line.strip().startswith(f"{label}  ")]
    return int(line.split()[-1])


def test_a_prefetched_file_with_broken_lines_is_processed_and_exits_input_damaged(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users.jsonl"
    users.write_text(
        "\n".join(
            [
                json.dumps({**POPULATION["member00"], "username": "Ann", "id": "1"}),
                '{"id":"4","username":"Dan","name":"Dan D","descr',
                "<html>gateway timeout</html>",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("ann\ndan\nzed\n", encoding="utf-8")
    data_dir = tmp_path / "data"

    result = run_cli(bulk_command(data_dir, f"prefetched:{users}", seeds))

    assert result.returncode == ExitCode.INPUT_DAMAGED, result.stderr
    assert funnel_count(result.stdout, "broken lines in the prefetched file (see above)") == 2
    assert (
        funnel_count(result.stdout, "found"),
        funnel_count(result.stdout, "failed (retry with a later run)"),
    ) == (1, 1)
    assert f"{users}:2: skipped: broken JSON" in result.stderr
    assert f"{users}:3: skipped: broken JSON" in result.stderr
    assert "not a user object" not in result.stderr
    explained = run_cli(
        [console_script("influx-rules"), "explain", "dan", "--data-dir", str(data_dir)]
    )
    assert explained.returncode == 0, explained.stderr
    assert "broken JSON on line 2 of the prefetched users file users.jsonl" in explained.stdout
    assert "is not in the prefetched users file" not in explained.stdout
    zed = run_cli([console_script("influx-rules"), "explain", "zed", "--data-dir", str(data_dir)])
    assert "1 broken line in users.jsonl could have held it (line 3)" in zed.stdout


def test_a_latin1_seed_file_is_refused_the_others_go_on_and_it_exits_input_damaged(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("handle\nmember01\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("handle,note\nmember02,Caf\u00e9\n".encode("latin-1"))
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as server:
        result = run_cli(bulk_command(tmp_path / "data", server.base_url, latin1, good))
        asked = server.stats().usernames

    assert result.returncode == ExitCode.INPUT_DAMAGED, result.stderr
    assert f"iconv -f LATIN1 -t UTF-8 {latin1} > {latin1}.utf8" in result.stderr
    assert "byte offset 24" in result.stderr
    assert funnel_count(result.stdout, "seed files refused (not UTF-8; see above)") == 1
    assert funnel_count(result.stdout, "found") == 1 and asked == 1


def test_seeds_are_checked_before_the_embedded_server_starts(tmp_path: Path) -> None:
    no_handles = tmp_path / "seeds.csv"
    no_handles.write_text("name,category\nAda,science\n", encoding="utf-8")

    result = run_cli(bulk_command(tmp_path / "data", "sim", no_handles))

    assert result.returncode == ExitCode.ERROR
    assert "no handle column" in result.stderr
    assert "embedded X API server on" not in result.stderr
    assert not (tmp_path / "data").exists()
