"""``influx import`` as a real subprocess: report, idempotence, a valid export afterwards."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.cli.scripts import clean_env, console_script
from tests.release_records import original_record


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(script), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


def test_import_reports_bad_records_is_idempotent_and_exports(tmp_path: Path) -> None:
    release = tmp_path / "influx-latest.jsonl"
    records = [
        original_record("2001", "kept_one"),
        original_record("2002", "bad_score", meta__score=250),
        original_record("2003", "kept_two"),
    ]
    release.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data_dir = tmp_path / "data"

    first = run("influx", "import", str(release), "--data-dir", str(data_dir))
    assert first.returncode == 0, first.stderr
    assert f"{release}:2: left out [schema] id=2002, @bad_score: meta.score:" in first.stderr
    assert "2 new, 0 updated, 0 unchanged" in first.stdout

    second = run("influx", "import", str(release), "--data-dir", str(data_dir))
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated, 2 unchanged" in second.stdout

    latest = data_dir / "latest"
    checked = run(
        "influx-validate", "-m", str(latest / "manifest.json"), str(latest / "latest.jsonl")
    )
    assert checked.returncode == 0, checked.stdout
    assert "2 records; 0 errors" in checked.stdout


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    result = run("influx", "import", str(tmp_path / "absent.jsonl"), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "absent.jsonl" in result.stderr
    assert not (tmp_path / "influx.duckdb").exists()


def in_folder(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=folder,
        timeout=300,
        check=False,
    )


def test_init_then_harvest_with_no_flags_then_every_reading_command_finds_the_dataset(
    tmp_path: Path,
) -> None:
    assert in_folder(tmp_path, "influx", "init", ".").returncode == 0
    harvest = in_folder(tmp_path, "influx", "harvest")
    assert harvest.returncode == 0, harvest.stderr
    rules = tmp_path / "lists/rules/brand_heuristics.yml"
    digest = hashlib.sha256(rules.read_bytes()).hexdigest()
    assert f"lists/rules/brand_heuristics.yml  sha256 {digest}" in harvest.stderr
    assert "influx rules explain HANDLE" in harvest.stdout
    synthetic = tmp_path / "data/synthetic/influx.duckdb"
    assert synthetic.is_file() and not (tmp_path / "data/influx.duckdb").exists()

    handle = next(
        line.split(",")[0]
        for line in (tmp_path / "lists/seeds/example.csv").read_text().splitlines()[1:]
    )
    for command in (
        ["influx", "score"],
        ["influx", "export"],
        ["influx", "rules", "flagged"],
        ["influx", "rules", "explain", handle],
        ["influx", "qa", "sample", "--seed", "1"],
        ["influx-score"],
        ["influx-rules", "flagged"],
    ):
        result = in_folder(tmp_path, *command)
        assert result.returncode == 0, (command, result.stderr)
        assert f"dataset: {Path('data/synthetic/influx.duckdb')}" in result.stderr, command


def test_version_and_the_old_names_are_the_same_commands(tmp_path: Path) -> None:
    from influx_etl.cli import batch, harvest
    from influx_etl.cli import influx as umbrella

    version = in_folder(tmp_path, "influx", "--version")
    assert version.returncode == 0 and version.stdout.startswith("influx, version ")
    assert umbrella.main.commands["harvest"] is harvest.main
    assert umbrella.main.commands["batch"] is batch.harvest_main
    assert umbrella.main.commands["run"] is batch.automation_main.commands["run"]
    for old, new in (
        (["influx-harvest", "bulk", "--help"], ["influx", "harvest", "bulk", "--help"]),
        (["influx-batch-automation", "run", "--help"], ["influx", "run", "--help"]),
    ):
        old_help, new_help = in_folder(tmp_path, *old), in_folder(tmp_path, *new)
        assert old_help.returncode == new_help.returncode == 0
        assert "--handles-file" in old_help.stdout or "--seeds-dir" in old_help.stdout
        assert "Exit status:" in new_help.stdout
        # the same options under both names (the usage line names the program differently)
        assert old_help.stdout.splitlines()[1:] == new_help.stdout.splitlines()[1:]
