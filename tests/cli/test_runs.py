"""Exit statuses of the harvesting commands, as real subprocesses: nothing looked up, Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.cli.runs import resume_command
from influx_etl.exit_codes import ExitCode
from tests.cli.scripts import clean_env, console_script


def harvest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("influx"), "harvest", *args, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_run_where_every_lookup_fails_exits_nothing_looked_up(tmp_path: Path) -> None:
    seeds = tmp_path / "two.txt"
    seeds.write_text("alice\nbob\n", encoding="utf-8")
    result = harvest(
        tmp_path, "bulk", "--handles-file", str(seeds), "--source",
        f"http://127.0.0.1:{closed_port()}", "--max-attempts", "1", "--max-retry-seconds", "0",
    )  # fmt: skip
    assert result.returncode == ExitCode.NOTHING_LOOKED_UP, result.stderr
    assert "every lookup failed" in result.stderr


def test_an_empty_seed_file_or_folder_exits_nothing_looked_up(tmp_path: Path) -> None:
    seeds = tmp_path / "lists/seeds"
    seeds.mkdir(parents=True)
    no_file = harvest(tmp_path, "run", "--seeds-dir", str(seeds))
    assert no_file.returncode == ExitCode.NOTHING_LOOKED_UP, no_file.stderr
    assert "no *.csv or *.txt seed file" in no_file.stderr
    (seeds / "empty.txt").write_text("# nothing yet\n", encoding="utf-8")
    empty = harvest(tmp_path, "run", "--seeds-dir", str(seeds))
    assert empty.returncode == ExitCode.NOTHING_LOOKED_UP, empty.stderr
    assert "hold no handle" in empty.stderr


def test_a_missing_seed_folder_names_it_and_influx_init(tmp_path: Path) -> None:
    result = harvest(tmp_path, "run")
    assert result.returncode == ExitCode.ERROR
    assert "lists/seeds" in result.stderr and "influx init" in result.stderr


@pytest.fixture
def rate_limited() -> Iterator[RunningServer]:
    # one request a window: the second batch waits ten minutes, time enough for Ctrl-C
    with start_server(ApiServerConfig(rate_limit=1, window_s=600)) as running:
        yield running


def test_ctrl_c_exits_130_and_prints_the_command_that_resumes(
    tmp_path: Path, rate_limited: RunningServer
) -> None:
    seeds = tmp_path / "two.txt"
    seeds.write_text("alice\nbob\n", encoding="utf-8")
    command = [
        console_script("influx-harvest"), "bulk", "--handles-file", str(seeds),
        "--source", rate_limited.base_url, "--batch-size", "1", "--parallel-batches", "1",
        "--data-dir", str(tmp_path / "data"), "--no-resume",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env()
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "waiting" in line:  # the first batch is stored, the second waits for the window
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == ExitCode.INTERRUPTED, "".join(seen) + rest
    assert "the same command resumes" in rest
    assert f"influx-harvest bulk --handles-file {seeds}" in rest
    assert "--no-resume" not in rest  # the resume command must not start afresh


def test_resume_command_drops_no_resume_and_quotes() -> None:
    argv = ["/venv/bin/influx", "harvest", "bulk", "--handles-file", "my seeds.csv", "--no-resume"]
    assert resume_command(argv) == "influx harvest bulk --handles-file 'my seeds.csv'"
