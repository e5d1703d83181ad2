"""Brand stage: flags organisation, brand, media and official accounts (``brand_heuristics.yml``).

Every key of the file is applied; a matched rule is named after the key that matched it:

- ``name_keywords.<category>`` (``name_kw:<category>:<keyword>``): lower-case keyword, word-boundary
  match on ``name``, on ``username`` and on the words a username runs together
  (``GitHubSupport`` → ``git hub support``, ``nvidia_ai`` → ``nvidia ai``). So ``shop`` does not
  hit "Shopify", ``inc`` does not hit "Incredible". Boundaries are left out on edges that are not
  letters/digits and around CJK keywords (see ``_text``). Context guards
  (:data:`NAME_KEYWORD_GUARDS`) drop a keyword's match where the original file warns of a false
  positive that a word boundary cannot avoid:

  * ``team`` is ignored when the name or bio reads like a player's (player, esports, gamer,
    streamer, coach...): "Team Liquid player" is a person, "Official Team account" is not.
  * ``inc`` is ignored on ``verified_type == "blue"`` (a personal subscription): "John Doe Inc" as
    a nickname. The original says "use context/verified status to override".
- ``bio_keywords.<category>`` (``bio_kw:<category>:<keyword>``): case-insensitive substring match
  on ``description``; overlapping keywords are all found.
- ``domain_patterns`` (``domain:<reason>``): each regex (case-insensitive, unanchored unless it
  anchors itself) is tried on the host of every link of the profile: ``url``, the expanded links
  of its ``entities`` (``urls``) and the links written in its bio (``https://…`` and bare domains
  such as ``hey.com``, not e-mail addresses; see ``_text.bio_links``). ``t.co`` hosts are skipped
  (the API's wrapper hides the target). A host equal to one of the pattern's ``exceptions`` or a
  subdomain of one (``www.github.org``) does not match that pattern.
- ``verification_rules.flag_org_verification`` (``verification:<type>``): ``verified_type``
  business or government.
- ``ratio_heuristics`` (``ratio:<rule>``), the original's "optional, low weight" signals, worth
  :data:`RATIO_WEIGHT` together and never enough to flag on their own:

  * ``high_ratio_threshold: N`` (``ratio:high_ratio``): followers / following > N (no following
    at all counts as above any N when there are followers) *and* a bio keyword matched — the
    original's "followers/following > 100 AND bio matches corporate".
  * ``zero_following_flag: true`` (``ratio:zero_following``): following nobody.
- ``org_handles_blacklist`` (``blacklist:<handle>``): exact, case-insensitive ``username``
  match; always flags.
- ``exceptions``: exact, case-insensitive ``username`` match; never flagged, whatever else matches
  (blacklist included): empty matches, confidence 0, ``is_org``/``is_official`` false.
- ``profile_signals`` (``signal:<signal>:<what matched>``), each with its own ``weight``; a
  signal the file leaves out is not applied (the original project's file has none). *Primary*
  signals pick rows like the keywords do:

  * ``organisation_name.keywords``: word-boundary match on the name haystack (as name keywords):
    words a person's display name does not hold ("group", "clan", "laboratory").
  * ``software.keywords``, ``publication.keywords``: word-boundary match on the lower-case bio:
    a bio that describes software or a product ("open source", "sdk", "docs") or a publication
    or community ("newsletter", "magazine", "subscribe", "serving the").

  *Supporting* signals are weighed only on rows some other rule matched (so on their own they
  never flag, and the 1M-profile pass does not run them on every row):

  * ``plural_voice.keywords`` / ``singular_voice.keywords``: the voice of the bio is that of
    its first first-person word (word-boundary match, leftmost, the longest at one position; a
    word in both lists counts as plural): "we", "our", "join us" / "i", "my", "i write about";
    ``signal:plural_voice:<word>`` or ``signal:singular_voice:<word>``. Singular weighs negative.
  * ``person_name``: the display name (after a leading title such as "Dr.") starts with a first
    name of the lexicon (:mod:`~influx_etl.rules._names`, at least ``min_count`` babies) followed
    by a space, punctuation or the end, and no ``organisation_name`` keyword matched ("Stanford
    NLP Group" is not a person). Negative weight: ``signal:person_name:<first name>``.
  * ``own_account.phrases``: a phrase ("official account of") followed in the bio by a first name
    of the lexicon and another word: an individual's own account, "Official account of Jane
    Doe, founder of ...". Negative weight: ``signal:own_account:<phrase>``.
- ``confidence_weights``: ``brand_confidence`` is the sum of the weights of the *kinds* that
  matched (name keyword, bio keyword, domain, organisation verification, ratio, and each profile
  signal), each kind counted once, rounded to 9 decimals so that 0.3 + 0.6 reaches 0.9, and never
  below 0. A name keyword alone (0.6) stays below 0.7 on purpose.
- ``is_org``: flagged = not an exception and (blacklisted, or an organisation verification whose
  weight alone reaches ``flag_threshold``, or confidence >= ``flag_threshold`` with at least one
  match that is neither a ratio heuristic nor a supporting or negative signal). So a signal of an
  individual (person name, singular voice, own account) lowers the confidence of text matches but
  never keeps an account that the blacklist or business/government verification flags. This is
  the brand flag that :func:`~influx_etl.rules.decision.decided` filters on.
- ``is_official``: ``is_org`` and an *official* signal: a name keyword from ``official_indicators``
  or ``chinese_official``, a bio keyword from ``organizational``, or government verification.
  It is a subset of ``is_org``, for reporting.
- ``brand_matches`` lists the matched rules in the order name keywords, bio keywords, domains,
  verification, ratio, primary signals, supporting signals, blacklist; keywords in the order they
  occur in the text; no repeats.
- Rows whose ``outcome`` is not ``found`` get nulls in every added column: not evaluated.

How it runs (``_stage``): the rules compile once into expressions. A cheap pass over every row
(literal Aho-Corasick scans, a few comparisons) picks, for each kind of rule, a superset of the
rows it can match; the regex passes, link parsing and list work run on those rows only, and the
other found rows get the no-match values. On the synthetic population one row in twenty may match
a name keyword, one in twelve a bio keyword, one in three has a link to parse.
:func:`~influx_etl.rules.flagged.flagged` runs this stage and the risk stage in one pass.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from influx_etl.rules._names import first_names
from influx_etl.rules._stage import (
    BIO_LINK_HIT,
    FOUND,
    LOWER_BIO,
    LOWER_NAME,
    LOWER_USERNAME,
    ROW,
    flat_links,
    joined_lists,
    link_matches,
    matched,
    part,
    run,
)
from influx_etl.rules._text import (
    EMPTY_LIST,
    SHORT_LINK_HOSTS,
    any_element,
    any_pattern,
    first_word_found,
    host_of,
    is_short_link,
    keyword_alternation,
    keyword_matches,
    keyword_regex,
    may_name,
    name_haystack,
    name_prefilter_literals,
    unique_in_order,
)
from influx_etl.rules.models import BrandRules, KeywordSignal

__all__ = [
    "BRAND_COLUMNS",
    "NAME_KEYWORD_GUARDS",
    "OFFICIAL_BIO_CATEGORIES",
    "OFFICIAL_NAME_CATEGORIES",
    "RATIO_WEIGHT",
    "SUPPORTING_SIGNALS",
    "brand_flagged",
    "match_weight",
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

RATIO_WEIGHT = 0.3
"""Confidence the ratio heuristics add (once, whichever matched). The original calls them
"optional, low weight" and gives no weight in ``confidence_weights``; with a bio keyword (0.4)
they reach the original threshold of 0.7, as its "AND bio matches corporate, likely brand" asks."""

PRIMARY_NAME_SIGNALS = frozenset({"organisation_name"})
SUPPORTING_SIGNALS = frozenset({"plural_voice", "singular_voice", "person_name", "own_account"})
"""Profile signals weighed only on rows another rule matched (see the module docstring)."""
_TITLES = r"(?:dr|prof|mr|mrs|ms|sir|dame)\.?\s+"
FIRST_NAME = rf"^[^\p{{L}}]*(?:{_TITLES})?(\p{{L}}{{2,}})(?:[\s.,'’]|$)"
"""The first word of a lower-case display name, after a leading title (``dr. leah`` → ``leah``)."""

OFFICIAL_NAME_CATEGORIES = frozenset({"official_indicators", "chinese_official"})
OFFICIAL_BIO_CATEGORIES = frozenset({"organizational"})
ORG_VERIFIED_TYPES = ("business", "government")

_PLAYER_CONTEXT = (
    r"(?i)\b(?:players?|pro gamer|gamers?|gaming|e-?sports?|streamer|streaming|caster|coach"
    r"|plays for|playing for)\b"
)
_verified_type = pl.col("verified_type").str.to_lowercase()


def _is_type(kind: str) -> pl.Expr:
    """``verified_type`` is ``kind`` in any case: same length and an ASCII-case-insensitive match
    (exact for these ASCII words; cheaper than lower-casing every row)."""
    verified_type = pl.col("verified_type")
    return (
        (verified_type.str.len_bytes() == len(kind))
        & verified_type.str.contains_any([kind], ascii_case_insensitive=True)
    ).fill_null(False)


NAME_KEYWORD_GUARDS: Mapping[str, pl.Expr] = {
    "team": pl.concat_str(
        [pl.col("name"), pl.col("description")], separator="\n", ignore_nulls=True
    ).str.contains(_PLAYER_CONTEXT),
    "inc": (_verified_type == "blue"),
}
"""Name keyword → condition under which a match of that keyword is ignored."""

_T = "__brand_"  # prefix of the stage's working columns
_INPUTS = (
    "outcome",
    "username",
    "name",
    "description",
    "url",
    "urls",
    "verified_type",
    "followers_count",
    "following_count",
)
_NO_MATCH = {
    "brand_matches": EMPTY_LIST,
    "brand_confidence": pl.lit(0.0),
    "is_org": pl.lit(False),
    "is_official": pl.lit(False),
    "brand_exception": pl.lit(False),
}
"""What a found row that no rule can match gets."""


def match_weight(match: str, rules: BrandRules) -> float | None:
    """The confidence weight of a matched rule's kind (``name_kw:…`` → ``name_keyword_match``);
    None for ``blacklist:…``, which flags whatever the confidence."""
    weights = rules.confidence_weights
    kind = match.split(":", 1)[0]
    if kind == "signal":
        return rules.profile_signals.weight(match.split(":")[1])
    return {
        "name_kw": weights.name_keyword_match,
        "bio_kw": weights.bio_keyword_match,
        "domain": weights.domain_match,
        "verification": weights.org_verification,
        "ratio": RATIO_WEIGHT,
    }.get(kind)


_NAME_HIT, _BIO_HIT, _LINK_HIT = f"{_T}name_hit", f"{_T}bio_hit", f"{_T}link_hit"
_VERIFICATION, _BLACKLISTED = f"{_T}verification", f"{_T}blacklisted"
_EXCEPTION, _ZERO_FOLLOWING = f"{_T}exception", f"{_T}zero_following"
_NAME, _BIO, _DOMAIN = f"{_T}name", f"{_T}bio", f"{_T}domain"
_HAYSTACK = f"{_T}haystack"
_EXTRAS, _MATCHES = f"{_T}extras", f"{_T}matches"
_BIO_SIGNAL_HIT = f"{_T}bio_signal_hit"
_VOICE = f"{_T}voice"
_NAME_HAYSTACK = {_HAYSTACK: name_haystack(pl.col("name"), pl.col("username"))}
"""The name part's haystack, made once: its keyword scan and the two guarded keywords' tests
each rebuilt it (docs/performance.md)."""
_DETAIL_INPUTS = (
    _VERIFICATION,
    _BLACKLISTED,
    _EXCEPTION,
    _ZERO_FOLLOWING,
    LOWER_USERNAME,
    LOWER_NAME,
    LOWER_BIO,
    "followers_count",
    "following_count",
)
"""What the results read besides the parts' lists (the supporting signals read the texts)."""


