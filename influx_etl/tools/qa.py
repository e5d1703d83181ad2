"""The manual QA sample: kept authors drawn at random for a person to review, and their verdicts.

``influx qa-sample`` writes a CSV of randomly chosen kept authors with what a reviewer needs
(:func:`qa_sample`): handle, profile URL, name, bio, followers, verification, topics, the rules
that matched and the brand confidence, plus empty ``verdict`` and ``note`` columns. The same
dataset and seed always give the same rows. The file is for a spreadsheet: a cell it would
evaluate as a formula (a name such as ``=HYPERLINK(...)``) gets a leading ``'``
(:func:`influx_etl.safe_text.spreadsheet_csv`; ``raw_csv`` writes the values as they are).

``influx qa-sample --record FILE`` reads the reviewed file back (:func:`read_review_file`),
undoes that quote (:func:`influx_etl.safe_text.original_text`), checks every row
(:func:`checked_verdicts`: a bad row is reported with its line and skipped, the
good rows go on), attaches what the rules said about each author (:func:`verdict_records`) and
stores the verdicts in the dataset's ``qa_verdicts`` table, where rule tuning can find them:
a kept author judged ``brand`` or ``risky`` is a rule that missed.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from influx_etl import safe_text
from influx_etl.errors import ConfigError, ExportError, ReviewFileError
from influx_etl.frames import QA_VERDICTS_SCHEMA, VERDICTS
from influx_etl.store import Store

PROFILE_URL = "https://x.com/"
HANDLE_PATTERN = r"^[A-Za-z0-9_]{1,15}$"
SAMPLE_COLUMNS = (
    "handle",
    "profile_url",
    "name",
    "bio",
    "followers",
    "verified",
    "topics",
    "matched_rules",
    "brand_confidence",
    "verdict",
    "note",
    "id",
)
"""The QA CSV's columns: what a reviewer reads, the two they fill in, and the author's id."""

REVIEW_ROWS_SCHEMA = pl.Schema(
    {
        "line": pl.Int64,
        "handle": pl.String,
        "id": pl.String,
        "verdict": pl.String,
        "note": pl.String,
    }
)
"""A review file as read: every data row, its physical line, the cells verdicts need."""


def qa_sample(authors: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """``n`` kept authors (all of them when fewer) chosen at random by ``seed``, as QA rows.

    ``authors`` is the dataset (AUTHORS_SCHEMA: every author in it is kept). The draw is made
    from the authors in id order, so the same dataset and seed give the same rows whatever
    order the file returns them in. Rows come sorted by handle, for the reviewer.
    """
    if n < 0:
        raise ConfigError(f"the sample size must be >= 0 (got {n})")
    drawn = authors.sort("id").sample(n=min(n, authors.height), seed=seed, shuffle=True)
    matched = pl.concat_list(
        pl.col("brand_matches").fill_null([]),
        pl.col("risk_flags").fill_null([]).list.eval(pl.lit("risk:") + pl.element()),
    )
    return drawn.select(
        pl.col("handle"),
        (pl.lit(PROFILE_URL) + pl.col("handle")).alias("profile_url"),
        pl.col("name"),
        # one line per author: a bio's line breaks would split the row in most viewers
        pl.col("description").str.replace_all(r"\s+", " ").str.strip_chars().alias("bio"),
        pl.col("followers_count").alias("followers"),
        pl.col("verified"),
        pl.col("topic_tags").list.join("; ").alias("topics"),
        matched.list.join("; ").alias("matched_rules"),
        pl.col("brand_confidence"),
        pl.lit("").alias("verdict"),
        pl.lit("").alias("note"),
        pl.col("id"),
    ).sort(pl.col("handle").str.to_lowercase())


@dataclass(frozen=True)
class CheckedVerdicts:
    """A review file's rows split into verdicts to store, rows to report, and rows not yet
    reviewed (empty verdict: skipped without complaint, the reviewer may not be done)."""

    good: pl.DataFrame
    """line, handle_key, handle, id, verdict, note."""
    bad: pl.DataFrame
    """line, message: what was wrong and what was expected."""
    unreviewed: int


def checked_verdicts(rows: pl.DataFrame) -> CheckedVerdicts:
    """Check each review row (REVIEW_ROWS_SCHEMA): a known verdict (any case), a valid handle,
    one verdict per author. Everything is checked at once; each bad row gets the first problem."""
    allowed = ", ".join(VERDICTS)
    normalised = rows.with_columns(
        pl.col("verdict").fill_null("").str.strip_chars().str.to_lowercase(),
        pl.col("handle").fill_null("").str.strip_chars().str.strip_chars_start("@"),
        pl.col("id").str.strip_chars().replace("", None),
        pl.col("note").str.strip_chars().replace("", None),
    )
    unreviewed = normalised.filter(pl.col("verdict") == "")
    reviewed = normalised.filter(pl.col("verdict") != "").with_columns(
        pl.col("handle").str.to_lowercase().alias("handle_key")
    )
    valid_handle = pl.col("handle").str.contains(HANDLE_PATTERN)
    first_line = pl.col("line").min().over("handle_key")
    problem = (
        pl.when(~pl.col("verdict").is_in(VERDICTS))
        .then(pl.format("verdict '{}' is not one of: {}", pl.col("verdict"), pl.lit(allowed)))
        .when(pl.col("handle") == "")
        .then(pl.lit("no handle: the row must keep the sample's handle column"))
        .when(~valid_handle)
        .then(pl.format("handle '{}' is not an X handle ({})", "handle", pl.lit(HANDLE_PATTERN)))
        .when(pl.col("line") != first_line)
        .then(pl.format("@{} already has a verdict on line {}", "handle", first_line))
        .otherwise(None)
        .alias("message")
    )
    # duplicates count only among otherwise good rows, so a typo never hides a later good row
    judged = reviewed.with_columns(
        pl.when(pl.col("verdict").is_in(VERDICTS) & valid_handle)
        .then(pl.col("handle_key"))
        .otherwise(pl.format("#bad-row-{}", "line"))
        .alias("handle_key")
    ).with_columns(problem)
    return CheckedVerdicts(
        good=judged.filter(pl.col("message").is_null()).select(
            "line", "handle_key", "handle", "id", "verdict", "note"
        ),
        bad=judged.filter(pl.col("message").is_not_null()).select("line", "message"),
        unreviewed=unreviewed.height,
    )


def verdict_records(
    good: pl.DataFrame,
    authors: pl.DataFrame,
    *,
    review_file: str,
    file_sha256: str,
    recorded_at: str,
) -> pl.DataFrame:
    """Checked verdicts as QA_VERDICTS_SCHEMA rows, with what the rules say about each author now.

    An author is found by the id in the review file, else by handle (renamed since the sample:
    the id still matches); one no longer in the dataset keeps the file's id and no rule columns.
    """
    known = authors.select(
        "id",
        pl.col("handle").str.to_lowercase().alias("handle_key"),
        "brand_matches",
        "brand_confidence",
        "risk_flags",
    )
    by_handle = known.select("handle_key", pl.col("id").alias("id_by_handle"))
    resolved = good.join(by_handle, on="handle_key", how="left").with_columns(
        pl.when(pl.col("id").is_in(known["id"].implode()))
        .then(pl.col("id"))
        .otherwise(pl.coalesce("id_by_handle", "id"))
        .alias("id")
    )
    return (
        resolved.join(known.drop("handle_key"), on="id", how="left")
        .with_columns(
            pl.lit(review_file).alias("review_file"),
            pl.lit(file_sha256).alias("file_sha256"),
            pl.lit(recorded_at).alias("recorded_at"),
        )
        .select(list(QA_VERDICTS_SCHEMA))
        .cast(dict(QA_VERDICTS_SCHEMA))  # type: ignore[arg-type]
    )


# -- files (the I/O edges) -----------------------------------------------------------------------


def write_qa_sample(
    dataset: Path, out: Path, n: int, seed: int, *, raw_csv: bool = False
) -> pl.DataFrame:
    """Draw the sample from the dataset file and write it as CSV for a spreadsheet (``raw_csv``:
    the cells as they are, formulas included); returns the rows drawn, as they are."""
    with Store.open_existing(dataset) as store:
        sample = qa_sample(store.authors(), n, seed)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(safe_text.spreadsheet_csv(sample, raw=raw_csv))
    except OSError as exc:
        raise ExportError(f"cannot write the QA sample {out}: {exc}") from None
    return sample


def read_review_file(path: Path) -> pl.DataFrame:
    """Every data row of a reviewed QA CSV (REVIEW_ROWS_SCHEMA), with its physical line.

    Spreadsheets save with a byte-order mark and, in some locales, ``;`` or tabs between cells:
    both are accepted. A quoted cell may span lines, so lines are counted by the csv reader.
    Cells are read back to the values the sample was written from (the quote before a formula
    cell removed: :func:`influx_etl.safe_text.original_cells`).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReviewFileError("no such file", file=path) from None
    except UnicodeDecodeError as exc:
        raise ReviewFileError(f"not UTF-8 text ({exc.reason})", file=path) from None
    except OSError as exc:
        raise ReviewFileError(f"cannot read: {exc.strerror}", file=path) from None
    header_line = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(header_line, ",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # only the delimiter: sniffing a header (no "" in it) would turn off doubled quotes
    reader = csv.reader(text.splitlines(keepends=True), csv.excel, delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [c for c in ("handle", "verdict") if c not in header]
    if missing:
        raise ReviewFileError(
            f"no {' or '.join(missing)} column: expected the header of a QA sample "
            f"({','.join(SAMPLE_COLUMNS)})",
            file=path,
            line=1,
        )
    wanted = {name: header.index(name) for name in REVIEW_ROWS_SCHEMA if name in header}
    columns: dict[str, list[object]] = {name: [] for name in REVIEW_ROWS_SCHEMA}
    # A per-row loop, on purpose: only the csv reader knows where a multi-line row starts, and a
    # review file holds tens of rows, not the dataset.
    start = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            columns["line"].append(start)
            for name in ("handle", "id", "verdict", "note"):
                index = wanted.get(name)
                columns[name].append(
                    cells[index] if index is not None and index < len(cells) else None
                )
        start = reader.line_num + 1
    return safe_text.original_cells(pl.DataFrame(columns, schema=REVIEW_ROWS_SCHEMA))


@dataclass(frozen=True)
class RecordedVerdicts:
    stored: int
    bad: pl.DataFrame
    """line, message: rows reported and skipped."""
    unreviewed: int
    not_in_dataset: int
    """Verdicts on handles no longer in the dataset (stored all the same)."""
    by_verdict: dict[str, int]


def record_verdicts(dataset: Path, review_file: Path, recorded_at: str) -> RecordedVerdicts:
    """Check a reviewed QA file and store its good rows in the dataset's ``qa_verdicts``."""
    rows = read_review_file(review_file)
    checked = checked_verdicts(rows)
    digest = hashlib.sha256(review_file.read_bytes()).hexdigest()
    with Store.open_existing(dataset) as store:
        authors = store.authors()
        records = verdict_records(
            checked.good,
            authors,
            review_file=review_file.name,
            file_sha256=digest,
            recorded_at=recorded_at,
        )
        stored = store.record_qa_verdicts(records) if records.height else 0
    counts = records.group_by("verdict").len()
    return RecordedVerdicts(
        stored=stored,
        bad=checked.bad,
        unreviewed=checked.unreviewed,
        not_in_dataset=records.filter(~pl.col("id").is_in(authors["id"].implode())).height,
        by_verdict=dict(zip(counts["verdict"].to_list(), counts["len"].to_list(), strict=True)),
    )
