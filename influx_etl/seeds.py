"""The seeds stage: curated seed files in, one row per distinct X handle out.

Seed files are ``.csv`` (a header row names the columns) or ``.txt`` (one handle a line). The real
files are hand-edited and messy, so a file is read as raw lines with their physical line numbers
and split, cleaned and validated with Polars expressions over all rows at once. A bad row is
reported in :attr:`SeedLoad.rejects` (and logged) and skipped; a file that is not UTF-8 text is
refused (:attr:`SeedLoad.refused`: its byte offset and the command that converts it) while the other
files go on; only a file that cannot be read at all raises :class:`~influx_etl.errors.SeedError`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from influx_etl.errors import SeedError
from influx_etl.frames import SEED_REJECTS_SCHEMA, SEEDS_SCHEMA

logger = logging.getLogger(__name__)

SEED_SUFFIXES: Final = (".csv", ".txt")

HANDLE_COLUMNS: Final = ("handle", "org_name", "username", "screen_name")
"""Header names accepted for the handle column, in order of preference (``username`` and
``screen_name``: twarc and other exports of X users)."""
CATEGORY_COLUMNS: Final = ("category",)
SOURCE_COLUMNS: Final = ("source", "source_url")
NOTE_COLUMNS: Final = ("note",)

HANDLE_PATTERN: Final = r"^[A-Za-z0-9_]{1,15}$"
MAX_HANDLE_LENGTH: Final = 15
HANDLE_RULE: Final = "must be 1-15 characters of A-Z, a-z, 0-9 or _"

_BOM: Final = "\ufeff"

# One CSV field per match, each preceded by the comma that ends the previous field (the line gets
# a leading comma), so every match consumes at least one character and empty fields are kept.
# A quoted field may hold commas and doubled quotes; text after its closing quote stays with it.
_CSV_FIELD: Final = r',("(?:[^"]|"")*"[^,]*|[^,]*)'
_QUOTED_FIELD: Final = r'^"((?:[^"]|"")*)"'

# Profile URLs as people paste them: any scheme, www./mobile., x.com or twitter.com.
_PROFILE_URL_PREFIX: Final = r"(?i)^(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/"

RAW_ROWS_SCHEMA: Final = pl.Schema(
    {
        "seed_path": pl.String,
        "seed_file": pl.String,
        "file_order": pl.Int64,
        "line": pl.Int64,
        "raw_handle": pl.String,
        "category": pl.String,
        "source": pl.String,
        "note": pl.String,
    }
)


REFUSED_SCHEMA: Final = pl.Schema({"seed_file": pl.String, "path": pl.String, "reason": pl.String})
"""Seed files refused unread (not UTF-8 text), with the reason."""


@dataclass(frozen=True)
class SeedLoad:
    """What the seed files held: distinct handles, rejected rows and how many rows were read."""

    frame: pl.DataFrame
    """One row per distinct handle (case-insensitive), exactly :data:`SEEDS_SCHEMA`."""
    rejects: pl.DataFrame
    """Every row whose handle is not a valid X handle, exactly :data:`SEED_REJECTS_SCHEMA`."""
    rows_read: int
    """Data rows seen across all files (blank lines, comments and headers are not rows)."""
    files: pl.DataFrame = field(default_factory=lambda: seed_file_digests([]))
    """The files read: ``name``, ``path`` and the ``sha256`` of their content."""
    refused: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REFUSED_SCHEMA))
    """Files that were not read (not UTF-8 text): ``seed_file``, ``path``, ``reason``."""


class SeedEncodingError(SeedError):
    """A seed file is not UTF-8 text: it is refused, and the other files go on."""


def seeds_from_handles(handles: Sequence[str], seed_file: str) -> SeedLoad:
    """Handles that come from somewhere other than a file (e.g. the dataset, for a refresh) as
    seeds, through the same cleaning and validation as file rows."""
    rows = pl.DataFrame(
        {
            "seed_path": seed_file,
            "seed_file": seed_file,
            "file_order": 0,
            "line": pl.int_range(1, len(handles) + 1, eager=True),
            "raw_handle": list(handles),
        }
    ).with_columns(pl.lit(None, pl.String).alias(c) for c in ("category", "source", "note"))
    checked = checked_seed_rows(rows.select(RAW_ROWS_SCHEMA.names()).cast(RAW_ROWS_SCHEMA))
    # No seed file stands behind these handles: an author's seed_files must not gain a pseudo-file.
    frame = distinct_seeds(checked.filter(pl.col("reason").is_null())).with_columns(
        pl.lit([], dtype=pl.List(pl.String)).alias("seed_files")
    )
    return SeedLoad(
        frame=frame,
        rejects=checked.filter(pl.col("reason").is_not_null()).select(
            pl.col(name).cast(dtype) for name, dtype in SEED_REJECTS_SCHEMA.items()
        ),
        rows_read=len(handles),
    )


def seed_file_digests(paths: Sequence[Path]) -> pl.DataFrame:
    """``name``, ``path`` and content ``sha256`` of each seed file: an edited file is a new file.

    For deciding what is pending without parsing; :func:`load_seeds` hashes the bytes it reads.
    """
    digests = []
    for path in paths:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise SeedError(f"cannot read seed file: {exc.strerror or exc}", file=path) from None
        digests.append(digest.hexdigest())
    return _digests(paths, digests)


def _digests(paths: Sequence[Path], sha256s: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"name": [p.name for p in paths], "path": [str(p) for p in paths], "sha256": sha256s},
        schema={"name": pl.String, "path": pl.String, "sha256": pl.String},
    )


def seed_paths(directory: Path) -> list[Path]:
    """Every ``*.csv`` and ``*.txt`` file in ``directory``, sorted by name."""
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        raise SeedError(
            f"seed folder {what}: expected a folder of {' or '.join(SEED_SUFFIXES)} files",
            file=directory,
        )
    return sorted(
        (
            path
            for path in directory.iterdir()
            if path.suffix.lower() in SEED_SUFFIXES and path.is_file()
        ),
        key=lambda path: path.name,
    )


def load_seeds(paths: Sequence[Path]) -> SeedLoad:
    """Read the seed files (in the given order) into distinct handles plus rejected rows.

    A file that is not UTF-8 text is refused (logged, in :attr:`SeedLoad.refused`) and the
    others are read; it is left out of :attr:`SeedLoad.files`, so it stays pending."""
    readable: list[Path] = []
    contents: list[bytes] = []
    refused: list[tuple[str, str, str]] = []
    for path in paths:
        data = _file_bytes(path)
        try:
            _checked_utf8(path, data)
        except SeedEncodingError as error:
            logger.error("%s", error)
            refused.append((path.name, str(path), error.message))
            continue
        readable.append(path)
        contents.append(data)
    rows = raw_seed_rows(readable, contents)
    checked = checked_seed_rows(rows)
    rejects = checked.filter(pl.col("reason").is_not_null())
    # One warning per rejected row is the contract; rejects are a handful, not the million rows.
    for seed_path, line, raw_handle, reason in rejects.select(
        "seed_path", "line", "raw_handle", "reason"
    ).iter_rows():
        logger.warning("%s:%d: %s (value %r)", seed_path, line, reason, raw_handle)
    return SeedLoad(
        frame=distinct_seeds(checked.filter(pl.col("reason").is_null())),
        rejects=rejects.select(
            pl.col(name).cast(dtype) for name, dtype in SEED_REJECTS_SCHEMA.items()
        ),
        rows_read=rows.height,
        files=_digests(readable, [hashlib.sha256(data).hexdigest() for data in contents]),
        refused=pl.DataFrame(refused, schema=REFUSED_SCHEMA, orient="row"),
    )


def raw_seed_rows(paths: Sequence[Path], contents: Sequence[bytes]) -> pl.DataFrame:
    """The data rows of every file, before any handle cleaning, in file then line order."""
    frames = [
        file_rows(path, data).with_columns(file_order=pl.lit(order, dtype=pl.Int64))
        for order, (path, data) in enumerate(zip(paths, contents, strict=True))
    ]
    if not frames:
        return pl.DataFrame(schema=RAW_ROWS_SCHEMA)
    return pl.concat([frame.select(RAW_ROWS_SCHEMA.names()) for frame in frames]).cast(
        RAW_ROWS_SCHEMA
    )


def file_rows(path: Path, data: bytes) -> pl.DataFrame:
    """The data rows of one seed file (its bytes ``data``): ``seed_path``, ``seed_file``,
    ``line`` and the raw fields."""
    suffix = path.suffix.lower()
    if suffix not in SEED_SUFFIXES:
        raise SeedError(
            f"unsupported seed file type {path.suffix!r}: "
            f"expected one of {', '.join(SEED_SUFFIXES)}",
            file=path,
        )
    lines = numbered_lines(path, data)
    rows = text_file_rows(lines) if suffix == ".txt" else csv_file_rows(path, lines)
    return rows.with_columns(seed_path=pl.lit(str(path)), seed_file=pl.lit(path.name))


def _file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SeedError(f"cannot read seed file: {error.strerror or error}", file=path) from error


def numbered_lines(path: Path, data: bytes) -> pl.DataFrame:
    """The lines of ``path``'s bytes ``data``: ``line`` (1-based physical line number) and
    ``text`` (no line break)."""
    text = _checked_utf8(path, data)
    return (
        pl.DataFrame({"text": [text.removeprefix(_BOM)]})
        .select(pl.col("text").str.split("\n"))
        .explode("text")
        .with_row_index("line", offset=1)
        .select(
            pl.col("line").cast(pl.Int64),
            pl.col("text").str.strip_suffix("\r"),
        )
    )


def _checked_utf8(path: Path, data: bytes) -> str:
    """``data`` decoded; raises :class:`SeedEncodingError` naming the first bad byte's offset
    and the command that converts the file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        source, target = shlex.quote(str(path)), shlex.quote(f"{path}.utf8")
        raise SeedEncodingError(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at byte offset {error.start}): "
            "expected a UTF-8 encoded seed file; the file was skipped. Convert it (if it is "
            f"Latin-1) with: iconv -f LATIN1 -t UTF-8 {source} > {target} and put the "
            "result in its place",
            file=path,
            line=line,
        ) from error


