"""The QA sample and the reviewers' verdicts, on a real dataset made by the pipeline."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from influx_etl.errors import ReviewFileError
from influx_etl.frames import QA_VERDICTS_SCHEMA
from influx_etl.safe_text import original_cells, spreadsheet_csv
from influx_etl.store import Store
from influx_etl.tools.qa import (
    REVIEW_ROWS_SCHEMA,
    SAMPLE_COLUMNS,
    checked_verdicts,
    qa_sample,
    read_review_file,
    record_verdicts,
    write_qa_sample,
)
from tests.hostile_profiles import evaluated, hostile_dataset, hostile_users
from tests.run_dataset import KEPT_AFTER_SECOND, BuiltDataset, report_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltDataset:
    return report_dataset(tmp_path_factory)


@pytest.fixture
def authors(built: BuiltDataset) -> pl.DataFrame:
    with Store.open_existing(built.path) as store:
        return store.authors()


@pytest.fixture
def dataset_copy(built: BuiltDataset, tmp_path: Path) -> Path:
    """A copy of the shared dataset this test may write to."""
    return Path(shutil.copy(built.path, tmp_path / "influx.duckdb"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_the_sample_has_n_kept_authors_with_what_a_reviewer_needs(authors: pl.DataFrame) -> None:
    sample = qa_sample(authors, 4, seed=1)
    assert sample.columns == list(SAMPLE_COLUMNS)
    assert sample.height == 4
    assert set(sample["handle"]) <= KEPT_AFTER_SECOND  # only authors in the dataset: kept ones
    assert sample["handle"].n_unique() == 4
    for row in sample.iter_rows(named=True):
        author = authors.row(by_predicate=pl.col("id") == row["id"], named=True)
        assert row["handle"] == author["handle"] and row["name"] == author["name"]
        assert row["profile_url"] == f"https://x.com/{author['handle']}"
        assert row["followers"] == author["followers_count"]
        assert row["verified"] == author["verified"]
        assert "\n" not in row["bio"] and row["bio"] == " ".join(author["description"].split())
        assert row["verdict"] == "" and row["note"] == ""


def test_the_same_seed_draws_the_same_authors_and_other_seeds_others(
    authors: pl.DataFrame,
) -> None:
    assert qa_sample(authors, 3, seed=5).equals(qa_sample(authors, 3, seed=5))
    # the draw does not depend on the order the file returns authors in
    assert qa_sample(authors.reverse(), 3, seed=5).equals(qa_sample(authors, 3, seed=5))
    draws = {tuple(qa_sample(authors, 3, seed=s)["handle"]) for s in range(10)}
    assert len(draws) > 1


def test_asking_for_more_than_the_dataset_holds_gives_everyone(authors: pl.DataFrame) -> None:
    assert set(qa_sample(authors, 30, seed=0)["handle"]) == KEPT_AFTER_SECOND


def test_matched_rules_name_brand_rules_and_risk_flags() -> None:
    author = {
        "id": "1", "handle": "h", "name": "H", "description": "bio", "followers_count": 1,
        "verified": "none", "topic_tags": ["ai", "science"], "brand_confidence": 0.4,
        "brand_matches": ["name_kw:official_indicators:official"], "risk_flags": ["spam"],
    }  # fmt: skip
    row = qa_sample(pl.DataFrame([author]), 1, seed=0).row(0, named=True)
    assert row["matched_rules"] == "name_kw:official_indicators:official; risk:spam"
    assert row["topics"] == "ai; science"


def test_recorded_verdicts_round_trip_into_the_dataset(
    dataset_copy: Path, tmp_path: Path, authors: pl.DataFrame
) -> None:
    sample_file = tmp_path / "qa.csv"
    written = write_qa_sample(dataset_copy, sample_file, 3, seed=2)
    rows = read_csv(sample_file)
    assert [r["handle"] for r in rows] == written["handle"].to_list()
    verdicts = ["individual", "Brand", "unsure"]  # any case
    for row, verdict in zip(rows, verdicts, strict=True):
        row["verdict"], row["note"] = verdict, f"looked at {row['handle']}"
    write_csv(sample_file, rows)

    result = record_verdicts(dataset_copy, sample_file, "2026-01-01T00:00:00.000Z")
    assert result.stored == 3 and result.bad.is_empty() and result.not_in_dataset == 0
    assert result.by_verdict == {"individual": 1, "brand": 1, "unsure": 1}
    con = duckdb.connect(str(dataset_copy), read_only=True)
    stored = con.execute(
        "SELECT handle, id, verdict, note, review_file, line FROM qa_verdicts ORDER BY line"
    ).fetchall()
    columns = [c[0] for c in con.execute("DESCRIBE qa_verdicts").fetchall()]
    con.close()
    assert columns == list(QA_VERDICTS_SCHEMA)
    assert stored == [
        (r["handle"], r["id"], v.lower(), f"looked at {r['handle']}", "qa.csv", line)
        for line, (r, v) in enumerate(zip(rows, verdicts, strict=True), start=2)
    ]

    # recording the corrected file again replaces its verdicts instead of adding to them
    rows[0]["verdict"] = "risky"
    write_csv(sample_file, rows)
    record_verdicts(dataset_copy, sample_file, "2026-01-02T00:00:00.000Z")
    con = duckdb.connect(str(dataset_copy), read_only=True)
    again = con.execute("SELECT handle, verdict FROM qa_verdicts ORDER BY line").fetchall()
    con.close()
    assert again == [(rows[0]["handle"], "risky"), *[(s[0], s[2]) for s in stored[1:]]]


def test_bad_rows_are_reported_with_their_line_and_good_rows_still_stored(
    dataset_copy: Path, tmp_path: Path
) -> None:
    review = tmp_path / "review.csv"
    review.write_text(
        "handle,verdict,note\n"
        "Ada,individual,\n"  # line 2
        'Grace,brand,"two-line\nnote"\n'  # lines 3-4
        "Lise,maybe,\n"  # line 5: not a verdict
        "Emmy,,\n"  # line 6: not reviewed yet
        "ada,risky,\n"  # line 7: Ada again
        "not a handle!,brand,\n",  # line 8
        encoding="utf-8",
    )
    result = record_verdicts(dataset_copy, review, "2026-01-01T00:00:00.000Z")
    assert result.stored == 2 and result.unreviewed == 1
    bad = dict(result.bad.iter_rows())
    assert set(bad) == {5, 7, 8}
    assert "'maybe' is not one of: individual, brand, risky, unsure" in bad[5]
    assert "already has a verdict on line 2" in bad[7]
    assert "not an X handle" in bad[8]
    con = duckdb.connect(str(dataset_copy), read_only=True)
    stored = con.execute("SELECT handle, verdict, note, line FROM qa_verdicts ORDER BY line")
    assert stored.fetchall() == [
        ("Ada", "individual", None, 2),
        ("Grace", "brand", "two-line\nnote", 3),
    ]
    con.close()


def test_a_verdict_on_an_author_who_left_is_kept_with_the_files_id(
    dataset_copy: Path, tmp_path: Path
) -> None:
    review = tmp_path / "old.csv"
    review.write_text("handle,verdict,id\n@Alan,individual,2003\n", encoding="utf-8")
    result = record_verdicts(dataset_copy, review, "2026-01-01T00:00:00.000Z")
    assert result.stored == 1 and result.not_in_dataset == 1
    con = duckdb.connect(str(dataset_copy), read_only=True)
    assert con.execute("SELECT handle, id, brand_matches FROM qa_verdicts").fetchall() == [
        ("Alan", "2003", None)
    ]
    con.close()


def test_a_file_without_the_verdict_column_is_refused_at_its_header(tmp_path: Path) -> None:
    review = tmp_path / "wrong.csv"
    review.write_text("handle,name\nAda,Ada\n", encoding="utf-8")
    with pytest.raises(ReviewFileError, match=r"wrong\.csv:1: no verdict column"):
        read_review_file(review)
    with pytest.raises(ReviewFileError, match="no such file"):
        read_review_file(tmp_path / "missing.csv")


def test_spreadsheet_exports_with_semicolons_and_a_bom_are_read(tmp_path: Path) -> None:
    review = tmp_path / "excel.csv"
    review.write_bytes("\ufeffhandle;verdict;note\nAda;Individual;ok\n".encode())
    rows = read_review_file(review)
    assert rows.select("line", "handle", "verdict", "note").rows() == [
        (2, "Ada", "Individual", "ok")
    ]


def test_checked_verdicts_strip_at_signs_and_blank_space() -> None:
    rows = pl.DataFrame(
        {"line": [2], "handle": [" @Ada "], "id": [""], "verdict": [" Risky "], "note": [" "]},
        schema=REVIEW_ROWS_SCHEMA,
    )
    checked = checked_verdicts(rows)
    assert checked.good.rows(named=True) == [
        {"line": 2, "handle_key": "ada", "handle": "Ada", "id": None, "verdict": "risky",
         "note": None}
    ]  # fmt: skip


@pytest.fixture
def hostile_copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy of the dataset of hostile profiles this test may write to."""
    return Path(shutil.copy(hostile_dataset(tmp_path_factory), tmp_path / "influx.duckdb"))