def _signal_column(key: str) -> str:
    return f"{_T}signal_{key}"


@dataclass(frozen=True)
class _CompiledBrand:
    """The brand rules as a stage (see ``_stage.Stage``)."""

    cheap: dict[str, pl.Expr]
    """Columns computed for every row: the tests that pick the rows each part can match."""
    signal: pl.Expr
    """Found rows some rule matches without looking at text or links."""
    name: pl.Expr
    bio: pl.Expr
    domain_tests: tuple[tuple[str, pl.Expr], ...]
    domain_hit: pl.Expr
    """A host that some domain pattern may match (all of them in one alternation)."""
    extras: pl.Expr
    """The verification and ratio matches of a candidate, listed after its parts' matches."""
    signal_parts: tuple[tuple[str, pl.Expr, bool], ...]
    """Primary profile signals: (column, matches, reads the name haystack)."""
    voice: dict[str, pl.Expr]
    """The bio's first first-person word and its voice, read by the voice signals."""
    supporting: dict[str, pl.Expr]
    """Supporting profile signals: column → matches, computed on the candidates only."""
    results: dict[str, pl.Expr]
    inputs: tuple[str, ...] = _INPUTS
    defaults: dict[str, pl.Expr] = field(default_factory=lambda: dict(_NO_MATCH))

    def parts(self, rows: pl.DataFrame) -> list[pl.LazyFrame]:
        parts = [
            part(rows, FOUND & pl.col(_NAME_HIT), _NAME, self.name, made=_NAME_HAYSTACK),
            part(rows, FOUND & pl.col(_BIO_HIT), _BIO, self.bio),
            *(
                part(
                    rows,
                    FOUND & pl.col(f"{column}_hit" if on_name else _BIO_SIGNAL_HIT),
                    column,
                    matches,
                    made=_NAME_HAYSTACK if on_name else None,
                )
                for column, matches, on_name in self.signal_parts
            ),
        ]
        if self.domain_tests:
            links = flat_links(
                rows,
                FOUND & pl.col(_LINK_HIT),
                pl.col("url"),
                pl.col("urls"),
            )
            hosts = (
                links.filter(~is_short_link(pl.col("link")))
                .with_columns(host_of(pl.col("link")).alias("link"))
                .filter(~pl.col("link").is_in(["", *SHORT_LINK_HOSTS]).fill_null(True))
                # one scan for every pattern keeps the tests (one per pattern, with their
                # exceptions) to the few hosts it picks
                .filter(self.domain_hit.fill_null(False))
            )
            parts.append(link_matches(hosts, self.domain_tests, _DOMAIN))
        return parts

    def detailed(self, rows: pl.DataFrame, parts: list[pl.DataFrame]) -> pl.LazyFrame:
        signal_columns = [column for column, _, _ in self.signal_parts]
        columns = [_NAME, _BIO, *signal_columns, *([_DOMAIN] if self.domain_tests else [])]
        found = matched(rows, parts, columns, self.signal, _DETAIL_INPUTS)
        if not self.domain_tests:
            found = found.with_columns(EMPTY_LIST.alias(_DOMAIN))
        rows_found = (
            found.with_columns(self.extras.alias(_EXTRAS))
            .with_columns(**self.voice)
            .with_columns(**self.supporting)
            .collect()
        )
        matches = joined_lists(
            rows_found, [_NAME, _BIO, _DOMAIN, _EXTRAS, *signal_columns, *self.supporting]
        )
        return rows_found.with_columns(matches.alias(_MATCHES)).lazy().select(ROW, **self.results)


