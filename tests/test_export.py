from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from influx_etl import export, safe_text, score, validate
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.errors import ExportError
from influx_etl.store import Store
from tests.hostile_profiles import evaluated, hostile_dataset, hostile_users
from tests.release_records import scored_authors, user, write_dataset


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
EXPORTED = ["latest.jsonl", "latest.jsonl.gz", "latest.parquet", "latest.csv"]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        "files": [
            {
                "name": name,
                "sha256": sha256_of(out_dir / name),
                "bytes": (out_dir / name).stat().st_size,
            }
            for name in EXPORTED
        ],
    }


def test_manifest_is_frozen(tmp_path: Path) -> None:
    manifest = export.export_dataset(SAMPLE, tmp_path, "1.0.0")
    with pytest.raises(AttributeError):
        manifest.count = 0  # type: ignore[misc]


def test_leaves_no_temporary_files(tmp_path: Path) -> None:
    export.export_dataset(SAMPLE, tmp_path / "out", "1.0.0")
    export.export_dataset(SAMPLE.head(1), tmp_path / "out", "1.0.0")  # replaces existing files
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(
        [*EXPORTED, "manifest.json"]
    )
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
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([*EXPORTED, "manifest.json"])


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


# -- the five files --------------------------------------------------------------------------------

OURS = validate.load_schema(DEFAULT_SCHEMA)
VALIDATORS = [validate.validator_for(OURS)]
SCORING = score.Scoring()


def dataset_authors() -> pl.DataFrame:
    users = [
        user("101", "Ada_L", 2_500_000, description="Maths | engines", location="London"),
        user("102", "bob", 80_000, pinned_tweet_id=None),
        user("103", "Cy", 80_000, verified_type="blue"),
        user("104", "dee", 450_000, metrics={"tweet_count": None}),
    ]
    return pl.concat(
        [
            scored_authors(users[:2], categories=("AI Research", "VC")),
            scored_authors(users[2:], categories=("VC",), seed_files=("vc.csv", "ai.csv")),
        ]
    )


def export_of(
    authors: pl.DataFrame | export.AuthorSource, out_dir: Path, **options: Any
) -> export.Manifest:
    return export.export_authors(
        authors, out_dir, VALIDATORS, validate.SCHEMA_VERSION, SCORING, **options
    )


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_second_export_of_an_unchanged_dataset_is_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = write_dataset(tmp_path / "data" / "influx.duckdb", dataset_authors())
    monkeypatch.setattr(export, "_utc_now", lambda: "2025-11-20T10:00:00Z")
    with Store.open(dataset, "live") as store:
        export_of(store.authors(), tmp_path / "latest")
    before = files_of(tmp_path / "latest")
    # a later run: the file reopened, another day on the clock, the same export folder
    monkeypatch.setattr(export, "_utc_now", lambda: "2025-11-27T10:00:00Z")
    with Store.open(dataset, "live") as store:
        export_of(store.authors(), tmp_path / "latest")
        export_of(store.authors(), tmp_path / "elsewhere")
    after = files_of(tmp_path / "latest")
    assert sorted(after) == sorted([*EXPORTED, "manifest.json"])
    for name, data in before.items():
        assert after[name] == data, name
    # a fresh folder gets the same data files; only its manifest's generated_at is its own
    elsewhere = files_of(tmp_path / "elsewhere")
    assert {name: elsewhere[name] for name in EXPORTED} == {name: after[name] for name in EXPORTED}


def test_re_exporting_unchanged_content_rewrites_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authors = dataset_authors()
    export_of(authors, tmp_path, generated_at=None)
    before = files_of(tmp_path)
    for path in tmp_path.iterdir():
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    monkeypatch.setattr(export, "_utc_now", lambda: "2099-01-01T00:00:00Z")
    manifest = export_of(authors, tmp_path)
    assert files_of(tmp_path) == before
    assert all(path.stat().st_mtime_ns == 1_000_000_000 for path in tmp_path.iterdir())
    assert manifest.generated_at != "2099-01-01T00:00:00Z"