def text_file_rows(lines: pl.DataFrame) -> pl.DataFrame:
    """Rows of a ``.txt`` seed file: one handle a line; blank lines and ``#`` comments skipped."""
    # A handle can't contain '#', so whitespace then '#' starts a trailing comment.
    value = pl.col("text").str.replace(r"\s#.*$", "")
    return lines.filter(~_is_blank(value) & ~value.str.strip_chars().str.starts_with("#")).select(
        "line",
        raw_handle=value,
        category=pl.lit(None, dtype=pl.String),
        source=pl.lit(None, dtype=pl.String),
        note=pl.lit(None, dtype=pl.String),
    )


def csv_file_rows(path: Path, lines: pl.DataFrame) -> pl.DataFrame:
    """Rows of a ``.csv`` seed file, its columns mapped by the header (the first non-blank line)."""
    content = lines.filter(~_is_blank(pl.col("text")))
    if content.is_empty():
        logger.warning("%s: empty seed file (no header row)", path)
        return pl.DataFrame(schema=RAW_ROWS_SCHEMA).select(
            "line", "raw_handle", "category", "source", "note"
        )
    header_line, header_text = content.row(0)
    header = [name.strip().lower() for name in next(csv.reader([header_text]))]
    handle_index = _column_index(header, HANDLE_COLUMNS)
    if handle_index is None:
        raise SeedError(
            f"no handle column in header {header_text!r}: "
            f"expected one of {', '.join(map(repr, HANDLE_COLUMNS))}",
            file=path,
            line=header_line,
        )
    last = len(header) - 1

    def column(names: tuple[str, ...]) -> pl.Expr:
        index = _column_index(header, names)
        if index is None:
            return pl.lit(None, dtype=pl.String)
        if index == last:
            # Unquoted commas in the last column spill into extra fields: join them back.
            return pl.col("fields").list.slice(last).list.join(",")
        return pl.col("fields").list.get(index, null_on_oob=True)

    data = content.slice(1)
    # The quote-aware split costs far more than a plain one (docs/performance.md); most files
    # have no quotes at all.
    quoted = bool(data.select(pl.col("text").str.contains('"', literal=True).any()).item())
    return data.with_columns(fields=csv_fields(pl.col("text"), quoted=quoted)).select(
        "line",
        raw_handle=column(HANDLE_COLUMNS).fill_null(""),
        category=_optional_text(column(CATEGORY_COLUMNS)),
        source=_optional_text(column(SOURCE_COLUMNS)),
        note=_optional_text(column(NOTE_COLUMNS)),
    )


