"""Writes the dataset files: ``latest.jsonl`` and its ``manifest.json``.

Both files are replaced atomically (written to a temporary file in the same directory, flushed to
disk, then ``os.replace``d), so a reader sees either the previous export or the new one, never a
half-written file. The JSONL is written first: a manifest never describes a file older than itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import polars as pl

from influx_etl.errors import ExportError
from influx_etl.score import in_rank_order

DATASET_FILE: Final = "latest.jsonl"
MANIFEST_FILE: Final = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says about ``latest.jsonl``."""

    schema_version: str
    count: int
    sha256: str
    """SHA-256 hex of the bytes of the JSONL file."""
    generated_at: str
    """ISO-8601 UTC with ``Z``."""
    file: str
    """Name of the JSONL file, relative to the manifest."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"


def in_export_order(documents: pl.DataFrame) -> pl.DataFrame:
    """Records in dataset order: score desc, followers desc, handle asc (then id): rank order.

    Works on any frame with ``score``, ``followers_count``, ``handle`` and ``id`` (the documents
    of :func:`influx_etl.transform.record_documents` or the authors frame).
    """
    return in_rank_order(documents)


def jsonl_bytes(documents: pl.DataFrame) -> bytes:
    """The ``json`` column as UTF-8 JSONL: one record per line, each line ending in ``\\n``."""
    if documents.height == 0:
        return b""
    text: str = documents.select(pl.col("json").str.join("\n")).item()
    return (text + "\n").encode("utf-8")


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` by ``data`` atomically, creating its directory; OSError -> ExportError."""
    temporary: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        temporary = None
    except OSError as error:
        raise ExportError(f"{target}: cannot write: {error.strerror or error}") from error
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_dataset(
    documents: pl.DataFrame,
    out_dir: Path,
    schema_version: str,
    extra_copy: Path | None = None,
    *,
    generated_at: str | None = None,
) -> Manifest:
    """Write ``out_dir/latest.jsonl`` and ``out_dir/manifest.json``; return the manifest.

    ``documents`` needs a ``json`` column and is written in the order given (sort it with
    :func:`in_export_order`). ``extra_copy`` gets the same JSONL bytes (the CLI's ``--out``).
    ``generated_at`` defaults to now (UTC).
    """
    if "json" not in documents.columns:
        raise ExportError(f"documents have no 'json' column (columns: {documents.columns})")
    data = jsonl_bytes(documents)
    manifest = Manifest(
        schema_version=schema_version,
        count=documents.height,
        sha256=hashlib.sha256(data).hexdigest(),
        generated_at=generated_at or _utc_now(),
        file=DATASET_FILE,
    )
    write_atomically(out_dir / DATASET_FILE, data)
    write_atomically(out_dir / MANIFEST_FILE, manifest.to_json().encode("utf-8"))
    if extra_copy is not None:
        write_atomically(extra_copy, data)
    return manifest
