"""The brand and risk rules applied one profile at a time, in plain Python: the oracle the
vectorised stages are checked against, and the per-profile loop they are benchmarked against.

Written from the rule semantics documented in ``influx_etl/rules/brand.py`` and ``risk.py``, not
from their code: no Polars, one precompiled ``re`` pattern per keyword and per rule, a loop over
the keywords of each category, as a straightforward implementation of the rule files would do.
It reads ``PROFILES_SCHEMA`` rows as dicts (``frame.to_dicts()``).

Where Python's ``re`` and the Rust engine differ in syntax (``\\x{FE0F}``), patterns are
translated; Unicode classes (``\\p{Ll}``) are spelled out with :mod:`unicodedata`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from influx_etl.rules import BrandRules, RiskRules, Severity
from influx_etl.rules._names import first_names

RATIO_WEIGHT = 0.3
OFFICIAL_NAME_CATEGORIES = {"official_indicators", "chinese_official"}
OFFICIAL_BIO_CATEGORIES = {"organizational"}
PLAYER_CONTEXT = re.compile(
    r"\b(?:players?|pro gamer|gamers?|gaming|e-?sports?|streamer|streaming|caster|coach"
    r"|plays for|playing for)\b",
    re.IGNORECASE,
)
UNSPACED = (
    (0x0E00, 0x0EFF),
    (0x1000, 0x109F),
    (0x1780, 0x17FF),
    (0x2E80, 0xA4CF),
    (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)
BIO_LINK = re.compile(
    r"https?://\S+|[^\s@]*@\S*|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}(?:/\S*)?"
)
NOT_DOMAIN = {
    "js", "ts", "jsx", "tsx", "mjs", "py", "rb", "rs", "md", "txt", "json", "yml", "yaml", "toml",
    "html", "css", "pdf", "png", "jpg", "jpeg", "gif", "mp3", "mp4", "exe", "zip",
}  # fmt: skip
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
USERINFO = re.compile(r"[^/?#@\s]*@")
HASHTAG = re.compile(r"#\w")
FIRST_NAME = re.compile(
    r"^[\W\d_]*(?:(?:dr|prof|mr|mrs|ms|sir|dame)\.?\s+)?([^\W\d_]{2,})(?:[\s.,'’]|$)"
)
NAME_WORD = re.compile(r"[^\W_]{3,}")


def python_regex(pattern: str) -> str:
    """A Rust-syntax pattern in Python's syntax (``\\x{FE0F}`` → ``\\uFE0F``)."""
    pattern = pattern.replace(r"\p{L}", r"[^\W\d_]")
    return re.sub(r"\\x\{([0-9A-Fa-f]+)\}", lambda m: f"\\U{int(m.group(1), 16):08x}", pattern)


def _spaced_word_char(char: str) -> bool:
    if not (char.isalnum() or char == "_"):
        return False
    return not any(low <= ord(char) <= high for low, high in UNSPACED)


def word_pattern(keyword: str) -> re.Pattern[str]:
    # a boundary as the Rust engine sees it: combining marks are word characters there
    left = r"(?<![\w\u0300-\u036f])" if _spaced_word_char(keyword[0]) else ""
    right = r"(?![\w\u0300-\u036f])" if _spaced_word_char(keyword[-1]) else ""
    return re.compile(left + re.escape(keyword) + right)


def username_words(username: str) -> str:
    """Spaces between the words a username runs together: ``_``, aB, ABc, a1, 1a."""

    def category(char: str) -> str:
        return unicodedata.category(char)

    text = username.replace("_", " ")
    out: list[str] = []
    for index, char in enumerate(text):
        if index > 0:
            before = text[index - 1]
            after = text[index + 1] if index + 1 < len(text) else ""
            if (
                (category(before) == "Ll" and category(char) == "Lu")
                or (
                    category(before) == "Lu"
                    and category(char) == "Lu"
                    and after
                    and category(after) == "Ll"
                )
                or (category(before).startswith("L") and category(char) == "Nd")
                or (category(before) == "Nd" and category(char).startswith("L"))
            ):
                out.append(" ")
        out.append(char)
    return "".join(out)