def csv_fields(line: pl.Expr, *, quoted: bool = True) -> pl.Expr:
    """A CSV line split into its fields (list of strings), with standard ``"`` quoting undone.

    ``quoted=False`` is a faster plain split on commas, for lines known to hold no ``"``.
    """
    if not quoted:
        return line.str.split(",")
    field = pl.element().str.slice(1)  # drop the comma that precedes every match
    unquoted = field.str.replace(_QUOTED_FIELD, "$1").str.replace_all('""', '"', literal=True)
    return (
        (pl.lit(",") + line)
        .str.extract_all(_CSV_FIELD)
        .list.eval(pl.when(field.str.contains(_QUOTED_FIELD)).then(unquoted).otherwise(field))
    )


def cleaned_handle(raw: pl.Expr) -> pl.Expr:
    """The handle inside a raw value: trimmed, ``\\_`` unescaped, URL prefix and ``@`` removed."""
    value = raw.str.strip_chars().str.replace_all(r"\_", "_", literal=True)
    is_url = value.str.contains(_PROFILE_URL_PREFIX)
    from_url = (
        value.str.replace(_PROFILE_URL_PREFIX, "").str.replace(r"[?#].*$", "").str.strip_suffix("/")
    )
    return pl.when(is_url).then(from_url).otherwise(value).str.strip_chars().str.strip_prefix("@")


