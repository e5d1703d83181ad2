"""``influx report`` as a user runs it: a real subprocess over a dataset the pipeline made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.scripts import clean_env, console_script
from tests.run_dataset import BuiltDataset, report_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltDataset:
    return report_dataset(tmp_path_factory)


def influx(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [console_script("influx"), *args]
    return subprocess.run(
        command, env=clean_env(), capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_report_of_a_chosen_run_to_a_chosen_file(built: BuiltDataset, tmp_path: Path) -> None:
    out = tmp_path / "first.html"
    result = influx("report", "--run", built.first.run_id, "--dataset", str(built.path),
                    "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report of run {built.first.run_id} written to {out}"
    page = out.read_text(encoding="utf-8")
    assert f"<h1>Run {built.first.run_id}</h1>" in page
    assert page.count('src="data:image/png;base64,') == 5


def test_report_defaults_to_the_newest_run_beside_the_dataset(
    built: BuiltDataset, tmp_path: Path
) -> None:
    # the default dataset is looked for under data/ in the working directory
    data = tmp_path / "data" / "synthetic"
    data.mkdir(parents=True)
    (data / "influx.duckdb").write_bytes(built.path.read_bytes())
    result = influx("report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = data / "reports" / f"run-{built.second.run_id}.html"
    assert written.is_file()
    assert f"report of run {built.second.run_id} written to" in result.stdout
    assert f"<h1>Run {built.second.run_id}</h1>" in written.read_text(encoding="utf-8")


def test_an_unknown_run_is_a_clear_error(built: BuiltDataset, tmp_path: Path) -> None:
    result = influx("report", "--run", "nope", "--dataset", str(built.path),
                    "--out", str(tmp_path / "r.html"))  # fmt: skip
    assert result.returncode == 1
    assert "no run 'nope'" in result.stderr and built.second.run_id in result.stderr
    assert not (tmp_path / "r.html").exists()