def test_a_sample_of_hostile_profiles_has_no_formula_and_reads_back_as_it_was(
    hostile_copy: Path, tmp_path: Path
) -> None:
    sample_file = tmp_path / "qa.csv"
    written = write_qa_sample(hostile_copy, sample_file, 100, seed=3)
    rows = read_csv(sample_file)
    assert len(rows) == written.height == len(hostile_users())
    assert [(r["handle"], c, v) for r in rows for c, v in r.items() if evaluated(v)] == []
    # every text cell, the quote before a formula taken off, is the value drawn
    read_back = original_cells(pl.read_csv(sample_file, infer_schema=False))
    texts = [c for c, t in written.schema.items() if t == pl.String]
    assert read_back.select(texts).equals(written.select(texts))
    assert any(name.startswith("=") for name in written["name"])

    # a reviewer's note written by the same neutralising writer comes back as typed
    notes = ["=SUM(A1:A9) is a person", "-1 looks like a bot", "@mention only"]
    reviewed = written.head(3).with_columns(
        pl.lit("individual").alias("verdict"), pl.Series("note", notes)
    )
    sample_file.write_bytes(spreadsheet_csv(reviewed))
    assert read_review_file(sample_file)["note"].to_list() == notes
    result = record_verdicts(hostile_copy, sample_file, "2026-01-01T00:00:00.000Z")
    assert result.stored == 3 and result.bad.is_empty() and result.not_in_dataset == 0
    con = duckdb.connect(str(hostile_copy), read_only=True)
    stored = con.execute("SELECT id, handle, note FROM qa_verdicts ORDER BY line").fetchall()
    con.close()
    assert stored == list(zip(reviewed["id"], reviewed["handle"], notes, strict=True))


def test_a_raw_sample_keeps_the_formulas(hostile_copy: Path, tmp_path: Path) -> None:
    written = write_qa_sample(hostile_copy, tmp_path / "qa.csv", 100, seed=3, raw_csv=True)
    rows = read_csv(tmp_path / "qa.csv")
    assert [r["name"] for r in rows] == written["name"].to_list()
    assert any(evaluated(r["name"]) for r in rows)