def handle_problem(handle: pl.Expr) -> pl.Expr:
    """Why a cleaned handle is not a valid X handle (null when it is valid)."""
    length = handle.str.len_chars()
    bad_character = handle.str.extract(r"([^A-Za-z0-9_])", 1)
    details = pl.concat_str(
        [
            pl.format("contains '{}'", bad_character),
            pl.when(length > MAX_HANDLE_LENGTH).then(pl.format("got {} characters", length)),
        ],
        separator=", ",
        ignore_nulls=True,
    )
    return (
        pl.when(length == 0)
        .then(pl.lit(f"empty handle: expected a value that {HANDLE_RULE}"))
        .when(~handle.str.contains(HANDLE_PATTERN))
        .then(pl.format(f"not a valid X handle: {HANDLE_RULE} ({{}})", details))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def checked_seed_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """The raw rows with their cleaned ``handle``, ``handle_key`` and a ``reason`` if rejected."""
    return rows.with_columns(handle=cleaned_handle(pl.col("raw_handle"))).with_columns(
        handle_key=pl.col("handle").str.to_lowercase(),
        reason=handle_problem(pl.col("handle")),
    )


def distinct_seeds(valid: pl.DataFrame) -> pl.DataFrame:
    """One row per ``handle_key``, first occurrence wins, aggregating files and categories."""
    category = pl.col("category")
    given = category.is_not_null() & (category != "")
    # Most handles occur once: their lists are made row by row, and only the repeated ones are
    # grouped (a group per handle costs far more: docs/performance.md).
    repeated = valid.select(pl.col("handle_key").is_duplicated()).to_series()
    once = valid.filter(~repeated).with_columns(
        seed_files=pl.concat_list("seed_file"),
        categories=pl.when(given)
        .then(pl.concat_list("category"))
        .otherwise(pl.lit([], dtype=pl.List(pl.String))),
    )
    columns = [pl.col(name).cast(dtype) for name, dtype in SEEDS_SCHEMA.items()]
    if not repeated.any():
        # nothing to merge; rows come in file then line order already (a cheap sort then)
        return once.sort("file_order", "line", maintain_order=True).select(columns)
    grouped = (
        valid.filter(repeated)
        .sort("file_order", "line", maintain_order=True)
        .group_by("handle_key", maintain_order=True)
        .agg(
            pl.col(
                "handle", "category", "source", "note", "seed_file", "line", "file_order"
            ).first(),
            seed_files=pl.col("seed_file").unique().sort(),
            categories=category.filter(given).unique().sort(),
        )
    )
    both = [*SEEDS_SCHEMA, "file_order"]
    return (
        pl.concat([once.select(both), grouped.select(both)], how="vertical_relaxed")
        .sort("file_order", "line")
        .select(columns)
    )


def _is_blank(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.len_chars() == 0


def _optional_text(value: pl.Expr) -> pl.Expr:
    trimmed = value.str.strip_chars()
    return pl.when(trimmed != "").then(trimmed).otherwise(pl.lit(None, dtype=pl.String))


def _column_index(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None
