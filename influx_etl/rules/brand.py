"""Brand stage: flags organisation, brand, media and official accounts (``brand_heuristics.yml``).

Semantics of this first version (each key is refined by a later issue):

- ``name_keywords``: lower-case keyword, word-boundary match on ``name``, on ``username`` and on
  the words a username runs together (``GitHubSupport`` → ``git hub support``, ``nvidia_ai`` →
  ``nvidia ai``). So ``shop`` does not hit "Shopify", ``inc`` does not hit "Incredible". Boundaries
  are left out on edges that are not letters/digits and around CJK keywords (see ``_text``).
  Context guards (:data:`NAME_KEYWORD_GUARDS`) drop a keyword's match where the original file warns
  of a false positive that a word boundary cannot avoid:

  * ``team`` is ignored when the name or bio reads like a player's (player, esports, gamer,
    streamer, coach...): "Team Liquid player" is a person, "Official Team account" is not.
  * ``inc`` is ignored on ``verified_type == "blue"`` (a personal subscription): "John Doe Inc" as
    a nickname. The original says "use context/verified status to override".
- ``bio_keywords``: case-insensitive substring match on ``description``.
- ``domain_patterns``: each regex (case-insensitive, unanchored unless it anchors itself) is tried
  on the host of ``url`` and of every expanded link in ``urls``; ``t.co`` hosts are skipped (the
  API's wrapper hides the target). A host equal to one of the pattern's ``exceptions`` or a
  subdomain of one (``www.github.org``) does not match that pattern.
- ``verification_rules.flag_org_verification``: ``verified_type`` business or government matches
  ``verification:<type>``.
- ``org_handles_blacklist``: exact, case-insensitive ``username`` match; always flags.
- ``exceptions``: exact, case-insensitive ``username`` match; never flagged, whatever else matches
  (blacklist included): empty matches, confidence 0, ``is_org``/``is_official`` false.
- ``brand_confidence``: the sum of ``confidence_weights`` over the *kinds* that matched (name
  keyword, bio keyword, domain, organisation verification), each kind counted once, rounded to 9
  decimals so that 0.3 + 0.6 reaches 0.9. A name keyword alone (0.6) stays below 0.7 on purpose.
- ``is_org``: flagged = not an exception and (blacklisted or confidence >= ``flag_threshold``).
  This is the brand flag that :func:`~influx_etl.rules.decision.decided` filters on.
- ``is_official``: ``is_org`` and an *official* signal: a name keyword from ``official_indicators``
  or ``chinese_official``, a bio keyword from ``organizational``, or government verification.
  It is a subset of ``is_org``, for reporting.
- ``ratio_heuristics`` are loaded but not applied (optional, low weight in the original).
- Rows whose ``outcome`` is not ``found`` get nulls in every added column: not evaluated.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from influx_etl.rules._text import (
    EMPTY_LIST,
    any_element,
    keyword_matches,
    keyword_regex,
    link_hosts,
    name_haystack,
    unique_in_order,
)
from influx_etl.rules.models import BrandRules

__all__ = [
    "BRAND_COLUMNS",
    "NAME_KEYWORD_GUARDS",
    "OFFICIAL_BIO_CATEGORIES",
    "OFFICIAL_NAME_CATEGORIES",
    "brand_flagged",
]

BRAND_COLUMNS = pl.Schema(
    {
        "brand_matches": pl.List(pl.String()),
        "brand_confidence": pl.Float64(),
        "is_org": pl.Boolean(),
        "is_official": pl.Boolean(),
        "brand_exception": pl.Boolean(),
    }
)
"""Columns :func:`brand_flagged` adds."""

OFFICIAL_NAME_CATEGORIES = frozenset({"official_indicators", "chinese_official"})
OFFICIAL_BIO_CATEGORIES = frozenset({"organizational"})
ORG_VERIFIED_TYPES = ("business", "government")

_PLAYER_CONTEXT = (
    r"(?i)\b(?:players?|pro gamer|gamers?|gaming|e-?sports?|streamer|streaming|caster|coach"
    r"|plays for|playing for)\b"
)
_verified_type = pl.col("verified_type").str.to_lowercase()

NAME_KEYWORD_GUARDS: Mapping[str, pl.Expr] = {
    "team": pl.concat_str(
        [pl.col("name"), pl.col("description")], separator="\n", ignore_nulls=True
    ).str.contains(_PLAYER_CONTEXT),
    "inc": (_verified_type == "blue"),
}
"""Name keyword → condition under which a match of that keyword is ignored."""

_FOUND = pl.col("outcome") == "found"
_T = "__brand_"  # prefix of the stage's working columns


@dataclass(frozen=True)
class _CompiledBrand:
    inputs: dict[str, pl.Expr]
    matches: dict[str, pl.Expr]
    results: dict[str, pl.Expr]


@functools.lru_cache(maxsize=16)
def _compiled(rules: BrandRules) -> _CompiledBrand:
    weights = rules.confidence_weights
    haystack = pl.col(f"{_T}haystack")

    named_name_keywords = [
        (f"name_kw:{category.name}:{keyword.lower()}", keyword.lower())
        for category in rules.name_keywords
        for keyword in category.keywords
    ]
    # A guarded keyword gets its own test, so that its guard can veto it without another pass
    # over the list of every match.
    guarded = {keyword for _, keyword in named_name_keywords if keyword in NAME_KEYWORD_GUARDS}
    name_parts = [
        keyword_matches(
            haystack,
            [(name, keyword) for name, keyword in named_name_keywords if keyword not in guarded],
            word_boundaries=True,
        )
    ]
    for keyword in sorted(guarded):
        hit = haystack.str.contains(keyword_regex(keyword, word_boundaries=True)) & ~(
            NAME_KEYWORD_GUARDS[keyword].fill_null(False)
        )
        name_parts.extend(
            pl.when(hit).then(pl.lit(name)) for name, word in named_name_keywords if word == keyword
        )
    name_matches = unique_in_order(
        pl.concat_list(name_parts) if len(name_parts) > 1 else name_parts[0]
    )

    bio_matches = unique_in_order(
        keyword_matches(
            pl.col("description").str.to_lowercase(),
            [
                (f"bio_kw:{category.name}:{keyword.lower()}", keyword)
                for category in rules.bio_keywords
                for keyword in category.keywords
            ],
            word_boundaries=False,
        )
    )

    hosts = pl.col(f"{_T}hosts")
    domain_hits = [
        pl.when(any_element(hosts, _host_matches(pattern.pattern, pattern.exceptions))).then(
            pl.lit(f"domain:{pattern.reason}")
        )
        for pattern in rules.domain_patterns
    ]
    domain_matches = unique_in_order(pl.concat_list(domain_hits)) if domain_hits else EMPTY_LIST

    verification = (
        pl.when(_verified_type.is_in(ORG_VERIFIED_TYPES)).then(
            pl.lit("verification:") + _verified_type
        )
        if rules.verification_rules.flag_org_verification
        else pl.lit(None, dtype=pl.String)
    )
    username = pl.col("username").str.to_lowercase()
    blacklist = [handle.lower() for handle in rules.org_handles_blacklist]
    exceptions = [handle.lower() for handle in rules.exceptions]

    name_col, bio_col, domain_col = pl.col(f"{_T}name"), pl.col(f"{_T}bio"), pl.col(f"{_T}domain")
    verification_col, blacklisted = pl.col(f"{_T}verification"), pl.col(f"{_T}blacklisted")
    exception = pl.col(f"{_T}exception")

    confidence = (
        pl.when(name_col.list.len() > 0).then(weights.name_keyword_match).otherwise(0.0)
        + pl.when(bio_col.list.len() > 0).then(weights.bio_keyword_match).otherwise(0.0)
        + pl.when(domain_col.list.len() > 0).then(weights.domain_match).otherwise(0.0)
        + pl.when(verification_col.is_not_null()).then(weights.org_verification).otherwise(0.0)
    ).round(9)
    flagged = ~exception & (blacklisted | (confidence >= weights.flag_threshold))
    official_signal = (
        _any_prefixed(name_col, [f"name_kw:{name}:" for name in OFFICIAL_NAME_CATEGORIES])
        | _any_prefixed(bio_col, [f"bio_kw:{name}:" for name in OFFICIAL_BIO_CATEGORIES])
        | (verification_col == "verification:government").fill_null(False)
    )
    all_matches = pl.concat_list(
        name_col,
        bio_col,
        domain_col,
        verification_col,
        pl.when(blacklisted).then(pl.lit("blacklist:") + username),
    ).list.eval(pl.element().drop_nulls())

    return _CompiledBrand(
        inputs={
            f"{_T}hosts": link_hosts(pl.col("url"), pl.col("urls")),
            f"{_T}haystack": name_haystack(pl.col("name"), pl.col("username")),
        },
        matches={
            f"{_T}name": name_matches,
            f"{_T}bio": bio_matches,
            f"{_T}domain": domain_matches,
            f"{_T}verification": verification,
            f"{_T}blacklisted": username.is_in(blacklist).fill_null(False),
            f"{_T}exception": username.is_in(exceptions).fill_null(False),
        },
        results={
            "brand_matches": pl.when(_FOUND).then(
                pl.when(exception).then(EMPTY_LIST).otherwise(all_matches)
            ),
            "brand_confidence": pl.when(_FOUND).then(
                pl.when(exception).then(0.0).otherwise(confidence)
            ),
            "is_org": pl.when(_FOUND).then(flagged),
            "is_official": pl.when(_FOUND).then(flagged & official_signal),
            "brand_exception": pl.when(_FOUND).then(exception),
        },
    )


def _host_matches(pattern: str, exceptions: tuple[str, ...]) -> pl.Expr:
    host = pl.element()
    matched = host.str.contains(f"(?i){pattern}")
    if not exceptions:
        return matched
    excepted = host.is_in(list(exceptions)) | pl.any_horizontal(
        [host.str.ends_with(f".{exception}") for exception in exceptions]
    )
    return matched & ~excepted


def _any_prefixed(names: pl.Expr, prefixes: list[str]) -> pl.Expr:
    return any_element(
        names, pl.any_horizontal([pl.element().str.starts_with(prefix) for prefix in prefixes])
    )


def brand_flagged(profiles: pl.DataFrame, rules: BrandRules) -> pl.DataFrame:
    """``profiles`` (``PROFILES_SCHEMA``) with :data:`BRAND_COLUMNS` added.

    The rules compile into expressions once per rules object (cached), then run over the whole
    frame; see the module docstring for what each rule key means.
    """
    compiled = _compiled(rules)
    return (
        profiles.lazy()
        .with_columns(**compiled.inputs)
        .with_columns(**compiled.matches)
        .with_columns(**compiled.results)
        .drop([*compiled.inputs, *compiled.matches])
        .collect()
    )
