"""``influx discover`` as a user runs it: the plan sends nothing; an empty dataset says what to
do."""

from __future__ import annotations

import subprocess
from pathlib import Path

from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.exit_codes import ExitCode
from tests.cli.scripts import clean_env, console_script


def discover_command(tmp_path: Path, base_url: str, *extra: str) -> list[str]:
    return [
        console_script("influx"),
        "discover",
        "--source", base_url,
        "--data-dir", str(tmp_path / "data"),
        "--seeds-dir", str(tmp_path / "seeds"),
        *extra,
    ]  # fmt: skip


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=120)


def test_an_empty_dataset_sends_nothing_and_says_to_harvest_first(tmp_path: Path) -> None:
    with start_server(ApiServerConfig(list_universe=500, list_count=10)) as server:
        plan = run(discover_command(tmp_path, server.base_url, "--plan"))
        result = run(discover_command(tmp_path, server.base_url))
        served = server.requests_served
    assert plan.returncode == 0, plan.stderr
    assert "plan (no request sent)" in plan.stdout
    assert "dataset authors asked" in plan.stdout
    assert result.returncode == ExitCode.NOTHING_LOOKED_UP, result.stderr
    assert "run `influx run` first" in result.stderr
    assert served == 0
    assert not (tmp_path / "seeds").exists()  # no file written