@functools.lru_cache(maxsize=16)
def _compiled(rules: BrandRules) -> _CompiledBrand:
    weights = rules.confidence_weights
    ratio = rules.ratio_heuristics
    username = pl.col(LOWER_USERNAME)
    lower_bio = pl.col(LOWER_BIO)
    named_name_keywords = [
        (f"name_kw:{category.name}:{keyword.lower()}", keyword.lower())
        for category in rules.name_keywords
        for keyword in category.keywords
    ]
    named_bio_keywords = [
        (f"bio_kw:{category.name}:{keyword.lower()}", keyword)
        for category in rules.bio_keywords
        for keyword in category.keywords
    ]

    # -- every row
    bio_literals = sorted({keyword.lower() for _, keyword in named_bio_keywords})
    cheap = {
        _NAME_HIT: may_name(
            pl.col(LOWER_NAME),
            username,
            name_prefilter_literals(keyword for _, keyword in named_name_keywords),
        ),
        _BIO_HIT: (
            lower_bio.str.contains_any(bio_literals).fill_null(False)
            if bio_literals
            else pl.lit(False)
        ),
        _LINK_HIT: (
            (pl.col("url").is_not_null() & ~is_short_link(pl.col("url"))).fill_null(False)
            | (pl.col("urls").list.len() > 0).fill_null(False)
            | pl.col(BIO_LINK_HIT)
            if rules.domain_patterns
            else pl.lit(False)
        ),
        # 0: none, 1 + the index in ORG_VERIFIED_TYPES: a number, not a string, on every row
        _VERIFICATION: (
            pl.sum_horizontal(
                _is_type(kind).cast(pl.UInt8) * (index + 1)
                for index, kind in enumerate(ORG_VERIFIED_TYPES)
            ).cast(pl.UInt8)
            if rules.verification_rules.flag_org_verification
            else pl.lit(0, dtype=pl.UInt8)
        ),
        _BLACKLISTED: username.is_in(
            [handle.lower() for handle in rules.org_handles_blacklist]
        ).fill_null(False),
        _EXCEPTION: username.is_in([handle.lower() for handle in rules.exceptions]).fill_null(
            False
        ),
        _ZERO_FOLLOWING: (
            (pl.col("following_count") == 0).fill_null(False)
            if ratio.zero_following_flag
            else pl.lit(False)
        ),
    }
    # found rows that match without any text or link (the parts add the others)
    signal = FOUND & (
        (pl.col(_VERIFICATION) > 0)
        | pl.col(_BLACKLISTED)
        | pl.col(_EXCEPTION)
        | pl.col(_ZERO_FOLLOWING)
    )

    # -- name keywords (rows whose name or username may hold one)
    haystack = pl.col(_HAYSTACK)  # made once per part (_NAME_HAYSTACK), read three times
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
    # -- bio keywords (rows whose bio holds one)
    bio_matches = unique_in_order(
        keyword_matches(lower_bio, named_bio_keywords, word_boundaries=False)
    )
    # -- domains (rows with a link), one test per pattern on each host (see brand_flagged)
    domain_tests = tuple(
        (
            f"domain:{pattern.reason}",
            _host_matches(pl.col("link"), pattern.pattern, pattern.exceptions),
        )
        for pattern in rules.domain_patterns
    )

    # -- profile signals: the primary ones are parts, the supporting ones run on the candidates
    signals = rules.profile_signals
    signal_parts: list[tuple[str, pl.Expr, bool]] = []
    supporting: dict[str, pl.Expr] = {}
    weighted: list[tuple[str, float, bool]] = []  # column, weight, counts as a primary match
    voices: list[tuple[str, KeywordSignal]] = []
    bio_signal_words: list[str] = []
    for key, kw_signal in signals.keyword_signals():
        column = _signal_column(key)
        on_name = key in PRIMARY_NAME_SIGNALS
        matches_of = _keyword_signal(key, kw_signal, pl.col(_HAYSTACK) if on_name else lower_bio)
        if key in SUPPORTING_SIGNALS:
            voices.append((key, kw_signal))
            supporting[column] = (
                pl.when(pl.col(_VOICE).struct[1] == key)
                .then(pl.concat_list(pl.lit(f"signal:{key}:") + pl.col(_VOICE).struct[0]))
                .otherwise(EMPTY_LIST)
            )
        else:
            if on_name:
                cheap[f"{column}_hit"] = may_name(
                    pl.col(LOWER_NAME), username, name_prefilter_literals(kw_signal.keywords)
                )
            else:
                bio_signal_words.extend(kw_signal.keywords)
            signal_parts.append((column, matches_of, on_name))
        weighted.append(
            (column, kw_signal.weight, key not in SUPPORTING_SIGNALS and kw_signal.weight > 0)
        )
    if bio_signal_words:
        # one literal scan of every bio for all the bio signals (each part then tests its own)
        cheap[_BIO_SIGNAL_HIT] = lower_bio.str.contains_any(
            sorted(set(bio_signal_words))
        ).fill_null(False)
    # the voice of the bio is that of its first first-person word: one scan for both voices
    # (listing every voice word of a bio cost more than all the other signals together)
    voice: dict[str, pl.Expr] = {}
    if voices:
        voice_of: dict[str, str] = {}
        for key, kw_signal in voices:
            for word in kw_signal.keywords:
                voice_of.setdefault(word, key)
        first = first_word_found(
            pl.col(LOWER_BIO), keyword_alternation(voice_of, word_boundaries=True)
        )
        voice[_VOICE] = pl.struct(
            first.alias("word"),
            first.replace_strict(voice_of, default=None, return_dtype=pl.String).alias("voice"),
        )
    if signals.person_name is not None:
        column = _signal_column("person_name")
        first = pl.col(LOWER_NAME).str.extract(FIRST_NAME, 1)
        person = first.is_in(list(first_names(signals.person_name.min_count))).fill_null(False)
        if signals.organisation_name is not None:
            person = person & (pl.col(_signal_column("organisation_name")).list.len() == 0)
        supporting[column] = (
            pl.when(person)
            .then(pl.concat_list(pl.lit("signal:person_name:") + first))
            .otherwise(EMPTY_LIST)
        )
        weighted.append((column, signals.person_name.weight, False))
    if signals.own_account is not None:
        column = _signal_column("own_account")
        phrases = "|".join(re.escape(phrase) for phrase in signals.own_account.phrases)
        owner = pl.col(LOWER_BIO).str.extract_groups(rf"({phrases})\s+(\p{{L}}{{2,}})\s+\p{{L}}")
        names = list(first_names(signals.person_name.min_count if signals.person_name else 1))
        own = owner.struct[1].is_in(names).fill_null(False)
        supporting[column] = (
            pl.when(own)
            .then(pl.concat_list(pl.lit("signal:own_account:") + owner.struct[0]))
            .otherwise(EMPTY_LIST)
        )
        weighted.append((column, signals.own_account.weight, False))

    # -- the candidates, with what the parts found
    name_col, bio_col, domain_col = pl.col(_NAME), pl.col(_BIO), pl.col(_DOMAIN)
    verification_col, blacklisted = pl.col(_VERIFICATION), pl.col(_BLACKLISTED)
    exception = pl.col(_EXCEPTION)
    followers, following = pl.col("followers_count"), pl.col("following_count")
    high_ratio = (
        (
            (bio_col.list.len() > 0)
            & (followers > 0)
            & (followers > following * ratio.high_ratio_threshold)
        ).fill_null(False)
        if ratio.high_ratio_threshold is not None
        else pl.lit(False)
    )
    has_ratio = high_ratio | pl.col(_ZERO_FOLLOWING)
    has_signal = pl.any_horizontal(
        (name_col.list.len() > 0),
        (bio_col.list.len() > 0),
        (domain_col.list.len() > 0),
        (verification_col > 0),
        *(pl.col(column).list.len() > 0 for column, _, primary in weighted if primary),
    )
    confidence = pl.sum_horizontal(
        pl.when(name_col.list.len() > 0).then(weights.name_keyword_match).otherwise(0.0),
        pl.when(bio_col.list.len() > 0).then(weights.bio_keyword_match).otherwise(0.0),
        pl.when(domain_col.list.len() > 0).then(weights.domain_match).otherwise(0.0),
        pl.when(verification_col > 0).then(weights.org_verification).otherwise(0.0),
        pl.when(has_ratio).then(RATIO_WEIGHT).otherwise(0.0),
        *(
            pl.when(pl.col(column).list.len() > 0).then(weight).otherwise(0.0)
            for column, weight, _ in weighted
        ),
    ).round(9)
    if weighted:
        confidence = pl.max_horizontal(confidence, pl.lit(0.0))
    verified_flags = (verification_col > 0) & pl.lit(
        weights.org_verification >= weights.flag_threshold
    )
    flagged = ~exception & (
        blacklisted | verified_flags | ((confidence >= weights.flag_threshold) & has_signal)
    )
    official_signal = (
        _any_prefixed(name_col, [f"name_kw:{name}:" for name in OFFICIAL_NAME_CATEGORIES])
        | _any_prefixed(bio_col, [f"bio_kw:{name}:" for name in OFFICIAL_BIO_CATEGORIES])
        | (verification_col == 1 + ORG_VERIFIED_TYPES.index("government"))
    )
    # verification and ratio matches come from a table of their 16 combinations, indexed by
    # their bits: far cheaper than building a list per row out of single values
    extras = [f"verification:{kind}" for kind in ORG_VERIFIED_TYPES]
    extras += ["ratio:high_ratio", "ratio:zero_following"]
    combinations = pl.Series(
        [[name for bit, name in enumerate(extras) if mask >> bit & 1] for mask in range(16)],
        dtype=pl.List(pl.String),
    )
    bits = [
        *(verification_col == index + 1 for index in range(len(ORG_VERIFIED_TYPES))),
        high_ratio,
        pl.col(_ZERO_FOLLOWING),
    ]
    mask = pl.sum_horizontal(bit.cast(pl.UInt32) * (1 << index) for index, bit in enumerate(bits))
    matches = pl.col(_MATCHES)  # the parts' lists and the extras, joined (joined_lists)
    all_matches = (
        pl.when(blacklisted)
        .then(pl.concat_list(matches, pl.lit("blacklist:") + username))
        .otherwise(matches)
    )

    return _CompiledBrand(
        cheap=cheap,
        signal=signal,
        name=name_matches,
        bio=bio_matches,
        domain_tests=domain_tests,
        domain_hit=any_pattern(
            pl.col("link"), [pattern.pattern for pattern in rules.domain_patterns]
        ),
        extras=pl.lit(combinations).gather(mask),
        signal_parts=tuple(signal_parts),
        voice=voice,
        supporting=supporting,
        results={
            "brand_matches": pl.when(exception).then(EMPTY_LIST).otherwise(all_matches),
            "brand_confidence": pl.when(exception).then(0.0).otherwise(confidence),
            "is_org": flagged,
            "is_official": flagged & official_signal,
            "brand_exception": exception,
        },
    )


