"""Schema patterns translated to Polars' regex dialect match what Python's ``re.search`` matches."""

from __future__ import annotations

import random
import re
import sys

import polars as pl
import pytest

from influx_etl.validate.patterns import python_regex

PATTERNS = [
    "^[0-9]{1,19}$",
    "^[A-Za-z0-9_]{1,15}$",
    "^[a-z]{2}(-[A-Z]{2})?$",
    "^[^\\sA-Z]+$",
    "Z$",
    "^[a-f0-9]{64}$",
    "^[A-Fa-f0-9]{64}$",
    "^a|b$",
    "\\d\\s\\D\\S",
    "[\\d.-]+$",
    "^(?:ab){2,}$",
    "x{,2}y",
    "a.c",
    "[]a]",
    "[a-]$",
    "^\\$\\.\\*$",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_match_as_in_python(pattern: str) -> None:
    alphabet = ["a", "b", "c", "x", "y", "Z", "A", "0", "7", "-", ".", "$", "*", "]", " ", "\n",
                "\t", "\x1c", "\u00a0", "\u2003", "٣", "é", "日"]  # fmt: skip
    rng = random.Random(pattern)
    strings = ["", "\n"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 9))) for _ in range(3000)
    ]
    strings += ["ab\n", "abab", "ababab\n", "$.*", "$.*\n", "en", "en-US\n", "xxy", "xy"]
    expected = [re.search(pattern, s) is not None for s in strings]
    found = pl.Series(strings).str.contains(python_regex(pattern)).to_list()
    assert found == expected


@pytest.mark.parametrize("escape", ["\\s", "\\d"])
def test_character_classes_are_pythons(escape: str) -> None:
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    regex = re.compile(escape)
    expected = pl.Series([regex.match(c) is not None for c in chars])
    found = pl.Series(chars).str.contains("^" + python_regex(escape) + "$")
    assert (found == expected).all()
