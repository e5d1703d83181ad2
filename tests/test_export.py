from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import polars as pl
import pytest

from influx_etl import export
from influx_etl.errors import ExportError


def documents(*rows: tuple[str, str, float, int]) -> pl.DataFrame:
    """Rows of (id, handle, score, followers); the JSON names them so order is visible."""
    return pl.DataFrame(
        {
            "id": [row[0] for row in rows],
            "handle": [row[1] for row in rows],
            "score": [row[2] for row in rows],
            "followers_count": [row[3] for row in rows],
            "json": [
                json.dumps({"id": row[0], "handle": row[1], "name": "Zoë 🚀"}, ensure_ascii=False)
                for row in rows
            ],
        },
        schema={
            "id": pl.String,
            "handle": pl.String,
            "score": pl.Float64,
            "followers_count": pl.Int64,
            "json": pl.String,
        },
    )


SAMPLE = documents(("1", "ada", 50.0, 100), ("2", "bob", 70.0, 10), ("3", "cy", 50.0, 300))


def test_writes_jsonl_and_a_manifest_that_describes_it(tmp_path: Path) -> None:
    out_dir = tmp_path / "data" / "latest"
    manifest = export.export_dataset(SAMPLE, out_dir, "1.2.3")

    data = (out_dir / "latest.jsonl").read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").splitlines()
    assert lines == SAMPLE["json"].to_list()
    assert "Zoë 🚀" in lines[0]  # UTF-8, not \u escapes

    assert manifest.count == len(lines) == SAMPLE.height
    assert manifest.sha256 == hashlib.sha256(data).hexdigest()
    assert manifest.schema_version == "1.2.3"
    assert manifest.file == "latest.jsonl"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest.generated_at)

    written = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert written == {
        "schema_version": manifest.schema_version,
        "count": manifest.count,
        "sha256": manifest.sha256,
        "generated_at": manifest.generated_at,
        "file": manifest.file,
    }


def test_manifest_is_frozen(tmp_path: Path) -> None:
    manifest = export.export_dataset(SAMPLE, tmp_path, "1.0.0")
    with pytest.raises(AttributeError):
        manifest.count = 0  # type: ignore[misc]


def test_leaves_no_temporary_files(tmp_path: Path) -> None:
    export.export_dataset(SAMPLE, tmp_path / "out", "1.0.0")
    export.export_dataset(SAMPLE.head(1), tmp_path / "out", "1.0.0")  # replaces existing files
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "latest.jsonl",
        "manifest.json",
    ]
    assert len((tmp_path / "out" / "latest.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_failed_replace_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export.export_dataset(SAMPLE, tmp_path, "1.0.0")
    before = (tmp_path / "latest.jsonl").read_bytes()

    def refuse(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ExportError, match=r"latest\.jsonl"):
        export.export_dataset(SAMPLE.head(1), tmp_path, "1.0.0")
    assert (tmp_path / "latest.jsonl").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["latest.jsonl", "manifest.json"]


def test_unwritable_directory_raises_export_error_with_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ExportError, match="not-a-dir"):
        export.export_dataset(SAMPLE, blocker / "latest", "1.0.0")


def test_extra_copy_gets_the_same_bytes(tmp_path: Path) -> None:
    extra = tmp_path / "elsewhere" / "out.jsonl"
    manifest = export.export_dataset(SAMPLE, tmp_path / "latest", "1.0.0", extra)
    assert extra.read_bytes() == (tmp_path / "latest" / "latest.jsonl").read_bytes()
    assert hashlib.sha256(extra.read_bytes()).hexdigest() == manifest.sha256


def test_empty_dataset_is_an_empty_file(tmp_path: Path) -> None:
    manifest = export.export_dataset(SAMPLE.head(0), tmp_path, "1.0.0")
    assert (tmp_path / "latest.jsonl").read_bytes() == b""
    assert manifest.count == 0
    assert manifest.sha256 == hashlib.sha256(b"").hexdigest()


def test_given_generated_at_is_written(tmp_path: Path) -> None:
    manifest = export.export_dataset(SAMPLE, tmp_path, "1.0.0", generated_at="2025-11-20T10:00:00Z")
    assert manifest.generated_at == "2025-11-20T10:00:00Z"


def test_documents_need_a_json_column(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="json"):
        export.export_dataset(SAMPLE.drop("json"), tmp_path, "1.0.0")


def test_export_order_is_score_then_followers_then_handle() -> None:
    frame = documents(
        ("1", "ada", 50.0, 100),
        ("2", "bob", 70.0, 10),
        ("3", "cy", 50.0, 300),
        ("4", "Abe", 50.0, 100),
        ("5", "dee", 10.0, 10**6),
    )
    ordered = export.in_export_order(frame)
    assert ordered["handle"].to_list() == ["bob", "cy", "Abe", "ada", "dee"]


def test_file_order_is_the_given_order(tmp_path: Path) -> None:
    ordered = export.in_export_order(SAMPLE)
    export.export_dataset(ordered, tmp_path, "1.0.0")
    ids = [
        json.loads(line)["id"]
        for line in (tmp_path / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert ids == ordered["id"].to_list()
    assert ids != SAMPLE["id"].to_list()
