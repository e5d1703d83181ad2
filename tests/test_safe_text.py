"""Spreadsheet cells and terminal text made inert, and undone exactly where the data needs it."""

from __future__ import annotations

import csv
import io
import logging

import polars as pl
import pytest

from influx_etl import safe_text
from influx_etl.safe_text import CONTROL_CODES, FORMULA_TRIGGERS
from tests.hostile_profiles import (
    HOSTILE_TEXTS,
    HOSTILE_URLS,
    LONG_BIO,
    TERMINAL,
    evaluated,
)

TRICKY = (*HOSTILE_TEXTS, *HOSTILE_URLS, LONG_BIO, "'tis", "''=x", "", "plain", "a=b", "$1=")


def test_every_cell_starting_with_a_trigger_gets_one_quote() -> None:
    texts = pl.Series("text", [f"{trigger}1+1" for trigger in FORMULA_TRIGGERS])
    cells = pl.select(safe_text.spreadsheet_text(pl.lit(texts))).to_series()
    assert cells.to_list() == [f"'{trigger}1+1" for trigger in FORMULA_TRIGGERS]
    untouched = ["plain", "a=b", "'tis", "", None]
    kept = pl.select(safe_text.spreadsheet_text(pl.lit(pl.Series(untouched)))).to_series()
    assert kept.to_list() == untouched


def test_original_text_undoes_the_quote_exactly() -> None:
    frame = pl.DataFrame({"text": list(TRICKY), "n": range(len(TRICKY))})
    cells = safe_text.spreadsheet_cells(frame)
    assert not any(evaluated(cell) for cell in cells["text"])
    assert cells.columns == frame.columns
    assert safe_text.original_cells(cells).equals(frame)


def test_the_csv_for_people_has_no_cell_a_spreadsheet_evaluates() -> None:
    frame = pl.DataFrame({"name": list(TRICKY), "followers": [-5] * len(TRICKY)})
    data = safe_text.spreadsheet_csv(frame).decode()
    # a spreadsheet in a locale that splits on ';' or tabs must not find a formula either
    for delimiter in (",", ";", "\t"):
        rows = list(csv.reader(io.StringIO(data, newline=""), delimiter=delimiter))
        assert not [cell for row in rows for cell in row if evaluated(cell)], delimiter
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    read_back = safe_text.original_cells(pl.DataFrame({"name": [r["name"] for r in rows]}))
    assert read_back["name"].to_list() == list(TRICKY)


def test_raw_csv_keeps_the_cells_as_they_are() -> None:
    frame = pl.DataFrame({"name": list(TRICKY)})
    raw = safe_text.spreadsheet_csv(frame, raw=True).decode()
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert [r["name"] for r in rows] == list(TRICKY)
    assert raw == frame.write_csv()


def test_slices_written_one_after_another_make_the_whole_file() -> None:
    frame = pl.DataFrame({"name": list(TRICKY), "n": range(len(TRICKY))})
    whole = safe_text.spreadsheet_csv(frame)
    pieces = safe_text.spreadsheet_csv(frame.head(5)) + safe_text.spreadsheet_csv(
        frame.slice(5), header=False
    )
    assert pieces == whole


@pytest.mark.parametrize("text", [*TERMINAL, *HOSTILE_TEXTS, LONG_BIO])
def test_visible_text_leaves_no_control_character(text: str) -> None:
    shown = safe_text.visible_text(text)
    assert not [ch for ch in shown if ord(ch) in CONTROL_CODES]
    # the rest of the text is still there, readable
    assert shown.replace("\\x1b", "").replace("\\x07", "") != ""


def test_visible_text_shows_each_control_character_as_its_escape() -> None:
    assert (
        safe_text.visible_text("a\x1b[31mb\x07\u202ec\r\n") == "a\\x1b[31mb\\x07\\u202ec\\x0d\\x0a"
    )
    ordinary = "Zoë — 東京 🚀 naïve, 100% <ok>"
    assert safe_text.visible_text(ordinary) == ordinary


def test_visible_texts_is_visible_text_over_a_column() -> None:
    texts = pl.Series([*TERMINAL, *HOSTILE_TEXTS, None])
    shown = pl.select(safe_text.visible_texts(pl.lit(texts))).to_series().to_list()
    assert shown == [None if t is None else safe_text.visible_text(t) for t in texts]


def test_the_logging_filter_makes_control_characters_visible() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(safe_text.VisibleControlsFilter())
    logger = logging.getLogger("tests.safe_text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for text in TERMINAL:
            logger.warning("name %s", text)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == len(TERMINAL)  # a CR or LF in a name fakes no line
    assert not [ch for ch in stream.getvalue() if ord(ch) in CONTROL_CODES and ch != "\n"]
    assert lines[1] == "name \\x1b]0;pwned title\\x07"
