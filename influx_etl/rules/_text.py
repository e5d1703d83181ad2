"""Text inputs and keyword matchers shared by the brand and risk stages.

Keyword lists compile into ONE scan per list over a lower-cased haystack (an Aho-Corasick scan for
substrings, a regex alternation for words, see :func:`keyword_matches`): the matched texts name
the keywords that hit. Lower-casing the haystack (instead of ``(?i)``) keeps the alternation a plain
literal set, which the Rust engine scans with a literal prefilter. Before that, cheap literal scans
(:func:`may_name`, ``contains_any``) of lower-cased columns tell which rows can match at all.

Word boundaries (``\\b``, Unicode-aware in Polars) go only on a keyword's edge that is a letter or
digit of a script written with spaces: ``\\bteam\\b``, ``\\b18+`` (no boundary after ``+``), and
none around Chinese or Japanese keywords (``官方``), whose text has no spaces between words.

A profile's *links* are its ``url``, the expanded links of its ``entities`` (the ``urls`` column)
and the links written in its bio (:func:`bio_links`): ``https://…`` and bare domains such as
``hey.com`` or ``csail.mit.edu/news``, which X turns into links when it shows the bio.
"""

from __future__ import annotations

import re
import unicodedata
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

SHORT_LINK_HOSTS = ("t.co",)
"""The API's own link wrapper: its host says nothing about where the link goes."""
_SHORT_LINK_PREFIXES = tuple(
    f"{scheme}://{host}/" for scheme in ("https", "http") for host in SHORT_LINK_HOSTS
)

EMPTY_LIST = pl.lit([], dtype=pl.List(pl.String))

BIO_LINK = (
    r"https?://\S+"
    r"|[^\s@]*@\S*"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}(?:/\S*)?"
)
"""Tokens of a lower-case bio that may be links, leftmost first: a URL with its scheme, anything
with an ``@`` (e-mail addresses, @mentions, fediverse handles: consumed whole, then dropped, so
that ``kate@nytimes.com`` is not read as a link to nytimes.com), or a bare domain with an optional
path. A path runs to the next space, so trailing punctuation stays on it; a bare domain never
ends with the sentence's full stop."""

