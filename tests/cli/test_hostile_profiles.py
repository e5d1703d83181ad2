"""Hostile profiles through the console scripts a curator runs: harvest, export, report, QA.

The CSVs hold no cell a spreadsheet evaluates, the report no element or attribute from a profile,
and nothing printed holds a control character from one (real subprocesses, output captured).
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from influx_etl.safe_text import visible_text
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT
from tests.hostile_profiles import (
    CONTROL_IN_FIXTURE,
    HOSTILE_TEXTS,
    NOT_FOUND_DETAIL,
    NOT_FOUND_HANDLE,
    evaluated,
    foreign_markup,
    parsed_page,
    write_hostile_inputs,
)


@dataclass
class Session:
    """A curator's folder and everything the commands printed in it."""

    root: Path
    printed: list[str] = field(default_factory=list)

    @property
    def dataset(self) -> Path:
        return self.root / "data" / "influx.duckdb"

    def run(self, script: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [console_script(script), *args],
            cwd=self.root,
            env=clean_env(),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=180,
        )
        self.printed += [done.stdout, done.stderr]
        assert done.returncode == expect, done.stderr
        return done


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    root = tmp_path_factory.mktemp("hostile-cli")
    inputs = write_hostile_inputs(root / "inputs")
    session = Session(root)
    rules = REPO_ROOT / "lists/rules"
    session.run(
        "influx-harvest", "bulk", "--handles-file", str(inputs.seeds),
        "--source", f"prefetched:{inputs.prefetched}", "--data-dir", "data", "-vv",
        "--brand-rules", str(rules / "brand_heuristics.yml"),
        "--risk-rules", str(rules / "risk_terms.yml"),
    )  # fmt: skip
    return session


def csv_cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as rows:
        return list(csv.reader(rows))


def test_every_hostile_profile_is_kept_and_latest_csv_evaluates_nothing(session: Session) -> None:
    session.run("influx-export", "--dataset", str(session.dataset))
    cells = csv_cells(session.root / "data" / "latest" / "latest.csv")
    header, rows = cells[0], cells[1:]
    names = [row[header.index("name")] for row in rows]
    assert sorted(name.lstrip("'") for name in names) == sorted(
        text.lstrip("'") for text in (*HOSTILE_TEXTS, "Long Bio")
    )
    assert [cell for row in cells for cell in row if evaluated(cell)] == []


def test_the_report_shows_profile_text_only_as_text(session: Session) -> None:
    session.run("influx", "report", "--dataset", str(session.dataset), "--out", "report.html")
    page = (session.root / "report.html").read_bytes().decode("utf-8")
    assert foreign_markup(page) == []
    shown = "".join(parsed_page(page).texts)
    assert all(text.strip() in shown for text in HOSTILE_TEXTS)


def test_the_qa_sample_evaluates_nothing_and_is_recorded_as_written(session: Session) -> None:
    session.run("influx", "qa-sample", "--dataset", str(session.dataset), "--n", "100",
                "--seed", "5", "--out", "qa.csv")  # fmt: skip
    sample = session.root / "qa.csv"
    cells = csv_cells(sample)
    assert [cell for row in cells for cell in row if evaluated(cell)] == []
    header, rows = cells[0], cells[1:]
    verdict = header.index("verdict")
    rows[0][verdict], rows[1][verdict] = "individual", "\x1b]0;pwned\x07nope"
    with sample.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    recorded = session.run("influx", "qa-sample", "--dataset", str(session.dataset),
                           "--record", "qa.csv", expect=1)  # fmt: skip
    assert "1 verdicts stored" in recorded.stdout
    assert visible_text("verdict '\x1b]0;pwned\x07nope' is not one of") in recorded.stderr


def test_explain_shows_the_hostile_detail_made_visible(session: Session) -> None:
    explained = session.run("influx-rules", "explain", NOT_FOUND_HANDLE, "--data-dir", "data")
    assert visible_text(NOT_FOUND_DETAIL) in explained.stdout
    session.run("influx-rules", "explain", "hostile_12", "--data-dir", "data")
    session.run("influx-rules", "flagged", "--data-dir", "data")


def test_nothing_printed_holds_a_control_character_from_a_profile(session: Session) -> None:
    # runs last in this module: every command above has printed by now
    assert len(session.printed) >= 12
    printed = "".join(session.printed)
    assert {ch for ch in printed if ch in CONTROL_IN_FIXTURE and ch != "\n"} == set()