def name_haystack(profile: Mapping[str, Any]) -> str:
    name, username = profile["name"], profile["username"]
    parts = [name, username, None if username is None else username_words(username)]
    return "\n".join(part for part in parts if part is not None).lower()


def host(link: str) -> str | None:
    """The lower-case host of a link: scheme and user info dropped, cut at ``/?#:`` or a space."""
    rest = link.lstrip()
    scheme = SCHEME.match(rest)
    if scheme:
        rest = rest[scheme.end() :]
    userinfo = USERINFO.match(rest)
    if userinfo:
        rest = rest[userinfo.end() :]
    end = 0
    while end < len(rest) and rest[end] not in "/?#:" and not rest[end].isspace():
        end += 1
    return rest[:end].lower().rstrip(".") or None


def bio_links(description: str | None) -> list[str]:
    if description is None:
        return []
    links = []
    for token in BIO_LINK.findall(description.lower()):
        if "@" in token:
            continue
        suffix = re.search(r"\.([a-z]+)(?:/|$)", token)
        if suffix and suffix.group(1) in NOT_DOMAIN:
            continue
        links.append(token)
    return links


def profile_links(profile: Mapping[str, Any]) -> list[str]:
    links = [profile["url"]] if profile["url"] is not None else []
    links += [link for link in profile["urls"] or [] if link is not None]
    return links + bio_links(profile["description"])


@dataclass(frozen=True)
class BrandResult:
    matches: frozenset[str]
    confidence: float
    is_org: bool
    is_official: bool
    exception: bool


@dataclass(frozen=True)
class RiskResult:
    matches: frozenset[str]
    flags: tuple[str, ...]
    excluded: bool
    excluding: tuple[str, ...]
    threshold: int | None


