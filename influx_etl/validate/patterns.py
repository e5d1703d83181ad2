"""JSON Schema ``pattern`` (Python's ``re.search``) rewritten in the regex dialect of Polars.

:func:`python_regex` translates what the two dialects spell differently (class escapes, literal
escapes, quantifiers) and refuses what it cannot translate faithfully with
:class:`~influx_etl.errors.UnsupportedSchema`, so a constraint is never skipped silently.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Final

import polars as pl

from influx_etl.errors import UnsupportedSchema


@functools.cache
def _python_class(escape: str) -> str:
    """The characters Python's ``re`` matches with ``\\s`` or ``\\d`` (str patterns) as ranges
    in Polars' regex syntax (no brackets). ``re`` uses ``str.isspace`` / ``str.isdecimal``."""
    test = str.isspace if escape == "s" else str.isdecimal
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF or not test(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(
        f"\\x{{{low:x}}}" if low == high else f"\\x{{{low:x}}}-\\x{{{high:x}}}"
        for low, high in ranges
    )


_CLASS_ESCAPES: Final = {"d": ("d", False), "D": ("d", True), "s": ("s", False), "S": ("s", True)}
_LITERAL_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_QUANTIFIER: Final = re.compile(r"\{(\d*)(,(\d*))?\}")


def _literal(char: str) -> str:
    """One literal character for the Polars (Rust) regex, escaped when it is ASCII punctuation."""
    if char.isascii() and not char.isalnum() and char not in " _":
        return "\\" + char if char.isprintable() else f"\\x{{{ord(char):x}}}"
    return char


def _escape(pattern: str, at: int, where: str) -> tuple[str, bool]:
    """The escape at ``pattern[at]`` (after the backslash): (text, is_class)."""
    if at >= len(pattern):
        raise UnsupportedSchema(f"{where}: pattern {pattern!r} ends with a backslash")
    char = pattern[at]
    if char in _CLASS_ESCAPES:
        name, negated = _CLASS_ESCAPES[char]
        return f"[{'^' if negated else ''}{_python_class(name)}]", True
    if char in _LITERAL_ESCAPES:
        return _literal(_LITERAL_ESCAPES[char]), False
    if char.isascii() and not char.isalnum():
        return _literal(char), False
    raise UnsupportedSchema(f"{where}: pattern escape \\{char} in {pattern!r} is not supported")


def _char_class(pattern: str, at: int, where: str) -> tuple[str, int]:
    """The class starting at ``pattern[at] == '['``: (Rust text, index after it)."""
    index = at + 1
    negated = pattern.startswith("^", index)
    index += negated
    items: list[str] = []
    first = True
    while True:
        if index >= len(pattern):
            raise UnsupportedSchema(f"{where}: unterminated character class in {pattern!r}")
        char = pattern[index]
        if char == "]" and not first:
            index += 1
            break
        first = False
        if char == "\\":
            text, is_class = _escape(pattern, index + 1, where)
            index += 2
        else:
            text, is_class = _literal(char), False
            index += 1
        # a range a-z: both ends literal characters
        if (
            not is_class
            and pattern.startswith("-", index)
            and index + 1 < len(pattern)
            and pattern[index + 1] != "]"
        ):
            end = pattern[index + 1]
            if end in "\\[":
                raise UnsupportedSchema(f"{where}: range to an escape in {pattern!r}")
            items.append(f"{text}-{_literal(end)}")
            index += 2
            continue
        items.append(text)
    return f"[{'^' if negated else ''}{''.join(items)}]", index


def python_regex(pattern: str, where: str = "$") -> str:
    """``pattern`` (Python ``re`` syntax, as jsonschema searches with it) in Polars' dialect,
    matching exactly the same strings; forms whose meaning could differ raise UnsupportedSchema."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise UnsupportedSchema(f"{where}: pattern {pattern!r} is not a regex: {error}") from None
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            text, _ = _escape(pattern, index + 1, where)
            out.append(text)
            index += 2
        elif char == "[":
            text, index = _char_class(pattern, index, where)
            out.append(text)
        elif char == "(":
            if pattern.startswith("(?:", index):
                out.append("(?:")
                index += 3
            elif pattern.startswith("(?", index):
                raise UnsupportedSchema(
                    f"{where}: group {pattern[index : index + 3]!r} in {pattern!r} is not supported"
                )
            else:
                out.append("(")
                index += 1
        elif char == "$":
            # Python's $ also matches right before a newline that ends the string
            out.append("(?:\\n?\\z)")
            index += 1
        elif char == "{" and (quantifier := _QUANTIFIER.match(pattern, index)):
            low, comma, high = quantifier.group(1), quantifier.group(2), quantifier.group(3)
            if not low and not comma:
                out.append(_literal("{"))
                index += 1
                continue
            out.append(f"{{{low or 0}{',' + high if comma else ''}}}")
            index = quantifier.end()
            if pattern.startswith("+", index):
                raise UnsupportedSchema(f"{where}: possessive quantifier in {pattern!r}")
        elif char in "*+?":
            out.append(char)
            index += 1
            if pattern.startswith("+", index):
                raise UnsupportedSchema(f"{where}: possessive quantifier in {pattern!r}")
        elif char in ".^|)":
            out.append(char)
            index += 1
        else:
            out.append(_literal(char))
            index += 1
    translated = "".join(out)
    try:
        pl.select(pl.lit("").str.contains(translated))
    except pl.exceptions.PolarsError as error:
        raise UnsupportedSchema(f"{where}: pattern {pattern!r}: {error}") from None
    return translated
