"""``influx-validate`` as a real subprocess: exit status and what each failure line names."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from influx_etl import export, score, validate
from influx_etl.config import DEFAULT_SCHEMA
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT
from tests.release_records import scored_authors, user

SCHEMA = str(REPO_ROOT / "schema" / "bigv.schema.json")


def influx_validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("influx-validate"), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    authors = scored_authors([user(str(500 + i), f"Voice_{i}", 90_000 * (i + 1)) for i in range(5)])
    validators = [validate.validator_for(validate.load_schema(DEFAULT_SCHEMA))]
    export.export_authors(authors, tmp_path, validators, validate.SCHEMA_VERSION, score.Scoring())
    return tmp_path / "latest.jsonl"


def test_a_clean_export_exits_zero(exported: Path) -> None:
    manifest = str(exported.parent / "manifest.json")
    result = influx_validate("--strict", "-s", SCHEMA, "-m", manifest, str(exported))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("5 records; 0 errors, 0 warnings (strict) — OK")


def test_each_guard_failure_is_named_with_its_record(exported: Path) -> None:
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    records[1]["handle"] = records[0]["handle"].lower()  # duplicate handle, ignoring case
    records[2]["id"] = records[3]["id"]  # duplicate id
    records[4]["id"] = "123456789012345678901"  # 21 digits
    records[0]["meta"]["sources"][0]["evidence"] = ""  # no evidence
    del records[3]["meta"]["sources"][0]["fetched_at"]  # no fetched_at
    exported.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    manifest = str(exported.parent / "manifest.json")

    result = influx_validate("-s", SCHEMA, "-m", manifest, str(exported))

    assert result.returncode == 1
    out = result.stdout
    handle0, handle3 = records[0]["handle"], records[3]["handle"]
    expected = [
        f"{exported}:1: error [unique_handle] id={records[0]['id']}, @{handle0}: handle:",
        f"{exported}:2: error [unique_handle] id={records[1]['id']}",
        f"{exported}:3: error [unique_id] id={records[3]['id']}",
        f"{exported}:4: error [unique_id] id={records[3]['id']}, @{handle3}: id: id "
        f"{records[3]['id']} is also on line(s) 3",
        f"{exported}:5: error [id_digits] id=123456789012345678901",
        f"{exported}:1: error [source_evidence] id={records[0]['id']}, @{handle0}: "
        "meta.sources[0].evidence",
        f"{exported}:4: error [source_fetched_at] id={records[3]['id']}, @{handle3}: "
        "meta.sources[0].fetched_at",
        f"{manifest}: error [manifest_sha256] sha256: manifest says",
    ]
    for fragment in expected:
        assert fragment in out, fragment
    assert "FAILED" in out.splitlines()[-1]


def test_the_manifest_count_must_match(exported: Path) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines()
    exported.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    manifest = exported.parent / "manifest.json"
    result = influx_validate("-m", str(manifest), str(exported))
    assert result.returncode == 1
    assert f"{manifest}: error [manifest_count] count: manifest says 5 records, the file has 4" in (
        result.stdout
    )


def test_warnings_fail_only_with_strict(exported: Path) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines()
    exported.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    relaxed = influx_validate("-s", SCHEMA, str(exported))
    assert relaxed.returncode == 0
    assert f"{exported}:2: warning [order]" in relaxed.stdout
    strict = influx_validate("--strict", "-s", SCHEMA, str(exported))
    assert strict.returncode == 1
    assert f"{exported}:2: error [order]" in strict.stdout


def test_an_unreadable_input_exits_two(tmp_path: Path) -> None:
    result = influx_validate("-s", SCHEMA, str(tmp_path / "absent.jsonl"))
    assert result.returncode == 2
    assert "absent.jsonl" in result.stderr
