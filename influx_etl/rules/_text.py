"""Text inputs and keyword matchers shared by the brand and risk stages.

Keyword lists compile into ONE regex alternation per list, run once per row with
``str.extract_all`` over a lower-cased haystack: the matched texts name the keywords that hit, and a
non-empty result is the boolean test. Lower-casing the haystack (instead of ``(?i)``) keeps the
alternation a plain literal set, which the Rust engine scans with a literal prefilter.

Word boundaries (``\\b``, Unicode-aware in Polars) go only on a keyword's edge that is a letter or
digit of a script written with spaces: ``\\bteam\\b``, ``\\b18+`` (no boundary after ``+``), and
none around Chinese or Japanese keywords (``官方``), whose text has no spaces between words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import polars as pl

SEPARATOR = "\x1f"
"""Joins several names into one string inside a list element (never occurs in rule names)."""

_UNSPACED_SCRIPTS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0xA4CF),  # CJK radicals, kana, CJK ideographs, Yi
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x20000, 0x3FFFF),  # CJK extensions
)

_HOST = r"^\s*(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#@\s]*@)?([^/?#:\s]+)"
SHORT_LINK_HOSTS = ("t.co",)
"""The API's own link wrapper: its host says nothing about where the link goes."""

EMPTY_LIST = pl.lit([], dtype=pl.List(pl.String))


def _is_spaced_word_char(char: str) -> bool:
    if not (char.isalnum() or char == "_"):
        return False
    code = ord(char)
    return not any(low <= code <= high for low, high in _UNSPACED_SCRIPTS)


def keyword_regex(keyword: str, *, word_boundaries: bool) -> str:
    """The regex for one (lower-case) keyword, without case-insensitivity flags."""
    body = re.escape(keyword)
    if not word_boundaries:
        return body
    left = r"\b" if _is_spaced_word_char(keyword[0]) else ""
    right = r"\b" if _is_spaced_word_char(keyword[-1]) else ""
    return f"{left}{body}{right}"


def keyword_alternation(keywords: Iterable[str], *, word_boundaries: bool) -> str:
    # longest first: at one position the leftmost-first engine reports the longest keyword
    ordered = sorted(set(keywords), key=lambda keyword: (-len(keyword), keyword))
    return "|".join(keyword_regex(keyword, word_boundaries=word_boundaries) for keyword in ordered)


def keyword_matches(
    haystack: pl.Expr,
    named_keywords: Sequence[tuple[str, str]],
    *,
    word_boundaries: bool,
) -> pl.Expr:
    """``List(String)`` of the names of every keyword found in the lower-case ``haystack``.

    ``named_keywords`` pairs a rule name (``name_kw:official_indicators:team``) with its keyword;
    several names may share one keyword (the same word in two categories). ``extract_all`` reports
    non-overlapping matches only, so a keyword found inside a longer one that matched (``dm for``
    inside ``dm for money``) is added from a table computed here once, not by another scan.
    The names come in the order the keywords occur in the haystack and may repeat (a keyword
    found twice); callers make them unique.
    """
    if not named_keywords:
        return EMPTY_LIST
    keywords = sorted({keyword.lower() for _, keyword in named_keywords})
    names_by_keyword: dict[str, set[str]] = {keyword: set() for keyword in keywords}
    for name, keyword in named_keywords:
        names_by_keyword[keyword.lower()].add(name)
    matchers = {
        keyword: re.compile(keyword_regex(keyword, word_boundaries=word_boundaries))
        for keyword in keywords
    }
    implied = {
        found: sorted(
            name
            for keyword, matcher in matchers.items()
            if matcher.search(found)
            for name in names_by_keyword[keyword]
        )
        for found in keywords
    }
    pattern = keyword_alternation(keywords, word_boundaries=word_boundaries)
    extracted = haystack.str.extract_all(pattern)
    # (list.eval keeps these per-element steps on the flat values: much faster on 1M rows than
    # the list namespace's own drop_nulls/unique)
    if all(len(names) == 1 for names in implied.values()):
        single = {found: names[0] for found, names in implied.items()}
        return extracted.list.eval(
            pl.element().replace_strict(single, default=None, return_dtype=pl.String).drop_nulls()
        )
    joined = {found: SEPARATOR.join(names) for found, names in implied.items()}
    return (
        extracted.list.eval(
            pl.element().replace_strict(joined, default=None, return_dtype=pl.String)
        )
        .list.join(SEPARATOR)
        .str.split(SEPARATOR)
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def unique_in_order(values: pl.Expr) -> pl.Expr:
    """Drop nulls and repeats from a list column, keeping first occurrences in order."""
    return values.list.eval(pl.element().drop_nulls().unique(maintain_order=True))


def username_words(username: pl.Expr) -> pl.Expr:
    """``GitHubSupport`` → ``Git Hub Support``, ``nvidia_ai`` → ``nvidia ai``: the words a handle
    runs together, so that word-boundary keywords can find them."""
    return (
        username.str.replace_all("_", " ", literal=True)
        .str.replace_all(r"(\p{Ll})(\p{Lu})", "$1 $2")
        .str.replace_all(r"(\p{Lu})(\p{Lu}\p{Ll})", "$1 $2")
        .str.replace_all(r"(\p{L})(\p{Nd})", "$1 $2")
        .str.replace_all(r"(\p{Nd})(\p{L})", "$1 $2")
    )


def name_haystack(name: pl.Expr, username: pl.Expr) -> pl.Expr:
    """Lower-case ``name``, ``username`` and the username's words, one per line."""
    return pl.concat_str(
        [name, username, username_words(username)], separator="\n", ignore_nulls=True
    ).str.to_lowercase()


def link_urls(url: pl.Expr, urls: pl.Expr) -> pl.Expr:
    """``List(String)`` of the profile link and the expanded links, nulls dropped."""
    return pl.concat_list(url, urls.fill_null(EMPTY_LIST)).list.eval(pl.element().drop_nulls())


def link_hosts(url: pl.Expr, urls: pl.Expr) -> pl.Expr:
    """``List(String)`` of the lower-case hosts of the profile links, without ``t.co`` wrappers."""
    hosts = link_urls(url, urls).list.eval(
        pl.element().str.extract(_HOST, 1).str.to_lowercase().str.strip_chars_end(".")
    )
    return hosts.list.eval(
        pl.element().filter(
            pl.element().is_not_null()
            & (pl.element() != "")
            & ~pl.element().is_in(SHORT_LINK_HOSTS)
        )
    )


def any_element(values: pl.Expr, predicate: pl.Expr) -> pl.Expr:
    """True when ``predicate`` (over ``pl.element()``) holds for some element of ``values``."""
    return values.list.eval(predicate.fill_null(False)).list.any()