def _keyword_signal(key: str, signal: KeywordSignal, haystack: pl.Expr) -> pl.Expr:
    named = [(f"signal:{key}:{keyword}", keyword) for keyword in signal.keywords]
    return unique_in_order(keyword_matches(haystack, named, word_boundaries=True))


def _host_matches(host: pl.Expr, pattern: str, exceptions: tuple[str, ...]) -> pl.Expr:
    matched = host.str.contains(f"(?i){pattern}")
    if not exceptions:
        return matched
    # the exception itself or a subdomain of it, in one scan
    listed = "|".join(re.escape(exception) for exception in exceptions)
    return matched & ~host.str.contains(f"(?:^|\\.)(?:{listed})$")


def _any_prefixed(names: pl.Expr, prefixes: list[str]) -> pl.Expr:
    return any_element(
        names, pl.any_horizontal([pl.element().str.starts_with(prefix) for prefix in prefixes])
    )


def brand_stage(rules: BrandRules) -> _CompiledBrand:
    """The rules compiled into expressions (once per rules object: cached)."""
    return _compiled(rules)


def brand_flagged(profiles: pl.DataFrame, rules: BrandRules) -> pl.DataFrame:
    """``profiles`` (``PROFILES_SCHEMA``) with :data:`BRAND_COLUMNS` added.

    The rules compile into expressions once per rules object (cached), then run over the whole
    frame; see the module docstring for what each rule key means.
    """
    return run(profiles, [_compiled(rules)])