def test_changed_content_gets_a_new_generated_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authors = dataset_authors()
    monkeypatch.setattr(export, "_utc_now", lambda: "2025-11-20T10:00:00Z")
    export_of(authors, tmp_path)
    monkeypatch.setattr(export, "_utc_now", lambda: "2025-11-21T10:00:00Z")
    changed = export_of(
        authors.with_columns(followers_count=pl.col("followers_count") + 1), tmp_path
    )
    assert changed.generated_at == "2025-11-21T10:00:00Z"
    written = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert written["generated_at"] == "2025-11-21T10:00:00Z"


def test_exported_files_are_readable_by_others(tmp_path: Path) -> None:
    export_of(dataset_authors(), tmp_path)
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o044 == 0o044, path.name


def test_gzip_holds_the_jsonl_without_name_or_time(tmp_path: Path) -> None:
    export_of(dataset_authors(), tmp_path)
    packed = (tmp_path / "latest.jsonl.gz").read_bytes()
    assert gzip.decompress(packed) == (tmp_path / "latest.jsonl").read_bytes()
    flags, mtime = packed[3], int.from_bytes(packed[4:8], "little")
    assert flags & 0x08 == 0  # FNAME: no file name stored
    assert mtime == 0


def test_parquet_holds_the_records_as_typed_nested_columns(tmp_path: Path) -> None:
    export_of(dataset_authors(), tmp_path)
    lines = (tmp_path / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    table = pl.read_parquet(tmp_path / "latest.parquet")
    assert table.columns == list(export.RECORD_DTYPE.to_schema())  # type: ignore[attr-defined]
    assert table["id"].to_list() == [json.loads(line)["id"] for line in lines]
    first = json.loads(lines[0])
    row = table.row(0, named=True)
    assert row["meta"]["score"] == first["meta"]["score"]
    assert row["meta"]["sources"] == first["meta"]["sources"]
    assert row["ext"]["rank_topic"] == first["ext"]["rank_topic"]
    assert table.schema["followers_count"] == pl.Int64


def test_csv_is_flat_with_dotted_names_and_joined_lists(tmp_path: Path) -> None:
    export_of(dataset_authors(), tmp_path)
    lines = (tmp_path / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    table = pl.read_csv(tmp_path / "latest.csv", infer_schema=False)
    assert {"id", "meta.score", "meta.sources.evidence", "ext.rank_topic.topic"} <= set(
        table.columns
    )
    assert not any(isinstance(dtype, pl.List | pl.Struct) for dtype in table.dtypes)
    for line, row in zip(lines, table.iter_rows(named=True), strict=True):
        record = json.loads(line)
        assert row["id"] == record["id"]
        assert row["topic_tags"] == "|".join(record["topic_tags"])
        assert row["meta.sources.method"] == "|".join(
            s["method"] for s in record["meta"]["sources"]
        )
        assert row["ext.rank_topic.rank"] == "|".join(
            str(entry["rank"]) for entry in record["ext"]["rank_topic"]
        )
        assert row["ext.location"] == record["ext"].get("location")


def test_records_follow_the_export_order_and_carry_ranks(tmp_path: Path) -> None:
    export_of(dataset_authors(), tmp_path)
    records = [json.loads(line) for line in (tmp_path / "latest.jsonl").read_text().splitlines()]
    keys = [(-r["meta"]["score"], -r["followers_count"], r["handle"]) for r in records]
    assert keys == sorted(keys)
    assert [r["meta"]["rank_global"] for r in records] == [1, 2, 3, 4]
    vc = sorted(
        (entry["rank"], r["handle"])
        for r in records
        for entry in r["ext"]["rank_topic"]
        if entry["topic"] == "vc"
    )
    assert [rank for rank, _ in vc] == [1, 2, 3, 4]
    assert [handle for _, handle in vc] == [r["handle"] for r in records]
    assert all(0 <= r["ext"]["composite_score"] <= 100 for r in records)


def test_every_file_and_the_manifest_go_to_the_snapshot_too(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshots" / "2025-11-20"
    export_of(dataset_authors(), tmp_path / "latest", snapshot_dir=snapshot)
    assert files_of(snapshot) == files_of(tmp_path / "latest")


def test_an_invalid_record_is_logged_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    authors = dataset_authors().with_columns(
        lang_primary=pl.when(pl.col("handle") == "bob")
        .then(pl.lit("English"))
        .otherwise(pl.col("lang_primary"))
    )
    manifest = export_of(authors, tmp_path)
    assert manifest.count == 3
    assert "not exported: 102 (@bob) invalid at lang_primary" in caplog.text
    assert "bob" not in (tmp_path / "latest.jsonl").read_text(encoding="utf-8")


def test_exported_records_pass_the_original_schema(tmp_path: Path, shared_compat_dir: Path) -> None:
    original = validate.validator_for(validate.load_schema(shared_compat_dir / "bigv.schema.json"))
    export.export_authors(
        dataset_authors(), tmp_path, [*VALIDATORS, original], validate.SCHEMA_VERSION, SCORING
    )
    checked = validate.checked_file(
        tmp_path / "latest.jsonl",
        [*VALIDATORS, original],
        manifest_path=tmp_path / "manifest.json",
        schema_version=validate.SCHEMA_VERSION,
        strict=True,
    )
    assert checked.failures.is_empty(), checked.failures.to_dicts()
    assert checked.records == 4


def test_the_record_layout_covers_the_whole_schema() -> None:
    def names(schema: dict[str, Any]) -> list[str]:
        return list(schema["properties"])

    layout = export.RECORD_DTYPE
    assert isinstance(layout, pl.Struct)
    fields = {field.name: field.dtype for field in layout.fields}
    assert list(fields) == names(OURS)
    for nested in ("meta", "ext"):
        inner = fields[nested]
        assert isinstance(inner, pl.Struct)
        assert [field.name for field in inner.fields] == names(OURS["properties"][nested])


def test_records_of_other_types_are_refused(tmp_path: Path) -> None:
    bad = SAMPLE.with_columns(json=pl.lit('{"id": "1", "followers_count": "many"}'))
    with pytest.raises(ExportError, match="types"):
        export.export_dataset(bad, tmp_path, "1.0.0")
    assert not (tmp_path / "latest.jsonl").exists()


# -- a slice at a time -----------------------------------------------------------------------------


def seven_authors() -> pl.DataFrame:
    users = [
        user("201", "ann", 2_500_000, verified_type="blue"),
        user("202", "ben", 80_000),
        user("203", "cat", 80_000),
        user("204", "dan", 450_000, metrics={"tweet_count": None}),
        user("205", "eve", 1_200, location="Paris, France"),
        user("206", "fay", 9_000_000, description='Quotes "like this", commas, and\na new line'),
        user("207", "gus", 80_000, verified_type="business"),
    ]
    return pl.concat(
        [
            scored_authors(users[:3], categories=("AI Research", "VC")),
            scored_authors(users[3:5], categories=("VC",), seed_files=("vc.csv", "ai.csv")),
            scored_authors(users[5:], categories=("Biotech",)),
        ]
    )


def test_gzip_written_in_pieces_is_the_one_shot_gzip() -> None:
    data = b"".join(f'{{"id":"{i}","n":{i * i % 977}}}\n'.encode() for i in range(200_000))
    compressor = export.gzip_compressor()
    cuts = [0, 1, 5_000, 5_001, 1_000_000, 2_345_678, len(data)]
    pieces = [compressor.compress(data[start:end]) for start, end in itertools.pairwise(cuts)]
    streamed = b"".join(pieces) + compressor.flush()
    assert streamed == export.gzip_bytes(data)
    assert streamed == gzip.compress(data, compresslevel=export.GZIP_LEVEL, mtime=0)


@pytest.mark.parametrize("slice_records", [1, 2, 3])
def test_slices_give_the_files_of_one_piece(tmp_path: Path, slice_records: int) -> None:
    authors = seven_authors()
    whole = export_of(authors, tmp_path / "whole", generated_at="g", slice_records=100)
    sliced = export_of(authors, tmp_path / "sliced", generated_at="g", slice_records=slice_records)
    for name in ("latest.jsonl", "latest.jsonl.gz", "latest.csv"):
        assert (tmp_path / "sliced" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    table = pl.read_parquet(tmp_path / "sliced" / "latest.parquet")
    assert table.equals(pl.read_parquet(tmp_path / "whole" / "latest.parquet"))
    assert sliced.count == whole.count == table.height == 7
    # the pieces are the one-piece encodings of the whole
    data = (tmp_path / "sliced" / "latest.jsonl").read_bytes()
    assert (tmp_path / "sliced" / "latest.jsonl.gz").read_bytes() == export.gzip_bytes(data)
    assert (tmp_path / "sliced" / "latest.csv").read_bytes() == export.csv_bytes(table)
    row_groups = pq.ParquetFile(tmp_path / "sliced" / "latest.parquet").num_row_groups
    assert row_groups == -(-7 // slice_records)


def test_a_sliced_parquet_file_is_byte_identical_when_exported_again(tmp_path: Path) -> None:
    export_of(seven_authors(), tmp_path / "first", generated_at="g", slice_records=2)
    export_of(seven_authors(), tmp_path / "second", generated_at="g", slice_records=2)
    assert files_of(tmp_path / "first") == files_of(tmp_path / "second")


def test_documents_are_exported_a_slice_at_a_time_too(tmp_path: Path) -> None:
    ordered = export.in_export_order(SAMPLE)
    whole = export.export_dataset(ordered, tmp_path / "whole", "1.0.0", generated_at="g")
    sliced = export.export_dataset(
        ordered, tmp_path / "sliced", "1.0.0", generated_at="g", slice_records=2
    )
    assert sliced.count == whole.count == 3
    for name in ("latest.jsonl", "latest.jsonl.gz", "latest.csv"):
        assert (tmp_path / "sliced" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_an_invalid_record_in_a_middle_slice_leaves_the_others_as_they_were(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    authors = seven_authors()
    export_of(authors, tmp_path / "valid", slice_records=100)
    valid = (tmp_path / "valid" / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    # the 4th record of 7 in slices of 3: in the middle slice
    middle = json.loads(valid[3])
    broken = authors.with_columns(
        lang_primary=pl.when(pl.col("id") == middle["id"])
        .then(pl.lit("English"))
        .otherwise(pl.col("lang_primary"))
    )
    manifest = export_of(broken, tmp_path / "broken", slice_records=3)
    lines = (tmp_path / "broken" / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    assert manifest.count == 6
    assert lines == valid[:3] + valid[4:]
    assert [json.loads(line)["meta"]["rank_global"] for line in lines] == [1, 2, 3, 5, 6, 7]
    assert f"not exported: {middle['id']} (@{middle['handle']}) invalid at lang_primary" in (
        caplog.text
    )
    assert pl.read_parquet(tmp_path / "broken" / "latest.parquet")["id"].to_list() == [
        json.loads(line)["id"] for line in lines
    ]


def test_the_store_exports_what_its_authors_frame_exports(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "data" / "influx.duckdb", seven_authors())
    with Store.open(dataset, "live") as store:
        from_store = export_of(store, tmp_path / "store", generated_at="g", slice_records=3)
        from_frame = export_of(
            store.authors(), tmp_path / "frame", generated_at="g", slice_records=3
        )
    assert from_store == from_frame
    assert from_store.count == 7
    assert files_of(tmp_path / "store") == files_of(tmp_path / "frame")


def test_re_exporting_an_unchanged_store_rewrites_no_file_nor_copy(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "data" / "influx.duckdb", seven_authors())
    folders = [tmp_path / "latest", tmp_path / "snapshot", tmp_path / "extra"]
    options: dict[str, Any] = {
        "snapshot_dir": folders[1],
        "extra_copy": folders[2] / "out.jsonl",
        "slice_records": 2,
    }
    with Store.open(dataset, "live") as store:
        first = export_of(store, folders[0], **options)
        for path in [path for folder in folders for path in folder.iterdir()]:
            os.utime(path, ns=(1_000_000_000, 1_000_000_000))
        again = export_of(store, folders[0], **options)
    assert again == first
    for folder in folders:
        assert [path.stat().st_mtime_ns for path in folder.iterdir()] == [1_000_000_000] * len(
            list(folder.iterdir())
        )
    assert (folders[2] / "out.jsonl").read_bytes() == (folders[0] / "latest.jsonl").read_bytes()


class FailingSource:
    """The authors of a frame, until the slice that fails."""

    def __init__(self, authors: pl.DataFrame, failing_call: int) -> None:
        self.frame = export.FrameAuthors(authors)
        self.calls = 0
        self.failing_call = failing_call

    def author_columns(self, columns: tuple[str, ...]) -> pl.DataFrame:
        return self.frame.author_columns(columns)

    def authors_with_ids(self, ids: pl.Series) -> pl.DataFrame:
        self.calls += 1
        if self.calls == self.failing_call:
            raise ExportError("the dataset went away")
        return self.frame.authors_with_ids(ids)


def test_a_failure_between_slices_keeps_the_previous_export_and_cleans_up(
    tmp_path: Path,
) -> None:
    export_of(seven_authors().head(3), tmp_path)
    before = files_of(tmp_path)
    with pytest.raises(ExportError, match="went away"):
        export_of(FailingSource(seven_authors(), failing_call=3), tmp_path, slice_records=2)
    assert files_of(tmp_path) == before


def test_a_slice_size_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="slice_records"):
        export_of(seven_authors(), tmp_path, slice_records=0)
    with pytest.raises(ValueError, match="slice_records"):
        export.export_dataset(SAMPLE, tmp_path, "1.0.0", slice_records=0)


def test_a_file_that_cannot_be_written_is_named_and_no_temporary_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_of(seven_authors().head(3), tmp_path)
    before = files_of(tmp_path)
    real_mkstemp = tempfile.mkstemp

    def disk_full(**options: Any) -> tuple[int, str]:
        if "latest.parquet" in options.get("prefix", ""):
            raise OSError(28, "No space left on device")
        return real_mkstemp(**options)

    monkeypatch.setattr(tempfile, "mkstemp", disk_full)
    with pytest.raises(ExportError, match=r"latest\.parquet: cannot write: No space left"):
        export_of(seven_authors(), tmp_path, slice_records=2)
    assert files_of(tmp_path) == before


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_dataset(tmp_path_factory)


def _csv_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows, delimiter=delimiter))


def test_hostile_names_are_exact_in_the_data_and_inert_in_the_csv(
    hostile: Path, tmp_path: Path
) -> None:
    with Store.open_existing(hostile) as store:
        export_of(store, tmp_path)
    users = {u["id"]: u for u in hostile_users()}
    records = [json.loads(line) for line in (tmp_path / "latest.jsonl").open(encoding="utf-8")]
    assert {r["id"]: (r["name"], r["ext"]["description"]) for r in records} == {
        i: (u["name"], u["description"]) for i, u in users.items()
    }
    parquet = pl.read_parquet(tmp_path / "latest.parquet")
    assert dict(zip(parquet["id"], parquet["name"], strict=True)) == {
        i: u["name"] for i, u in users.items()
    }
    rows = _csv_rows(tmp_path / "latest.csv")
    assert len(rows) == len(users)
    assert [(r["id"], c, v) for r in rows for c, v in r.items() if evaluated(v)] == []
    # what a spreadsheet shows, less the quote, is the profile's text
    for row in rows:
        original = safe_text.original_cells(pl.DataFrame([row])).row(0, named=True)
        user = users[row["id"]]
        assert (original["name"], original["ext.location"]) == (user["name"], user["location"])
        assert original["ext.description"] == user["description"]


def test_raw_csv_writes_the_cells_as_they_are(hostile: Path, tmp_path: Path) -> None:
    with Store.open_existing(hostile) as store:
        export_of(store, tmp_path, raw_csv=True)
    users = {u["id"]: u for u in hostile_users()}
    rows = _csv_rows(tmp_path / "latest.csv")
    assert {r["id"]: r["name"] for r in rows} == {i: u["name"] for i, u in users.items()}
    assert any(evaluated(r["name"]) for r in rows)