class ReferenceBrand:
    def __init__(self, rules: BrandRules) -> None:
        self.rules = rules
        self.name_keywords = [
            (category.name, keyword.lower(), word_pattern(keyword.lower()))
            for category in rules.name_keywords
            for keyword in category.keywords
        ]
        self.bio_keywords = [
            (category.name, keyword.lower())
            for category in rules.bio_keywords
            for keyword in category.keywords
        ]
        self.domains = [
            (pattern.reason, re.compile(python_regex(pattern.pattern), re.IGNORECASE), pattern)
            for pattern in rules.domain_patterns
        ]
        self.blacklist = {handle.lower() for handle in rules.org_handles_blacklist}
        self.exceptions = {handle.lower() for handle in rules.exceptions}
        signals = rules.profile_signals
        self.keyword_signals = [
            (key, signal.weight, [(word, word_pattern(word)) for word in signal.keywords])
            for key, signal in signals.keyword_signals()
        ]
        self.person_name = signals.person_name
        self.own_account = signals.own_account
        count = signals.person_name.min_count if signals.person_name else 1
        self.first_names = (
            set(first_names(count)) if signals.person_name or signals.own_account else set()
        )

    def _signals(
        self, profile: Mapping[str, Any], haystack: str
    ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """(primary, supporting) profile signals: signal key → its matches."""
        bio = (profile["description"] or "").lower()
        primary: dict[str, set[str]] = {}
        supporting: dict[str, set[str]] = {}
        voice_words: list[tuple[str, str, re.Pattern[str]]] = []
        for key, _, patterns in self.keyword_signals:
            if key in ("plural_voice", "singular_voice"):
                voice_words.extend((key, word, pattern) for word, pattern in patterns)
                continue
            text = haystack if key == "organisation_name" else bio
            primary[key] = {
                f"signal:{key}:{word}" for word, pattern in patterns if pattern.search(text)
            }
        # the voice is that of the first first-person word (leftmost, then longest; plural first)
        order = {"plural_voice": 0, "singular_voice": 1}
        hits = [
            (found.start(), -len(word), order[key], key, word)
            for key, word, pattern in voice_words
            if (found := pattern.search(bio)) is not None
        ]
        if hits:
            _, _, _, key, word = min(hits)
            supporting[key] = {f"signal:{key}:{word}"}
        name = (profile["name"] or "").lower()
        first = FIRST_NAME.match(name) if profile["name"] is not None else None
        if (
            self.person_name is not None
            and first is not None
            and first.group(1) in self.first_names
            and not primary.get("organisation_name")
        ):
            supporting["person_name"] = {f"signal:person_name:{first.group(1)}"}
        if self.own_account is not None:
            phrases = "|".join(re.escape(phrase) for phrase in self.own_account.phrases)
            owner = re.search(rf"({phrases})\s+([^\W\d_]{{2,}})\s+[^\W\d_]", bio)
            if owner and owner.group(2) in self.first_names:
                supporting["own_account"] = {f"signal:own_account:{owner.group(1)}"}
        return primary, supporting

    def signal_weight(self, key: str) -> float:
        weight = self.rules.profile_signals.weight(key)
        assert weight is not None
        return weight

    def __call__(self, profile: Mapping[str, Any]) -> BrandResult | None:
        if profile["outcome"] != "found":
            return None
        rules, weights = self.rules, self.rules.confidence_weights
        username = (profile["username"] or "").lower()
        if username in self.exceptions:
            return BrandResult(frozenset(), 0.0, False, False, True)
        verified_type = (profile["verified_type"] or "").lower()
        haystack = name_haystack(profile)
        name_matches = set()
        for category, keyword, pattern in self.name_keywords:
            if not pattern.search(haystack):
                continue
            if keyword == "team" and PLAYER_CONTEXT.search(
                "\n".join(t for t in (profile["name"], profile["description"]) if t is not None)
            ):
                continue
            if keyword == "inc" and verified_type == "blue":
                continue
            name_matches.add(f"name_kw:{category}:{keyword}")
        bio = (profile["description"] or "").lower()
        bio_matches = {
            f"bio_kw:{category}:{keyword}"
            for category, keyword in self.bio_keywords
            if profile["description"] is not None and keyword in bio
        }
        hosts = [found for link in profile_links(profile) if (found := host(link)) is not None]
        hosts = [found for found in hosts if found != "t.co"]
        domain_matches = set()
        for reason, pattern, rule in self.domains:
            for candidate in hosts:
                excepted = any(
                    candidate == exception or candidate.endswith(f".{exception}")
                    for exception in rule.exceptions
                )
                if pattern.search(candidate) and not excepted:
                    domain_matches.add(f"domain:{reason}")
                    break
        verification = (
            f"verification:{verified_type}"
            if rules.verification_rules.flag_org_verification
            and verified_type in ("business", "government")
            else None
        )
        followers, following = profile["followers_count"], profile["following_count"]
        ratio = rules.ratio_heuristics
        ratio_matches = set()
        if (
            ratio.high_ratio_threshold is not None
            and bio_matches
            and followers is not None
            and following is not None
            and followers > 0
            and followers > following * ratio.high_ratio_threshold
        ):
            ratio_matches.add("ratio:high_ratio")
        if ratio.zero_following_flag and following == 0:
            ratio_matches.add("ratio:zero_following")
        blacklisted = username in self.blacklist
        primary, supporting = self._signals(profile, haystack)
        candidate = bool(
            name_matches
            or bio_matches
            or domain_matches
            or verification
            or blacklisted
            or ratio_matches
            or any(primary.values())
        )
        signal_matches = {
            key: found
            for key, found in (*primary.items(), *(supporting.items() if candidate else ()))
            if found
        }
        confidence = max(
            0.0,
            round(
                (weights.name_keyword_match if name_matches else 0.0)
                + (weights.bio_keyword_match if bio_matches else 0.0)
                + (weights.domain_match if domain_matches else 0.0)
                + (weights.org_verification if verification else 0.0)
                + (RATIO_WEIGHT if ratio_matches else 0.0)
                + sum(self.signal_weight(key) for key in signal_matches),
                9,
            ),
        )
        signal = bool(
            name_matches
            or bio_matches
            or domain_matches
            or verification
            or any(found and self.signal_weight(key) > 0 for key, found in primary.items())
        )
        verified_flags = bool(verification) and weights.org_verification >= weights.flag_threshold
        is_org = blacklisted or verified_flags or (confidence >= weights.flag_threshold and signal)
        official = (
            any(m.split(":")[1] in OFFICIAL_NAME_CATEGORIES for m in name_matches)
            or any(m.split(":")[1] in OFFICIAL_BIO_CATEGORIES for m in bio_matches)
            or verification == "verification:government"
        )
        matches = name_matches | bio_matches | domain_matches | ratio_matches
        for found in signal_matches.values():
            matches |= found
        if verification:
            matches.add(verification)
        if blacklisted:
            matches.add(f"blacklist:{username}")
        return BrandResult(frozenset(matches), confidence, is_org, is_org and official, False)


class ReferenceRisk:
    def __init__(self, rules: RiskRules) -> None:
        self.rules = rules
        self.categories = [
            (
                category,
                [(keyword.lower(), keyword.lower()) for keyword in category.bio_keywords],
                [
                    (keyword.lower(), word_pattern(keyword.lower()))
                    for keyword in category.name_keywords
                ],
                [(p, re.compile(python_regex(p), re.IGNORECASE)) for p in category.name_patterns],
                [(p, re.compile(python_regex(p), re.IGNORECASE)) for p in category.emoji_patterns],
                [(p, re.compile(python_regex(p), re.IGNORECASE)) for p in category.domain_patterns],
            )
            for category in rules.categories
        ]

    def __call__(self, profile: Mapping[str, Any]) -> RiskResult | None:
        if profile["outcome"] != "found":
            return None
        name, username, description = profile["name"], profile["username"], profile["description"]
        bio = (description or "").lower()
        haystack = name_haystack(profile)
        links = profile_links(profile)
        matches: set[str] = set()
        matched_categories = []
        for category, bio_keywords, name_keywords, name_patterns, emoji, domains in self.categories:
            prefix = f"risk:{category.key}"
            found = set()
            for keyword, _ in bio_keywords:
                if description is not None and keyword in bio:
                    found.add(f"{prefix}:bio:{keyword}")
            for keyword, pattern in name_keywords:
                if pattern.search(haystack):
                    found.add(f"{prefix}:name:{keyword}")
            for text, pattern in name_patterns:
                if any(t is not None and pattern.search(t) for t in (name, username)):
                    found.add(f"{prefix}:name_pattern:{text}")
            for text, pattern in emoji:
                if any(t is not None and pattern.search(t) for t in (name, description)):
                    found.add(f"{prefix}:emoji:{text}")
            for text, pattern in domains:
                if any(pattern.search(link) for link in links):
                    found.add(f"{prefix}:domain:{text}")
            limit = category.excessive_hashtags
            if limit is not None and name is not None and len(HASHTAG.findall(name)) >= limit:
                found.add(f"{prefix}:hashtags:{limit}")
            word = org_handle_word(category.org_handle_words, username or "")
            lower_username = (username or "").lower()
            if word is not None and not any(
                token in lower_username for token in NAME_WORD.findall((name or "").lower())
            ):
                found.add(f"{prefix}:handle_mismatch:{word}")
            if found:
                matches |= found
                matched_categories.append(category)
        flags = tuple(sorted({category.flag_name for category in matched_categories}))
        excluding = tuple(sorted({c.flag_name for c in matched_categories if c.auto_exclude}))
        processing = self.rules.processing_rules
        threshold = processing.multi_flag_threshold
        verified_type = (profile["verified_type"] or "none").lower()
        legacy = bool(profile["verified"]) and verified_type == "none"
        if (
            processing.verified_legacy_override
            and legacy
            and len(flags) == 1
            and all(c.severity is Severity.LOW for c in matched_categories)
        ):
            return RiskResult(
                frozenset(matches | {"review:verified_legacy_override"}), flags, False, (), None
            )
        excluded = bool(excluding) or (threshold is not None and len(flags) >= threshold)
        return RiskResult(frozenset(matches), flags, excluded, excluding, threshold)


def org_handle_word(words: tuple[str, ...], username: str) -> str | None:
    """The first of ``words`` among the words of ``username`` (leftmost, then longest)."""
    text = username_words(username).lower()
    hits = [
        (found.start(), -len(word), word)
        for word in words
        if (found := word_pattern(word).search(text)) is not None
    ]
    return min(hits)[2] if hits else None


def evaluate(
    rows: Iterable[Mapping[str, Any]], brand: ReferenceBrand, risk: ReferenceRisk
) -> list[tuple[BrandResult | None, RiskResult | None]]:
    """The per-profile loop: both rule sets on each profile in turn."""
    return [(brand(row), risk(row)) for row in rows]