NOT_DOMAIN_SUFFIXES = (
    "js", "ts", "jsx", "tsx", "mjs", "py", "rb", "rs", "md", "txt", "json", "yml", "yaml", "toml",
    "html", "css", "pdf", "png", "jpg", "jpeg", "gif", "mp3", "mp4", "exe", "zip",
)  # fmt: skip
"""Last labels that name a file type or a framework (``next.js``, ``README.md``), not a domain."""


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
    several names may share one keyword (the same word in two categories). Every keyword that
    occurs is reported, exactly as if each were searched for on its own, in one scan:

    * substrings (no word boundaries): one Aho-Corasick scan that reports overlapping matches
      (``extract_many``), so ``company news outlet`` yields both ``company news`` and
      ``news outlet``, and ``dm for money`` both ``dm for`` and ``dm for money``;
    * words: one regex alternation (``extract_all``), which reports non-overlapping matches only.
      A keyword found inside a longer one that matched (``open source`` → ``source``) is added
      from a table computed here once; a keyword that can begin inside another one and run past
      its end (``google cloud`` then ``cloud flare``, see :func:`shadowable_keywords`) gets a test
      of its own (there are none in the shipped rule files).

    The names come in the order the keywords occur in the haystack (separately tested ones last),
    may repeat (a keyword found twice) and may hold nulls; callers make them unique.
    """
    if not named_keywords:
        return EMPTY_LIST
    keywords = sorted({keyword.lower() for _, keyword in named_keywords})
    names_by_keyword: dict[str, set[str]] = {keyword: set() for keyword in keywords}
    for name, keyword in named_keywords:
        names_by_keyword[keyword.lower()].add(name)
    if not word_boundaries:
        return _names_of(
            haystack.str.extract_many(keywords, overlapping=True),
            {keyword: sorted(names) for keyword, names in names_by_keyword.items()},
        )
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
    scanned = _names_of(words_found(haystack, pattern), implied)
    shadowed = shadowable_keywords(keywords, word_boundaries=word_boundaries)
    if not shadowed:
        return scanned
    tested = [
        pl.when(
            haystack.str.contains(keyword_regex(keyword, word_boundaries=word_boundaries))
        ).then(pl.lit(name))
        for keyword in sorted(shadowed)
        for name in sorted(names_by_keyword[keyword])
    ]
    return pl.concat_list(scanned, *tested)


def words_found(haystack: pl.Expr, pattern: str) -> pl.Expr:
    """``haystack.str.extract_all(pattern)`` for a pattern whose only ``\\b`` are word
    boundaries: with an ASCII ``\\b`` on the texts without a non-ASCII word character (where both
    boundaries fall at the same places), as :func:`bio_links` does; the Unicode one keeps the
    engine off its DFA (docs/performance.md)."""
    ascii_pattern = pattern.replace(r"\b", r"(?-u:\b)")
    unicode_words = haystack.str.contains(_NON_ASCII_WORD_CHAR)
    return pl.coalesce(
        pl.when(~unicode_words).then(haystack).str.extract_all(ascii_pattern),
        pl.when(unicode_words).then(haystack).str.extract_all(pattern),
    )


def first_word_found(haystack: pl.Expr, pattern: str) -> pl.Expr:
    """The leftmost match of ``pattern`` (word boundaries only as ``\\b``) in ``haystack``, null
    where none: a scan with no capture group (ASCII boundaries where they fall alike, see
    :func:`words_found`) picks the texts that match, and only those are searched for the match
    (building a list per text cost more than the scan)."""
    ascii_pattern = pattern.replace(r"\b", r"(?-u:\b)")
    unicode_words = haystack.str.contains(_NON_ASCII_WORD_CHAR)
    hit = pl.coalesce(
        pl.when(~unicode_words).then(haystack).str.contains(ascii_pattern),
        pl.when(unicode_words).then(haystack).str.contains(pattern),
    )
    return pl.when(hit).then(haystack).str.extract(f"({pattern})", 1)


def _names_of(found: pl.Expr, names: dict[str, list[str]]) -> pl.Expr:
    """Found keywords (``List(String)``) → the rule names of each, flattened in order."""
    # (list.eval keeps these per-element steps on the flat values: much faster on 1M rows than
    # the list namespace's own drop_nulls/unique)
    if all(len(named) == 1 for named in names.values()):
        single = {keyword: named[0] for keyword, named in names.items()}
        return found.list.eval(
            pl.element().replace_strict(single, default=None, return_dtype=pl.String).drop_nulls()
        )
    joined = {keyword: SEPARATOR.join(named) for keyword, named in names.items()}
    return (
        found.list.eval(pl.element().replace_strict(joined, default=None, return_dtype=pl.String))
        .list.join(SEPARATOR)
        .str.split(SEPARATOR)
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


def shadowable_keywords(keywords: Iterable[str], *, word_boundaries: bool) -> set[str]:
    """Keywords that a non-overlapping scan for all of ``keywords`` can miss.

    Keyword B is missed only when it starts inside a reported match A and ends after it: a proper
    suffix of A is a proper prefix of B, and (with word boundaries) B may start there and A may
    end there. A keyword nested inside another one is not shadowable (found by the table above).
    """
    unique = sorted(set(keywords))
    shadowed: set[str] = set()
    for first in unique:
        for second in unique:
            if first == second or second in shadowed:
                continue
            for start in range(1, len(first)):
                overlap = first[start:]
                if len(overlap) >= len(second) or not second.startswith(overlap):
                    continue
                if word_boundaries and (
                    (_is_spaced_word_char(second[0]) and _is_word_char(first[start - 1]))
                    or (_is_spaced_word_char(first[-1]) and _is_word_char(second[len(overlap)]))
                ):
                    continue
                shadowed.add(second)
                break
    return shadowed


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


_MAX_SPACE_VARIANTS = 4
"""Keywords with more spaces than this make :func:`may_name` also scan the joined username."""


def name_prefilter_literals(keywords: Iterable[str]) -> list[str]:
    """The substrings :func:`may_name` looks for: each lower-case keyword, and the keyword with each
    space dropped or turned into ``_`` (``hugging face`` → ``huggingface``, ``hugging_face``), as a
    username runs the words together."""
    literals: set[str] = set()
    for keyword in {keyword.lower() for keyword in keywords}:
        pieces = keyword.split(" ")
        if len(pieces) - 1 > _MAX_SPACE_VARIANTS:
            literals |= {keyword, "".join(pieces)}
            continue
        variants = [pieces[0]]
        for piece in pieces[1:]:
            variants = [f"{start}{glue}{piece}" for start in variants for glue in (" ", "", "_")]
        literals.update(variants)
    return sorted(literals - {""})


_AHO_CORASICK_DFA_PATTERNS = 100
"""``str.contains_any`` scans with a DFA up to this many literals (the ``aho-corasick`` crate's own
limit), past it with an NFA slower than a regex alternation of the same literals
(docs/performance.md)."""


def contains_literal(text: pl.Expr, literals: Sequence[str]) -> pl.Expr:
    """``text`` holds one of ``literals`` (case-sensitive): ``str.contains_any`` for a few literals,
    one regex alternation for more than :data:`_AHO_CORASICK_DFA_PATTERNS` (faster past it:
    docs/performance.md), or ``contains_any`` again when that alternation is too large to
    compile."""
    unique = sorted(set(literals))
    if not unique:
        return pl.lit(False)
    if len(unique) <= _AHO_CORASICK_DFA_PATTERNS:
        return text.str.contains_any(unique)
    alternation = "|".join(re.escape(literal) for literal in unique)
    if not _compiles(alternation):
        return text.str.contains_any(unique)
    return text.str.contains(alternation)


def _compiles(pattern: str) -> bool:
    """Polars' regex engine accepts ``pattern`` (a combined alternation may be too large, or
    name a group twice)."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.PolarsError:
        return False
    return True


