"""``influx import`` as a real subprocess: report, idempotence, a valid export afterwards."""

from __future__ import annotations

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
