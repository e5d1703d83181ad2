"""The batch tools and ``influx ban`` as users run them: real subprocesses, server, DuckDB."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.exit_codes import ExitCode
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT

RULES = [
    "--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
    "--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"),
]  # fmt: skip
PEOPLE = {
    h: {"id": str(300 + i), "username": h, "name": h.title(), "description": "Physicist.",
        "public_metrics": {"followers_count": 90_000 + i, "listed_count": 800}}
    for i, h in enumerate(["ada", "max", "lise", "emmy"])
}  # fmt: skip


@pytest.fixture
def server() -> RunningServer:
    with start_server(ApiServerConfig(population=PEOPLE, synthetic=False)) as running:
        yield running


def seed_file(folder: Path, name: str, handles: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("handle,category,source,note\n" + "".join(f"{h},physics,t,\n" for h in handles))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), env=clean_env(), capture_output=True, text=True, timeout=120)


def test_batch_harvest_over_several_files_prints_the_funnel_and_metrics(
    tmp_path: Path, server: RunningServer
) -> None:
    one = seed_file(tmp_path / "s", "one.csv", ["ada", "max"])
    two = seed_file(tmp_path / "s", "two.txt", ["lise", "ada", "nobody"])
    two.write_text("lise\nADA\nnobody\n")
    result = run(console_script("influx-batch-harvest"), "--handles-file", str(one),
                 "--handles-file", str(two), "--source", server.base_url,
                 "--data-dir", str(tmp_path / "data"), *RULES)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "handles per second" in result.stdout
    assert re.search(r"found rate\s+75\.0%", result.stdout)
    lines = (tmp_path / "data/synthetic/latest/latest.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["handle"] for line in lines) == ["ada", "lise", "max"]


def test_automation_and_ban_from_the_command_line(tmp_path: Path, server: RunningServer) -> None:
    seeds = tmp_path / "seeds"
    seed_file(seeds, "a.csv", ["ada", "max", "lise", "emmy"])
    automation = [console_script("influx-batch-automation"), "run", "--seeds-dir", str(seeds),
                  "--target-authors", "10", "--source", server.base_url,
                  "--data-dir", str(tmp_path / "data"), *RULES]  # fmt: skip
    first = run(*automation)
    assert first.returncode == 0, first.stderr
    assert re.search(r"authors now\s+4\n", first.stdout)
    assert re.search(r"still needed\s+6\n", first.stdout)

    dataset = tmp_path / "data/synthetic/influx.duckdb"
    banned = run(console_script("influx"), "ban", "@Emmy", "--reason", "asked to be removed",
                 "--dataset", str(dataset))  # fmt: skip
    assert banned.returncode == 0 and "removed and banned" in banned.stdout

    seed_file(seeds, "a.csv", ["ada", "max", "lise", "emmy", "nobody"])  # edited: pending again
    second = run(*automation)
    assert second.returncode == 0, second.stderr
    assert seed_table(second.stdout)["a.csv"]["banned"] == 1
    assert re.search(r"authors now\s+3\n", second.stdout)


def seed_table(stdout: str) -> dict[str, dict[str, int]]:
    """The automation's compact table: seed file -> column heading -> count."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("seed file"))
    headings = re.split(r"\s{2,}", lines[start].strip())
    table = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        name, *counts = re.split(r"\s{2,}", line.strip())
        table[name] = dict(zip(headings[1:], map(int, counts), strict=True))
    return table


def test_ban_without_a_dataset_is_a_clear_error(tmp_path: Path) -> None:
    result = run(console_script("influx"), "ban", "x", "--reason", "r",
                 "--dataset", str(tmp_path / "none.duckdb"))  # fmt: skip
    assert result.returncode == 1 and "no dataset at" in result.stderr


def test_plan_cap_continue_and_usage_from_the_command_line(
    tmp_path: Path, server: RunningServer
) -> None:
    seeds = tmp_path / "seeds"
    seed_file(seeds, "a.csv", ["ada", "max", "lise", "emmy", "nobody"])
    automation = [console_script("influx-batch-automation"), "run", "--seeds-dir", str(seeds),
                  "--source", server.base_url, "--batch-size", "1",
                  "--data-dir", str(tmp_path / "data"), *RULES]  # fmt: skip
    planned = run(*automation, "--plan")
    assert planned.returncode == 0, planned.stderr
    assert re.search(r"to look up\s+5\n", planned.stdout)
    assert re.search(r"requests\s+5\n", planned.stdout)
    assert re.search(r"estimated cost \(at most, 0\.010 USD/user\)\s+0\.05 USD", planned.stdout)
    assert server.requests_served == 0

    capped = run(*automation, "--max-requests", "2")
    assert capped.returncode == ExitCode.CAPPED, capped.stderr
    assert server.requests_served == 2
    assert "3 handles in 3 requests left pending; continue with:" in capped.stdout
    assert re.search(r"requests: 2 \(2 users read, 2 billable; estimated cost 0\.02 USD\)",
                     capped.stdout)  # fmt: skip

    rest = run(*automation)
    assert rest.returncode == 0, rest.stderr
    assert server.requests_served == 5
    table = rest.stdout.splitlines()
    heading = next(line.split("  ") for line in table if line.lstrip().startswith("seed file"))
    row = next(line for line in table if line.lstrip().startswith("a.csv")).split()
    columns = [cell.strip() for cell in heading if cell.strip()]
    assert dict(zip(columns[1:], row[1:], strict=True))["reused"] == "2"

    usage = run(console_script("influx"), "usage",
                "--dataset", str(tmp_path / "data/synthetic/influx.duckdb"))  # fmt: skip
    assert usage.returncode == 0, usage.stderr
    day_total = next(line for line in usage.stdout.splitlines() if "(day total)" in line)
    # four found users read once each; "nobody" is not a user
    assert day_total.split()[-4:] == ["5", "4", "4", "0.04"]


def test_a_bad_rate_limit_or_max_age_is_a_clear_error(tmp_path: Path) -> None:
    one = seed_file(tmp_path / "s", "one.csv", ["ada"])
    base = [console_script("influx-batch-harvest"), "--handles-file", str(one), "--plan",
            "--data-dir", str(tmp_path / "data"), *RULES]  # fmt: skip
    limit = run(*base, "--rate-limit", "300 per 15 minutes")
    assert limit.returncode == 1 and "expected R/WINDOW such as 300/15m" in limit.stderr
    age = run(*base, "--max-age", "found=soon")
    assert age.returncode == 1 and "--max-age found=soon" in age.stderr
    fine = run(*base, "--rate-limit", "500/24h", "--price-per-user", "0")
    assert fine.returncode == 0, fine.stderr
    assert "(500/24 h)" in fine.stdout and "cost" not in fine.stdout
