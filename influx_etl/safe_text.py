"""Profile text written by strangers, made safe for the people who read it.

Display names, bios, locations and URLs come from anyone on X. The data files (JSONL, Parquet,
DuckDB) keep them exact; what a person opens or reads is made inert here:

* **spreadsheets** — a CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
  return or NUL is a formula to Excel, LibreOffice and Google Sheets. As OWASP recommends, such a
  cell gets a leading single quote (:func:`spreadsheet_text`) and every text cell is quoted, so a
  ``;`` or tab inside a cell cannot start a new cell in a spreadsheet that splits on it. A cell that
  already starts with quotes before a trigger gets one more, so :func:`original_text` undoes the
  change exactly (reading a CSV this module wrote gives back the original values).
* **terminals and logs** — control characters (ANSI CSI and OSC escapes start with ESC, BEL ends an
  OSC, CR rewrites a line, LF fakes one, C1 codes, bidirectional overrides reorder what is shown)
  are replaced by their escape, ``\\x1b`` or ``\\u202e`` (:func:`visible_text`), so they are seen
  and never act.

Functions on frames are Polars expressions over whole columns; the ``str`` forms are for single
lines about to be printed.
"""

from __future__ import annotations

import io
import logging
from typing import Final

import polars as pl

FORMULA_TRIGGERS: Final = "=+-@\t\r\0"
"""A cell starting with one of these is evaluated by a spreadsheet (OWASP's list, and NUL from
ASVS 1.2.10)."""

_TRIGGER_CLASS: Final = r"[=+\-@\t\r\x00]"
_NEEDS_QUOTE: Final = rf"^('*{_TRIGGER_CLASS})"
_QUOTED: Final = rf"^'('*{_TRIGGER_CLASS})"

CONTROL_CODES: Final = (
    *range(0x00, 0x20),  # C0, tab and line breaks included: a printed line stays one line
    0x7F,
    *range(0x80, 0xA0),  # C1 (0x9B is a one-byte CSI, 0x9D an OSC)
    0x061C,  # Arabic letter mark
    0x200E,  # left-to-right and right-to-left marks
    0x200F,
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2066, 0x206A),  # bidi isolates
    0x2028,  # line and paragraph separators: line breaks to some terminals
    0x2029,
)
"""Code points made visible before text is printed or logged."""


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_VISIBLE: Final = {code: _escape(code) for code in CONTROL_CODES}


# -- spreadsheets ---------------------------------------------------------------------------------


def spreadsheet_text(text: pl.Expr) -> pl.Expr:
    """``text`` with a single quote before every value a spreadsheet would evaluate (OWASP)."""
    return text.str.replace(_NEEDS_QUOTE, "'$1")


def original_text(cells: pl.Expr) -> pl.Expr:
    """The values :func:`spreadsheet_text` was given, from the cells it made."""
    return cells.str.replace(_QUOTED, "$1")


def _text_columns(frame: pl.DataFrame) -> list[str]:
    return [name for name, dtype in frame.schema.items() if dtype == pl.String]


def spreadsheet_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :func:`spreadsheet_text` applied to every text column."""
    return frame.with_columns(spreadsheet_text(pl.col(name)) for name in _text_columns(frame))


def original_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :func:`original_text` applied to every text column."""
    return frame.with_columns(original_text(pl.col(name)) for name in _text_columns(frame))


def spreadsheet_csv(frame: pl.DataFrame, *, header: bool = True, raw: bool = False) -> bytes:
    """``frame`` as CSV for a person to open: :func:`spreadsheet_cells`, every text cell quoted.

    ``raw``: the values as they are, quoted only where CSV needs it (a file for programs).
    Every value is written on its own, so slices written one after the other without their
    header make the whole frame's file.
    """
    buffer = io.BytesIO()
    if raw:
        frame.write_csv(buffer, include_header=header)
    else:
        spreadsheet_cells(frame).write_csv(buffer, include_header=header, quote_style="non_numeric")
    return buffer.getvalue()


# -- terminals and logs ---------------------------------------------------------------------------


def visible_text(text: str) -> str:
    """``text`` with every control character (:data:`CONTROL_CODES`) replaced by its escape."""
    return text.translate(_VISIBLE)


def visible_texts(texts: pl.Expr) -> pl.Expr:
    """:func:`visible_text` of every value of a text column."""
    return texts.str.replace_many([chr(code) for code in _VISIBLE], list(_VISIBLE.values()))


class VisibleControlsFilter(logging.Filter):
    """A logging filter that makes control characters visible in every record it passes, next to
    :class:`influx_etl.errors.SecretMaskingFilter`: a message quoting profile text (a handle, a
    validation message) cannot recolour or retitle the terminal or fake a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = visible_text(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True
