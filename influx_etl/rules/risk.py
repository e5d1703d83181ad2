"""Risk stage: flags NSFW, political, spam, scam... accounts (``risk_terms.yml``).

Every top-level mapping of the file except ``processing_rules`` is a category; a category matches
when any of its rules matches, and then reports its ``flag_name``. Rule names in ``risk_matches``
are ``risk:<category>:<kind>:<rule>``. Semantics of this first version:

- ``bio_keywords`` (kind ``bio``): case-insensitive substring match on ``description``.
- ``name_keywords`` (kind ``name``): word-boundary match on ``name``, ``username`` and the words of
  the username, exactly like the brand stage's name keywords (no context guards).
- ``name_patterns`` (kind ``name_pattern``): case-insensitive regex tried on ``name`` and on
  ``username`` separately (so ``$`` is the end of either).
- ``emoji_patterns`` (kind ``emoji``): regex tried on ``name`` and ``description`` (joined by a
  newline, so a run of emoji never spans both).
- ``domain_patterns`` (kind ``domain``): case-insensitive regex tried on each whole link (``url``
  and every expanded link in ``urls``), not only on the host: the original's ``.*bit\\.ly/.*``
  needs the path's slash.
- ``excessive_hashtags: N`` (kind ``hashtags``): the ``name`` holds N or more hashtags (``#``
  followed by a letter, digit or underscore).
- ``severity`` and ``note`` are carried on :class:`~influx_etl.rules.models.RiskCategory` only.
- ``risk_matches``: in the order bio keywords, name keywords, then each category's patterns in
  file order; keywords in the order they occur in the text; no repeats.
- ``risk_flags``: the matched categories' flag names, unique and sorted.
- ``risk_excluded``: a matched category has ``auto_exclude: true``, or ``risk_flags`` holds at
  least ``processing_rules.multi_flag_threshold`` flags.
- ``processing_rules.verified_legacy_override`` and ``log_flagged`` are loaded, not applied.

Two more columns let :func:`~influx_etl.rules.decision.decided` recompute the exclusion when some
flags are allowed, without the rules: ``risk_excluding_flags`` (flags of matched auto-excluding
categories) and ``risk_multi_flag_threshold`` (the file's threshold, null when it has none).
Rows whose ``outcome`` is not ``found`` get nulls in every added column: not evaluated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import polars as pl

from influx_etl.rules._text import (
    EMPTY_LIST,
    any_element,
    keyword_matches,
    link_urls,
    name_haystack,
    unique_in_order,
)
from influx_etl.rules.models import RiskCategory, RiskRules

__all__ = ["HASHTAG", "RISK_COLUMNS", "risk_flagged"]

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

_FOUND = pl.col("outcome") == "found"
_T = "__risk_"


@dataclass(frozen=True)
class _CompiledRisk:
    inputs: dict[str, pl.Expr]
    matches: dict[str, pl.Expr]
    flags: dict[str, pl.Expr]
    results: dict[str, pl.Expr]


def _pattern_hits(category: RiskCategory, urls: pl.Expr) -> list[pl.Expr]:
    """One ``String`` expression per pattern rule: its name where it matched, else null."""
    prefix = f"risk:{category.key}"
    name, username = pl.col("name"), pl.col("username")
    name_and_bio = pl.concat_str([name, pl.col("description")], separator="\n", ignore_nulls=True)
    hits: list[pl.Expr] = []
    for pattern in category.name_patterns:
        regex = f"(?i){pattern}"
        matched = name.str.contains(regex).fill_null(False) | username.str.contains(
            regex
        ).fill_null(False)
        hits.append(pl.when(matched).then(pl.lit(f"{prefix}:name_pattern:{pattern}")))
    for pattern in category.emoji_patterns:
        matched = name_and_bio.str.contains(f"(?i){pattern}").fill_null(False)
        hits.append(pl.when(matched).then(pl.lit(f"{prefix}:emoji:{pattern}")))
    for pattern in category.domain_patterns:
        matched = any_element(urls, pl.element().str.contains(f"(?i){pattern}"))
        hits.append(pl.when(matched).then(pl.lit(f"{prefix}:domain:{pattern}")))
    if category.excessive_hashtags is not None:
        limit = category.excessive_hashtags
        matched = (name.str.count_matches(HASHTAG) >= limit).fill_null(False)
        hits.append(pl.when(matched).then(pl.lit(f"{prefix}:hashtags:{limit}")))
    return hits


def _flags_of(categories: list[RiskCategory], matches: pl.Expr) -> pl.Expr:
    """Unique, sorted flag names of the ``categories`` that have a name in ``matches``."""
    if not categories:
        return EMPTY_LIST
    # listed in flag order, so that dropping repeats leaves them sorted (list.sort is slow)
    ordered = sorted(categories, key=lambda category: category.flag_name)
    return unique_in_order(
        pl.concat_list(
            [
                pl.when(
                    any_element(matches, pl.element().str.starts_with(f"risk:{category.key}:"))
                ).then(pl.lit(category.flag_name))
                for category in ordered
            ]
        )
    )


@functools.lru_cache(maxsize=16)
def _compiled(rules: RiskRules) -> _CompiledRisk:
    categories = list(rules.categories)
    keyword_hits = pl.concat_list(
        keyword_matches(
            pl.col("description").str.to_lowercase(),
            [
                (f"risk:{category.key}:bio:{keyword.lower()}", keyword)
                for category in categories
                for keyword in category.bio_keywords
            ],
            word_boundaries=False,
        ),
        keyword_matches(
            name_haystack(pl.col("name"), pl.col("username")),
            [
                (f"risk:{category.key}:name:{keyword.lower()}", keyword)
                for category in categories
                for keyword in category.name_keywords
            ],
            word_boundaries=True,
        ),
    )
    urls = pl.col(f"{_T}urls")
    pattern_hits = [hit for category in categories for hit in _pattern_hits(category, urls)]
    all_hits = unique_in_order(
        pl.concat_list(keyword_hits, *pattern_hits) if pattern_hits else keyword_hits
    )

    matches = pl.col(f"{_T}matches")
    flags, excluding = pl.col(f"{_T}flags"), pl.col(f"{_T}excluding")
    threshold = rules.processing_rules.multi_flag_threshold
    excluded = excluding.list.len() > 0
    if threshold is not None:
        excluded = excluded | (flags.list.len() >= threshold)

    return _CompiledRisk(
        inputs={f"{_T}urls": link_urls(pl.col("url"), pl.col("urls"))},
        matches={f"{_T}matches": all_hits},
        flags={
            f"{_T}flags": _flags_of(categories, matches),
            f"{_T}excluding": _flags_of(
                [category for category in categories if category.auto_exclude], matches
            ),
        },
        results={
            "risk_matches": pl.when(_FOUND).then(matches),
            "risk_flags": pl.when(_FOUND).then(flags),
            "risk_excluded": pl.when(_FOUND).then(excluded),
            "risk_excluding_flags": pl.when(_FOUND).then(excluding),
            "risk_multi_flag_threshold": pl.when(_FOUND).then(pl.lit(threshold, dtype=pl.Int64)),
        },
    )


def risk_flagged(profiles: pl.DataFrame, rules: RiskRules) -> pl.DataFrame:
    """``profiles`` (``PROFILES_SCHEMA``) with :data:`RISK_COLUMNS` added.

    The rules compile into expressions once per rules object (cached), then run over the whole
    frame; see the module docstring for what each rule key means.
    """
    compiled = _compiled(rules)
    return (
        profiles.lazy()
        .with_columns(**compiled.inputs)
        .with_columns(**compiled.matches)
        .with_columns(**compiled.flags)
        .with_columns(**compiled.results)
        .drop([*compiled.inputs, *compiled.matches, *compiled.flags])
        .collect()
    )
