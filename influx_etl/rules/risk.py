"""Risk stage: flags NSFW, political, spam, scam... accounts (``risk_terms.yml``).

Every top-level mapping of the file except ``processing_rules`` is a category (``nsfw``,
``spam``, or any a curator adds); a category matches when any of its rules matches, and then
reports its ``flag_name``. Rule names in ``risk_matches`` are ``risk:<category>:<kind>:<rule>``:

- ``bio_keywords`` (kind ``bio``): case-insensitive substring match on ``description``;
  overlapping keywords are all found (``dm for money`` hits ``dm for`` and ``dm for money``).
- ``name_keywords`` (kind ``name``): word-boundary match on ``name``, ``username`` and the words
  of the username, exactly like the brand stage's name keywords (no context guards).
- ``name_patterns`` (kind ``name_pattern``): case-insensitive regex tried on ``name`` and on
  ``username`` separately (so ``$`` is the end of either).
- ``emoji_patterns`` (kind ``emoji``): case-insensitive regex tried on ``name`` and on
  ``description`` separately (a run of emoji never spans both).
- ``domain_patterns`` (kind ``domain``): case-insensitive regex tried on each whole link, not only
  on the host (the original's ``.*bit\\.ly/.*`` needs the path's slash): ``url``, the expanded
  links of ``entities`` (``urls``) and the links written in the bio (``bit.ly/x`` included; see
  ``_text.bio_links``).
- ``excessive_hashtags: N`` (kind ``hashtags``): the ``name`` holds N or more hashtags (``#``
  followed by a letter, digit or underscore).
- ``org_handle_words`` (kind ``handle_mismatch``, ``risk:<category>:handle_mismatch:<word>``):
  one of the words of the username (``team_dignitas`` → ``team dignitas``, word-boundary match)
  is one of these, and the display name shares no word with the handle: no run of three or more
  letters or digits of the lower-case name occurs in the lower-case username. A handle that reads
  as an organisation's under someone else's name: a squat, a parody, or a handle given up.
- ``flag_name``: what ``risk_flags`` reports; ``severity`` decides the override below; ``note``
  is documentation.
- ``auto_exclude: true``: a match of the category excludes the author.
- ``processing_rules.multi_flag_threshold: N``: N or more distinct flags exclude the author even
  when none of their categories auto-excludes.
- ``processing_rules.verified_legacy_override: true``: a *legacy-verified* author (the API's
  ``verified`` boolean true and no ``verified_type`` beyond ``none``: verified before paid
  verification) whose only flag comes from ``low``-severity categories is not excluded
  automatically but routed to manual review: ``review:verified_legacy_override`` is added to
  ``risk_matches`` (so the audit of flagged accounts lists it), ``risk_excluded`` is false and
  ``--allow-risk`` cannot change that. With the shipped files a single low flag never excludes
  anyway, so the override only marks the author for review.
- ``processing_rules.log_flagged``: the audit of flagged accounts is the caller's I/O (the
  ``flagged_accounts`` view of the dataset, ``influx-rules flagged``).

Outputs:

- ``risk_matches``: in the order bio keywords, name keywords, then each category's name patterns,
  emoji patterns and hashtag rule (categories in file order), then domain patterns, then handle
  mismatches, then the review marker; keywords in the order they occur in the text; no repeats.
- ``risk_flags``: the matched categories' flag names, unique and sorted.
- ``risk_excluded``: a matched category has ``auto_exclude: true``, or ``risk_flags`` holds at
  least ``multi_flag_threshold`` flags; never under the legacy override.
- ``risk_excluding_flags`` (flags of matched auto-excluding categories) and
  ``risk_multi_flag_threshold`` (the file's threshold, null when it has none or under the legacy
  override) let :func:`~influx_etl.rules.decision.decided` recompute the exclusion when some flags
  are allowed, without the rules.
- Rows whose ``outcome`` is not ``found`` get nulls in every added column: not evaluated.

It runs like the brand stage: a cheap pass over every row picks the rows each kind of rule can
match (literal scans, and one combined alternation per kind of pattern), the rest runs on those
rows only (see ``_stage``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import polars as pl

from influx_etl.rules._stage import (
    BIO_LINK_HIT,
    FOUND,
    LOWER_BIO,
    LOWER_NAME,
    LOWER_USERNAME,
    ROW,
    flat_links,
    link_matches,
    part,
    run,
)
from influx_etl.rules._text import (
    EMPTY_LIST,
    any_pattern,
    keyword_alternation,
    keyword_matches,
    may_name,
    name_haystack,
    name_prefilter_literals,
    username_words,
)
from influx_etl.rules.models import RiskRules, Severity

__all__ = ["HASHTAG", "LEGACY_OVERRIDE_MATCH", "RISK_COLUMNS", "is_legacy_verified", "risk_flagged"]

RISK_COLUMNS = pl.Schema(
    {
        "risk_matches": pl.List(pl.String()),
        "risk_flags": pl.List(pl.String()),
        "risk_excluded": pl.Boolean(),
        "risk_excluding_flags": pl.List(pl.String()),
        "risk_multi_flag_threshold": pl.Int64(),
    }
)
"""Columns :func:`risk_flagged` adds."""

HASHTAG = r"#\w"
LEGACY_OVERRIDE_MATCH = "review:verified_legacy_override"
"""Added to ``risk_matches`` when ``verified_legacy_override`` keeps an author for review."""

_T = "__risk_"
_INPUTS = ("outcome", "username", "name", "description", "url", "urls", "verified", "verified_type")
_BIO_HIT, _NAME_HIT = f"{_T}bio_hit", f"{_T}name_hit"
_PATTERN_HIT, _LINK_HIT = f"{_T}pattern_hit", f"{_T}link_hit"
_SQUAT_HIT, _SHARED_WORD, _TOKEN = f"{_T}squat_hit", f"{_T}shared_word", f"{_T}token"
NAME_WORD = r"[\p{L}\p{N}]{3,}"
"""A word of the display name, for the handle mismatch rule: three or more letters or digits."""
_MATCHES, _MATCH = f"{_T}matches", f"{_T}match"
_MAX_FLAG_TABLE_BITS = 12


def is_legacy_verified() -> pl.Expr:
    """The legacy ``verified`` boolean is true and ``verified_type`` says nothing more (null or
    ``none``): verified before paid verification (the record's ``verified: legacy``)."""
    verified_type = pl.col("verified_type").str.to_lowercase()
    return pl.col("verified").fill_null(False) & (
        verified_type.is_null() | (verified_type == "none")
    )


@dataclass(frozen=True)
class _CompiledRisk:
    """The risk rules as a stage (see ``_stage.Stage``)."""

    cheap: dict[str, pl.Expr]
    bio: pl.Expr
    name: pl.Expr
    patterns: pl.Expr
    domain_tests: tuple[tuple[str, pl.Expr], ...]
    flag_tests: dict[str, pl.Expr]
    mismatches: pl.Expr | None
    """The handle mismatch rules' names (a list), on rows whose name shares no word with the
    handle; None when no category has ``org_handle_words``."""
    results: dict[str, pl.Expr]
    defaults: dict[str, pl.Expr]
    inputs: tuple[str, ...] = _INPUTS

    def parts(self, rows: pl.DataFrame) -> list[pl.LazyFrame]:
        """Each part as a long frame: one row (``ROW``, ``_MATCH``) per matched rule."""
        parts = [
            part(rows, FOUND & pl.col(_BIO_HIT), _MATCH, self.bio),
            part(rows, FOUND & pl.col(_NAME_HIT), _MATCH, self.name),
            part(rows, FOUND & pl.col(_PATTERN_HIT), _MATCH, self.patterns),
        ]
        if self.domain_tests:
            links = flat_links(
                rows,
                FOUND & pl.col(_LINK_HIT),
                pl.col("url"),
                pl.col("urls"),
            )
            parts.append(link_matches(links, self.domain_tests, _MATCH))
        if self.mismatches is not None:
            parts.append(self._mismatched(rows))
        return [frame.explode(_MATCH).drop_nulls(_MATCH) for frame in parts]

    def _mismatched(self, rows: pl.DataFrame) -> pl.LazyFrame:
        """The handle mismatch part: rows whose handle holds an organisation word and whose
        display name shares no word with the handle (one row per name word, then folded)."""
        assert self.mismatches is not None
        picked = rows.lazy().filter(FOUND & pl.col(_SQUAT_HIT))
        tokens = picked.select(
            ROW, LOWER_USERNAME, pl.col(LOWER_NAME).str.extract_all(NAME_WORD).alias(_TOKEN)
        ).explode(_TOKEN)
        shared = tokens.group_by(ROW).agg(
            pl.col(LOWER_USERNAME)
            .str.contains(pl.col(_TOKEN), literal=True)
            .fill_null(False)
            .any()
            .alias(_SHARED_WORD)
        )
        unshared = picked.join(shared, on=ROW, how="left").filter(
            ~pl.col(_SHARED_WORD).fill_null(False)
        )
        return unshared.select(ROW, self.mismatches.alias(_MATCH)).filter(
            pl.col(_MATCH).list.len() > 0
        )

    def detailed(self, rows: pl.DataFrame, parts: list[pl.DataFrame]) -> pl.LazyFrame:
        # one group per matched row: the rules in part order (bio, name, patterns, domain), no
        # repeats, and per flag whether it matched, tested once on the flat column
        grouped = (
            pl.concat(parts)
            .lazy()
            .with_columns(**self.flag_tests)
            .group_by(ROW)
            .agg(
                pl.col(_MATCH).unique(maintain_order=True).alias(_MATCHES),
                *(pl.col(name).any() for name in self.flag_tests),
            )
            .collect()
        )
        # row numbers are positions in ``rows``: a gather, not a join
        carried = rows.select("verified", "verified_type")[grouped[ROW]]
        return grouped.hstack(carried.get_columns()).lazy().select(ROW, **self.results)


@functools.lru_cache(maxsize=16)
def _compiled(rules: RiskRules) -> _CompiledRisk:
    categories = list(rules.categories)
    name, username, description = pl.col("name"), pl.col("username"), pl.col("description")
    lower_bio = pl.col(LOWER_BIO)
    named_bio_keywords = [
        (f"risk:{category.key}:bio:{keyword.lower()}", keyword)
        for category in categories
        for keyword in category.bio_keywords
    ]
    named_name_keywords = [
        (f"risk:{category.key}:name:{keyword.lower()}", keyword)
        for category in categories
        for keyword in category.name_keywords
    ]
    name_patterns = [pattern for category in categories for pattern in category.name_patterns]
    emoji_patterns = [pattern for category in categories for pattern in category.emoji_patterns]
    counts_hashtags = any(category.excessive_hashtags is not None for category in categories)
    squatted = [category for category in categories if category.org_handle_words]
    handle_words = username_words(username).str.to_lowercase()

    # -- every row
    bio_literals = sorted({keyword.lower() for _, keyword in named_bio_keywords})
    cheap = {
        _BIO_HIT: (
            lower_bio.str.contains_any(bio_literals).fill_null(False)
            if bio_literals
            else pl.lit(False)
        ),
        _NAME_HIT: may_name(
            pl.col(LOWER_NAME),
            pl.col(LOWER_USERNAME),
            name_prefilter_literals(keyword for _, keyword in named_name_keywords),
        ),
        # the name is scanned once for its three kinds of patterns (a "#" stands for the hashtag
        # count): cheaper than three scans (docs/performance.md)
        _PATTERN_HIT: (
            any_pattern(
                name, [*name_patterns, *emoji_patterns, *(["#"] if counts_hashtags else [])]
            ).fill_null(False)
            | any_pattern(username, name_patterns).fill_null(False)
            | any_pattern(description, emoji_patterns).fill_null(False)
        ),
        _LINK_HIT: (
            pl.col("url").is_not_null()
            | (pl.col("urls").list.len() > 0).fill_null(False)
            | pl.col(BIO_LINK_HIT)
            if any(category.domain_patterns for category in categories)
            else pl.lit(False)
        ),
        _SQUAT_HIT: (
            pl.col(LOWER_USERNAME)
            .str.contains_any(sorted({w for c in squatted for w in c.org_handle_words}))
            .fill_null(False)
            if squatted
            else pl.lit(False)
        ),
    }
    # -- the parts
    bio = keyword_matches(lower_bio, named_bio_keywords, word_boundaries=False)
    name_matches = keyword_matches(
        name_haystack(name, username), named_name_keywords, word_boundaries=True
    )
    pattern_hits: list[pl.Expr] = []
    for category in categories:
        prefix = f"risk:{category.key}"
        for pattern in category.name_patterns:
            regex = f"(?i){pattern}"
            matched = name.str.contains(regex).fill_null(False) | username.str.contains(
                regex
            ).fill_null(False)
            pattern_hits.append(pl.when(matched).then(pl.lit(f"{prefix}:name_pattern:{pattern}")))
        for pattern in category.emoji_patterns:
            regex = f"(?i){pattern}"
            matched = name.str.contains(regex).fill_null(False) | description.str.contains(
                regex
            ).fill_null(False)
            pattern_hits.append(pl.when(matched).then(pl.lit(f"{prefix}:emoji:{pattern}")))
        if category.excessive_hashtags is not None:
            limit = category.excessive_hashtags
            matched = (name.str.count_matches(HASHTAG) >= limit).fill_null(False)
            pattern_hits.append(pl.when(matched).then(pl.lit(f"{prefix}:hashtags:{limit}")))
    patterns = pl.concat_list(pattern_hits).list.drop_nulls() if pattern_hits else EMPTY_LIST
    mismatches = (
        pl.concat_list(
            pl.lit(f"risk:{category.key}:handle_mismatch:")
            + handle_words.str.extract(
                f"({keyword_alternation(category.org_handle_words, word_boundaries=True)})", 1
            )
            for category in squatted
        ).list.drop_nulls()
        if squatted
        else None
    )
    domain_tests = tuple(
        (
            f"risk:{category.key}:domain:{pattern}",
            pl.col("link").str.contains(f"(?i){pattern}"),
        )
        for category in categories
        for pattern in category.domain_patterns
    )

    # -- the candidates, with what the parts found. Every rule name is known here, so the flags
    # come from set tests on the list of names: one boolean per flag, no per-row sorting.
    names = {
        category.key: {
            *(f"risk:{category.key}:bio:{keyword.lower()}" for keyword in category.bio_keywords),
            *(f"risk:{category.key}:name:{keyword.lower()}" for keyword in category.name_keywords),
            *(f"risk:{category.key}:name_pattern:{pattern}" for pattern in category.name_patterns),
            *(f"risk:{category.key}:emoji:{pattern}" for pattern in category.emoji_patterns),
            *(f"risk:{category.key}:domain:{pattern}" for pattern in category.domain_patterns),
            *(f"risk:{category.key}:handle_mismatch:{word}" for word in category.org_handle_words),
            *(
                [f"risk:{category.key}:hashtags:{category.excessive_hashtags}"]
                if category.excessive_hashtags is not None
                else []
            ),
        }
        for category in categories
    }
    flag_names = sorted({category.flag_name for category in categories})
    matched_names = pl.col(_MATCHES)

    def any_of(keys: list[str]) -> pl.Expr:
        """One matched rule (a row of the long frame) is one of the categories ``keys``."""
        wanted = sorted({name for key in keys for name in names[key]})
        if not wanted:
            return pl.lit(False)
        return pl.col(_MATCH).is_in(wanted)

    flag_tests: dict[str, pl.Expr] = {}
    for index, flag in enumerate(flag_names):
        reporting = [c for c in categories if c.flag_name == flag]
        flag_tests[f"{_T}flag{index}"] = any_of([c.key for c in reporting])
        flag_tests[f"{_T}excluding{index}"] = any_of([c.key for c in reporting if c.auto_exclude])
    flag_tests[f"{_T}not_low"] = any_of(
        [category.key for category in categories if category.severity is not Severity.LOW]
    )

    def flag_list(kind: str) -> pl.Expr:
        """The sorted names of the flags whose ``kind`` column holds: the flags' bits make an
        index into the table of every subset (built once), much cheaper than building lists row
        by row; past :data:`_MAX_FLAG_TABLE_BITS` flags, lists are built row by row."""
        if not flag_names:
            return EMPTY_LIST
        if len(flag_names) > _MAX_FLAG_TABLE_BITS:
            return pl.concat_list(
                pl.when(pl.col(f"{_T}{kind}{index}")).then(pl.lit(flag))
                for index, flag in enumerate(flag_names)
            ).list.drop_nulls()
        subsets = pl.Series(
            [
                [flag for bit, flag in enumerate(flag_names) if mask >> bit & 1]
                for mask in range(1 << len(flag_names))
            ],
            dtype=pl.List(pl.String),
        )
        mask = pl.sum_horizontal(
            pl.col(f"{_T}{kind}{bit}").cast(pl.UInt32) * (1 << bit)
            for bit in range(len(flag_names))
        )
        return pl.lit(subsets).gather(mask)

    flags, excluding = flag_list("flag"), flag_list("excluding")
    flag_count = pl.sum_horizontal(
        pl.col(f"{_T}flag{index}").cast(pl.Int64) for index in range(len(flag_names))
    )
    any_excluding = pl.any_horizontal(
        pl.col(f"{_T}excluding{index}") for index in range(len(flag_names))
    )
    override = (
        (is_legacy_verified() & (flag_count == 1) & ~pl.col(f"{_T}not_low"))
        if rules.processing_rules.verified_legacy_override
        else pl.lit(False)
    )
    threshold = rules.processing_rules.multi_flag_threshold
    excluded = any_excluding if flag_names else pl.lit(False)
    if threshold is not None:
        excluded = excluded | (flag_count >= threshold)

    return _CompiledRisk(
        cheap=cheap,
        bio=bio,
        name=name_matches,
        patterns=patterns,
        domain_tests=domain_tests,
        flag_tests=flag_tests,
        mismatches=mismatches,
        results={
            "risk_matches": pl.when(override)
            .then(pl.concat_list(matched_names, pl.lit(LEGACY_OVERRIDE_MATCH)))
            .otherwise(matched_names),
            "risk_flags": flags,
            "risk_excluded": ~override & excluded,
            "risk_excluding_flags": pl.when(override).then(EMPTY_LIST).otherwise(excluding),
            "risk_multi_flag_threshold": pl.when(override)
            .then(pl.lit(None, dtype=pl.Int64))
            .otherwise(pl.lit(threshold, dtype=pl.Int64)),
        },
        defaults={
            "risk_matches": EMPTY_LIST,
            "risk_flags": EMPTY_LIST,
            "risk_excluded": pl.lit(False),
            "risk_excluding_flags": EMPTY_LIST,
            "risk_multi_flag_threshold": pl.lit(threshold, dtype=pl.Int64),
        },
    )


def risk_stage(rules: RiskRules) -> _CompiledRisk:
    """The rules compiled into expressions (once per rules object: cached)."""
    return _compiled(rules)


def risk_flagged(profiles: pl.DataFrame, rules: RiskRules) -> pl.DataFrame:
    """``profiles`` (``PROFILES_SCHEMA``) with :data:`RISK_COLUMNS` added.

    The rules compile into expressions once per rules object (cached), then run over the whole
    frame; see the module docstring for what each rule key means.
    """
    return run(profiles, [_compiled(rules)])