def may_name(lower_name: pl.Expr, lower_username: pl.Expr, literals: list[str]) -> pl.Expr:
    """False only where no keyword can match :func:`name_haystack` (a cheap superset test), given
    the lower-case ``name`` and ``username``.

    A word-boundary match in the haystack is a plain substring of the lower-case name or
    username, or of the username once the keyword's spaces are dropped or turned into
    underscores (the username's words only add spaces and turn ``_`` into spaces).
    """
    if not literals:
        return pl.lit(False)
    hit = contains_literal(lower_name, literals) | contains_literal(lower_username, literals)
    if any(literal.count(" ") > _MAX_SPACE_VARIANTS for literal in literals):
        joined = pl.when(lower_username.str.contains("_", literal=True)).then(
            lower_username.str.replace_all("_", "", literal=True)
        )
        hit = hit | contains_literal(joined, literals)
    return hit.fill_null(False)


MAY_HOLD_LINK = r"://|\.[a-z]{2}"
"""A lower-case bio without this holds no :data:`BIO_LINK` link (cheap test, literal prefilter)."""


_BIO_LINK_ASCII_BOUNDARY = BIO_LINK.replace(r"\b", r"(?-u:\b)")
""":data:`BIO_LINK` with an ASCII ``\\b``: the same tokens in a text without a non-ASCII word
character (:data:`_NON_ASCII_WORD_CHAR`), where both boundaries fall at the same places."""
_NON_ASCII_WORD_CHAR = r"[\w&&[^\x00-\x7F]]"


def bio_links(lower_description: pl.Expr) -> pl.Expr:
    """``List(String)`` of the links written in a lower-case bio, see :data:`BIO_LINK`."""
    # A Unicode \b keeps the regex engine off its DFA as soon as the text holds any non-ASCII
    # character (an emoji will do). Bios without a non-ASCII word character are scanned with the
    # ASCII boundary instead, which is faster (docs/performance.md).
    unicode_words = lower_description.str.contains(_NON_ASCII_WORD_CHAR)
    tokens = pl.coalesce(
        pl.when(~unicode_words).then(lower_description).str.extract_all(_BIO_LINK_ASCII_BOUNDARY),
        pl.when(unicode_words).then(lower_description).str.extract_all(BIO_LINK),
    )
    suffix = pl.element().str.extract(r"\.([a-z]+)(?:/|$)", 1)
    return tokens.list.eval(
        pl.element().filter(
            ~pl.element().str.contains("@", literal=True)
            & ~suffix.is_in(NOT_DOMAIN_SUFFIXES).fill_null(False)
        )
    )


def is_short_link(link: pl.Expr) -> pl.Expr:
    """``link`` is plainly a ``t.co`` wrapper (``https://t.co/…``): a literal test that spares the
    host parsing of most profile links. Other spellings are caught by the host test."""
    return pl.any_horizontal(link.str.starts_with(prefix) for prefix in _SHORT_LINK_PREFIXES)


def host_of(link: pl.Expr) -> pl.Expr:
    """The lower-case host of a link (``https://user@News.Example.com.:8080/x`` →
    ``news.example.com``): leading spaces, the scheme (``https://``) and user info (``user@``)
    dropped, then everything from the first ``/ ? # :`` or space; trailing dots dropped; an empty
    string when nothing is left. (Plain replacements: a capture-group extraction is slower,
    docs/performance.md.)
    """
    rest = (
        link.str.strip_chars_start()
        .str.replace(r"^[A-Za-z][A-Za-z0-9+.\-]*://", "")
        .str.replace(r"^[^/?#@\s]*@", "")
    )
    return rest.str.replace(r"(?s)[/?#:\s].*$", "").str.to_lowercase().str.strip_chars_end(".")


def any_pattern(text: pl.Expr, patterns: list[str]) -> pl.Expr:
    """``text`` matches one of ``patterns`` (case-insensitive): one combined alternation, or a
    test per pattern when the combination does not compile (two patterns naming a group alike)."""
    if not patterns:
        return pl.lit(False)
    combined = "(?i)" + "|".join(f"(?:{pattern})" for pattern in patterns)
    if not _compiles(combined):
        return pl.any_horizontal(text.str.contains(f"(?i){pattern}") for pattern in patterns)
    return text.str.contains(combined)


def any_element(values: pl.Expr, predicate: pl.Expr) -> pl.Expr:
    """True when ``predicate`` (over ``pl.element()``) holds for some element of ``values``."""
    return values.list.eval(predicate.fill_null(False)).list.any()
