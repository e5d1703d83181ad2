"""``influx-harvest x-lists`` as a user runs it: kill -9 mid-read, the same command resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb

from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.apisim.contract import ENDPOINT_LIST_MEMBERS, ENDPOINT_USERS_BY
from influx_etl.apisim.lists import list_graph
from influx_etl.exit_codes import ExitCode
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT

GRAPH = ApiServerConfig(list_universe=2_000, list_count=40)


def xlists_command(data_dir: Path, base_url: str, *lists: str) -> list[str]:
    return [
        console_script("influx-harvest"),
        "x-lists",
        *[part for one in lists for part in ("--list", one)],
        "--source", base_url,
        "--data-dir", str(data_dir),
        "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
        "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
    ]  # fmt: skip


def stored_pages(dataset: Path) -> int:
    con = duckdb.connect(str(dataset), read_only=True)
    count = con.execute(
        "SELECT count(*) FROM list_pages WHERE endpoint = '/2/lists/:id/members'"
    ).fetchall()[0][0]
    con.close()
    return int(count)


def test_kill_9_mid_read_then_the_same_command_reads_only_the_pages_left(
    tmp_path: Path,
) -> None:
    the_list = max(
        (one for one in list_graph(GRAPH).lists() if not one.private),
        key=lambda one: one.member_count,
    )
    pages = -(-the_list.member_count // 100)
    assert pages >= 6
    slow = ApiServerConfig(list_universe=2_000, list_count=40, latency_s=0.1)
    with start_server(slow) as server:
        command = xlists_command(tmp_path / "data", server.base_url, the_list.id)
        process = subprocess.Popen(command, env=clean_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 60
        while server.endpoint_counts.get(ENDPOINT_LIST_MEMBERS, 0) < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        asked = server.endpoint_counts.get(ENDPOINT_LIST_MEMBERS, 0)
        stored = stored_pages(tmp_path / "data/synthetic/influx.duckdb")
        assert 1 <= stored <= asked < pages

        rerun = subprocess.run(command, env=clean_env(), capture_output=True, text=True,
                               timeout=120)  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr
        assert "resuming the read" in rerun.stderr
        # only the pages not stored were asked again; no user was looked up
        assert server.endpoint_counts[ENDPOINT_LIST_MEMBERS] - asked == pages - stored
        assert server.endpoint_counts.get(ENDPOINT_USERS_BY, 0) == 0
        assert f"{the_list.member_count:,} members" in rerun.stdout
        assert f"List requests: {pages - stored} (" in rerun.stdout  # what this command sent

        replay = subprocess.run(
            [*command, "--from-raw"], env=clean_env(), capture_output=True, text=True, timeout=120
        )
        assert replay.returncode == 0, replay.stderr
        assert server.endpoint_counts[ENDPOINT_LIST_MEMBERS] - asked == pages - stored


def test_a_bad_list_exits_5_and_the_good_one_is_screened(tmp_path: Path) -> None:
    good = next(one for one in list_graph(GRAPH).lists() if not one.private)
    with start_server(GRAPH) as server:
        result = subprocess.run(
            xlists_command(tmp_path / "data", server.base_url, "not-a-list", good.id),
            env=clean_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == ExitCode.INPUT_DAMAGED, result.stderr
    assert "'not-a-list': not a List id or URL" in result.stdout
    assert "input damaged" in result.stderr


def test_the_plan_sends_nothing_and_counts_pages_per_endpoint(tmp_path: Path) -> None:
    good = next(one for one in list_graph(GRAPH).lists() if not one.private)
    with start_server(GRAPH) as server:
        result = subprocess.run(
            [*xlists_command(tmp_path / "data", server.base_url, good.id), "--plan"],
            env=clean_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert server.requests_served == 0
    assert result.returncode == 0, result.stderr
    assert "GET /2/lists/:id/members requests" in result.stdout
    assert "members read (at most: member counts unknown)" in result.stdout
