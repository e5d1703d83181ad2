"""``influx qa-sample`` as a reviewer runs it: draw, fill in, record."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.cli.scripts import clean_env, console_script
from tests.run_dataset import KEPT_AFTER_SECOND, BuiltDataset, report_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltDataset:
    return report_dataset(tmp_path_factory)


def influx(*args: str) -> subprocess.CompletedProcess[str]:
    command = [console_script("influx"), *args]
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=120)


def test_draw_review_and_record_a_sample(built: BuiltDataset, tmp_path: Path) -> None:
    dataset = Path(shutil.copy(built.path, tmp_path / "influx.duckdb"))
    sample = tmp_path / "qa.csv"
    drawn = influx("qa-sample", "--n", "4", "--seed", "11", "--dataset", str(dataset),
                   "--out", str(sample))  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    assert "4 kept authors (seed 11)" in drawn.stdout
    with sample.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 4 and {r["handle"] for r in rows} <= KEPT_AFTER_SECOND
    assert all(r["profile_url"] == f"https://x.com/{r['handle']}" for r in rows)

    rows[0]["verdict"], rows[1]["verdict"], rows[2]["verdict"] = "individual", "nope", "risky"
    with sample.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    recorded = influx("qa-sample", "--record", str(sample), "--dataset", str(dataset))
    assert recorded.returncode == 1  # a bad row: reported, and the command says so
    assert f"{sample}:3: verdict 'nope' is not one of: individual, brand, risky, unsure" in (
        recorded.stderr
    )
    assert (
        "2 verdicts stored" in recorded.stdout and "skipped, no verdict yet: 1" in recorded.stdout
    )
    con = duckdb.connect(str(dataset), read_only=True)
    stored = con.execute("SELECT handle, verdict FROM qa_verdicts ORDER BY line").fetchall()
    con.close()
    assert stored == [(rows[0]["handle"], "individual"), (rows[2]["handle"], "risky")]
