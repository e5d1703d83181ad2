"""Typed rule objects for the brand and risk files, and their loading and validation.

Both files are checked completely when they are loaded: a file that is not YAML, a key of the wrong
type, an unknown key, an unknown severity or a regex that Polars' engine (the Rust ``regex`` crate:
no look-around, no back-references) cannot compile raises :class:`~influx_etl.errors.RulesError`
naming the file, the key path (``domain_patterns[1].pattern``) and what was expected. A loaded
rules object therefore always compiles into expressions.

Conventions shared by both files:

- A section written as an empty key (every entry commented out, e.g. ``exceptions:``) is empty.
- ``version`` and ``updated`` may be strings, numbers or unquoted dates; they are kept as text.
- A mapping that repeats a key is an error: YAML would otherwise keep the last one silently, and a
  curator who adds a second ``spam:`` section would lose the first.
- Keywords must be non-empty strings; a bare YAML number (``- 1488``) must be quoted.

The brand file's optional ``profile_signals`` section (absent from the original project's file,
which therefore loads and applies as before) holds typed signals, each with its ``weight`` (a
number, negative for the signals that speak for an individual); how they apply is in
:mod:`influx_etl.rules.brand`:

- ``person_name``: ``min_count`` (whole number): the display name starts with a first name given
  to at least that many babies in the first-name lexicon (:mod:`influx_etl.rules._names`).
- ``own_account``: ``phrases`` ("official account of"...) followed in the bio by a person's name.
- ``plural_voice``, ``singular_voice``, ``software``, ``publication``, ``organisation_name``:
  ``keywords`` (word-boundary matches; ``organisation_name`` on the display name and handle, the
  others on the bio).

A risk category may hold ``org_handle_words``: words that make a handle look like an
organisation's (``team``, ``esports``...), for the display-name/handle mismatch rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import polars as pl
import yaml

from influx_etl.errors import ConfigError, RulesError
from influx_etl.yaml_files import UniqueKeyLoader, key_lines, unknown_key_message

__all__ = [
    "KEYWORD_SIGNALS",
    "BrandRules",
    "ConfidenceWeights",
    "DomainPattern",
    "KeywordCategory",
    "KeywordSignal",
    "OwnAccountSignal",
    "PersonNameSignal",
    "ProcessingRules",
    "ProfileSignals",
    "RatioHeuristics",
    "RiskCategory",
    "RiskRules",
    "Severity",
    "VerificationRules",
    "load_brand_rules",
    "load_risk_rules",
]


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class KeywordCategory:
    """A named list of keywords (``name_keywords.official_indicators``)."""

    name: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class DomainPattern:
    """A regex matched against the host of a profile link; hosts in ``exceptions`` (and their
    subdomains) never match it."""

    pattern: str
    reason: str
    exceptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerificationRules:
    flag_org_verification: bool = True
    """Flag ``verified_type`` business and government (the API's organisation verifications)."""


@dataclass(frozen=True)
class RatioHeuristics:
    """Follower/following signals, "optional, low weight" in the original: see
    :mod:`influx_etl.rules.brand` (``ratio:high_ratio``, ``ratio:zero_following``)."""

    high_ratio_threshold: float | None = None
    zero_following_flag: bool = False


@dataclass(frozen=True)
class ConfidenceWeights:
    name_keyword_match: float
    bio_keyword_match: float
    domain_match: float
    org_verification: float
    flag_threshold: float


@dataclass(frozen=True)
class KeywordSignal:
    """A profile signal made of keywords (word-boundary matches) and its confidence weight."""

    keywords: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class PersonNameSignal:
    """The display name reads as a person's: it starts with a first name of the lexicon given to
    at least ``min_count`` babies."""

    min_count: int
    weight: float


@dataclass(frozen=True)
class OwnAccountSignal:
    """ "Official account of <first name> <name>": an individual's own account."""

    phrases: tuple[str, ...]
    weight: float


KEYWORD_SIGNALS = (
    "organisation_name",
    "software",
    "publication",
    "plural_voice",
    "singular_voice",
)
"""The keyword signals of ``profile_signals``, in the order their matches are listed."""


@dataclass(frozen=True)
class ProfileSignals:
    """The ``profile_signals`` section of the brand file; a signal left out is not applied."""

    person_name: PersonNameSignal | None = None
    own_account: OwnAccountSignal | None = None
    organisation_name: KeywordSignal | None = None
    software: KeywordSignal | None = None
    publication: KeywordSignal | None = None
    plural_voice: KeywordSignal | None = None
    singular_voice: KeywordSignal | None = None

    def keyword_signals(self) -> tuple[tuple[str, KeywordSignal], ...]:
        """The keyword signals present, in :data:`KEYWORD_SIGNALS` order."""
        found = ((key, getattr(self, key)) for key in KEYWORD_SIGNALS)
        return tuple((key, signal) for key, signal in found if signal is not None)

    def weight(self, key: str) -> float | None:
        """The weight of the signal ``key``; None when it is not in the file."""
        signal = getattr(self, key, None)
        return None if signal is None else float(signal.weight)


@dataclass(frozen=True)
class BrandRules:
    name_keywords: tuple[KeywordCategory, ...]
    bio_keywords: tuple[KeywordCategory, ...]
    domain_patterns: tuple[DomainPattern, ...]
    verification_rules: VerificationRules
    ratio_heuristics: RatioHeuristics
    org_handles_blacklist: tuple[str, ...]
    exceptions: tuple[str, ...]
    confidence_weights: ConfidenceWeights
    version: str | None = None
    updated: str | None = None
    source: str = field(default="<memory>", compare=False)
    """The file the rules came from, for messages; not part of the rules' identity."""
    profile_signals: ProfileSignals = ProfileSignals()


@dataclass(frozen=True)
class RiskCategory:
    """One top-level section of the risk file (``nsfw``, ``spam``, or any a curator adds)."""

    key: str
    flag_name: str
    severity: Severity
    auto_exclude: bool = False
    bio_keywords: tuple[str, ...] = ()
    name_keywords: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()
    emoji_patterns: tuple[str, ...] = ()
    domain_patterns: tuple[str, ...] = ()
    excessive_hashtags: int | None = None
    note: str | None = None
    org_handle_words: tuple[str, ...] = ()
    """Words (of the handle's words) that make a handle look like an organisation's: with one
    of them and a display name sharing no word with the handle, the category matches."""


@dataclass(frozen=True)
class ProcessingRules:
    multi_flag_threshold: int | None = None
    """This many distinct flags exclude an author even when no matched category auto-excludes."""
    verified_legacy_override: bool = False
    """Legacy-verified accounts whose only flag is low-severity go to manual review instead of
    being excluded (see :mod:`influx_etl.rules.risk`)."""
    log_flagged: bool = False
    """Flagged accounts are audited: every run's are in the dataset (``handle_outcomes``, the
    ``flagged_accounts`` view) and ``influx-rules flagged`` lists or writes them as JSONL."""


@dataclass(frozen=True)
class RiskRules:
    categories: tuple[RiskCategory, ...]
    processing_rules: ProcessingRules = ProcessingRules()
    version: str | None = None
    updated: str | None = None
    source: str = field(default="<memory>", compare=False)

    @property
    def flag_names(self) -> frozenset[str]:
        """Every flag name the file can produce (to validate ``--allow-risk``)."""
        return frozenset(category.flag_name for category in self.categories)

    def checked_allowed(self, allowed: Iterable[str]) -> frozenset[str]:
        """``allowed`` (the ``--allow-risk`` flags) when each is a flag this file can produce.

        Raises :class:`~influx_etl.errors.ConfigError` naming the unknown flags, the file and the
        valid flags: a misspelt flag would otherwise silently allow nothing.
        """
        wanted = frozenset(allowed)
        unknown = sorted(wanted - self.flag_names)
        if unknown:
            raise ConfigError(
                f"--allow-risk: unknown risk flag{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(flag) for flag in unknown)}; the flags of {self.source} are: "
                f"{', '.join(sorted(self.flag_names)) or '(none)'}"
            )
        return wanted


# --------------------------------------------------------------------------------------------------
# loading


def _read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(
            f"cannot read the rules file ({error.strerror or error})", file=path
        ) from None
    except UnicodeDecodeError as error:
        raise RulesError(f"not UTF-8 text ({error.reason})", file=path) from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader), key_lines(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise RulesError(f"not valid YAML{where}: {problem}", file=path) from None


class _Checker:
    """Reads values out of a parsed YAML document, raising RulesError with the key path."""

    def __init__(self, path: Path, lines: dict[str, int] | None = None) -> None:
        self.path = path
        self.lines = lines or {}

    def fail(self, key: str | None, message: str) -> NoReturn:
        raise RulesError(message, file=self.path, key=key, line=self.lines.get(key or ""))

    def mapping(self, value: Any, key: str, *, empty_ok: bool = True) -> Mapping[str, Any]:
        if value is None and empty_ok:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, got {_describe(value)}")
        for sub_key in value:
            if not isinstance(sub_key, str):
                self.fail(key, f"expected text keys, got the key {sub_key!r}")
        return value

    def known_keys(self, value: Mapping[str, Any], key: str | None, valid: tuple[str, ...]) -> None:
        for sub_key in value:
            if sub_key not in valid:
                self.fail(
                    _join(key, sub_key),
                    unknown_key_message(sub_key, valid),
                )

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {_describe(value)}")
        return value

    def optional_text(self, value: Any, key: str) -> str | None:
        return None if value is None else self.text(value, key)

    def label(self, value: Any, key: str) -> str | None:
        """``version``/``updated``: free text, numbers and unquoted dates are kept as text."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | dt.date):
            self.fail(key, f"expected a string, number or date, got {_describe(value)}")
        return value.isoformat() if isinstance(value, dt.date) else str(value)

    def text_list(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {_describe(value)}")
        items: list[str] = []
        for index, item in enumerate(value):
            item_key = f"{key}[{index}]"
            if not isinstance(item, str):
                hint = " (quote it)" if isinstance(item, int | float) else ""
                self.fail(item_key, f"expected a string{hint}, got {_describe(item)}")
            if not item.strip():
                # an empty keyword would match every profile
                self.fail(item_key, "expected a non-empty string, got an empty one")
            items.append(item)
        return tuple(items)

    def regex_list(self, value: Any, key: str) -> tuple[str, ...]:
        patterns = self.text_list(value, key)
        for index, pattern in enumerate(patterns):
            self.regex(pattern, f"{key}[{index}]")
        return patterns

    def regex(self, pattern: str, key: str) -> str:
        # Compiled with the same engine and flag that the stages use, so that a file that loads
        # always runs.
        try:
            pl.Series("probe", [""], dtype=pl.String).str.contains(f"(?i){pattern}")
        except pl.exceptions.PolarsError as error:
            detail = _regex_error_detail(str(error))
            self.fail(
                key,
                f"expected a regular expression Polars can compile (no look-around or "
                f"back-references), got {pattern!r}: {detail}",
            )
        return pattern

    def boolean(self, value: Any, key: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_describe(value)}")
        return value

    def signed_number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(
                key,
                f"expected a number (negative for a signal of an individual), got "
                f"{_describe(value)}",
            )
        return float(value)

    def number(self, value: Any, key: str, *, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number, got {_describe(value)}")
        if value < 0 or (positive and value == 0):
            self.fail(key, f"expected a number {'> 0' if positive else '>= 0'}, got {value}")
        return float(value)

    def count(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, f"expected a whole number >= 1, got {_describe(value)}")
        return value


def _join(parent: str | None, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    kind = {dict: "a mapping", list: "a list", str: "the string", bool: "the boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )
    if isinstance(value, dict | list):
        return kind
    shown = repr(value)
    return f"{kind} {shown if len(shown) <= 60 else shown[:57] + '...'}"


def _regex_error_detail(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    return lines[0] if lines else message


# --------------------------------------------------------------------------------------------------
# brand file

_BRAND_KEYS = (
    "version",
    "updated",
    "name_keywords",
    "bio_keywords",
    "domain_patterns",
    "verification_rules",
    "ratio_heuristics",
    "org_handles_blacklist",
    "exceptions",
    "confidence_weights",
    "profile_signals",
)
_SIGNAL_KEYS = ("person_name", "own_account", *KEYWORD_SIGNALS)
_SIGNAL_FIELDS = {
    "person_name": ("min_count", "weight"),
    "own_account": ("phrases", "weight"),
    **{key: ("keywords", "weight") for key in KEYWORD_SIGNALS},
}
_DOMAIN_PATTERN_KEYS = ("pattern", "reason", "exceptions")
_VERIFICATION_KEYS = ("flag_org_verification",)
_RATIO_KEYS = ("high_ratio_threshold", "zero_following_flag")
_WEIGHT_KEYS = (
    "name_keyword_match",
    "bio_keyword_match",
    "domain_match",
    "org_verification",
    "flag_threshold",
)


def load_brand_rules(path: Path | str) -> BrandRules:
    """Read and validate a brand heuristics file (the structure of ``brand_heuristics.yml``)."""
    path = Path(path)
    document, lines = _read_yaml(path)
    check = _Checker(path, lines)
    if not isinstance(document, dict):
        check.fail(None, f"expected a mapping at the top level, got {_describe(document)}")
    top = check.mapping(document, "")
    check.known_keys(top, None, _BRAND_KEYS)

    def categories(key: str) -> tuple[KeywordCategory, ...]:
        section = check.mapping(top.get(key), key)
        return tuple(
            KeywordCategory(name, check.text_list(words, f"{key}.{name}"))
            for name, words in section.items()
        )

    domain_value = top.get("domain_patterns")
    if domain_value is not None and not isinstance(domain_value, list):
        check.fail("domain_patterns", f"expected a list of mappings, got {_describe(domain_value)}")
    domain_patterns: list[DomainPattern] = []
    for index, entry in enumerate(domain_value or []):
        key = f"domain_patterns[{index}]"
        item = check.mapping(entry, key, empty_ok=False)
        check.known_keys(item, key, _DOMAIN_PATTERN_KEYS)
        pattern = check.regex(check.text(item.get("pattern"), f"{key}.pattern"), f"{key}.pattern")
        domain_patterns.append(
            DomainPattern(
                pattern=pattern,
                reason=check.text(item.get("reason"), f"{key}.reason"),
                exceptions=tuple(
                    host.lower().strip(".")
                    for host in check.text_list(item.get("exceptions"), f"{key}.exceptions")
                ),
            )
        )

    verification = check.mapping(top.get("verification_rules"), "verification_rules")
    check.known_keys(verification, "verification_rules", _VERIFICATION_KEYS)
    ratio = check.mapping(top.get("ratio_heuristics"), "ratio_heuristics")
    check.known_keys(ratio, "ratio_heuristics", _RATIO_KEYS)
    high_ratio = ratio.get("high_ratio_threshold")

    if top.get("confidence_weights") is None:
        check.fail("confidence_weights", f"required: a mapping with {', '.join(_WEIGHT_KEYS)}")
    weights = check.mapping(top["confidence_weights"], "confidence_weights")
    check.known_keys(weights, "confidence_weights", _WEIGHT_KEYS)
    # a wrong value is reported before a missing one: it is the more specific mistake
    weight_values = {
        weight_key: check.number(
            weights[weight_key],
            f"confidence_weights.{weight_key}",
            positive=weight_key == "flag_threshold",
        )
        for weight_key in _WEIGHT_KEYS
        if weight_key in weights
    }
    for weight_key in _WEIGHT_KEYS:
        if weight_key not in weights:
            check.fail(f"confidence_weights.{weight_key}", "required: a number")

    return BrandRules(
        name_keywords=categories("name_keywords"),
        bio_keywords=categories("bio_keywords"),
        domain_patterns=tuple(domain_patterns),
        verification_rules=VerificationRules(
            flag_org_verification=check.boolean(
                verification.get("flag_org_verification"),
                "verification_rules.flag_org_verification",
                default=True,
            )
        ),
        ratio_heuristics=RatioHeuristics(
            high_ratio_threshold=None
            if high_ratio is None
            else check.number(high_ratio, "ratio_heuristics.high_ratio_threshold"),
            zero_following_flag=check.boolean(
                ratio.get("zero_following_flag"), "ratio_heuristics.zero_following_flag", False
            ),
        ),
        org_handles_blacklist=_handles(
            check, top.get("org_handles_blacklist"), "org_handles_blacklist"
        ),
        exceptions=_handles(check, top.get("exceptions"), "exceptions"),
        confidence_weights=ConfidenceWeights(**weight_values),
        version=check.label(top.get("version"), "version"),
        updated=check.label(top.get("updated"), "updated"),
        source=str(path),
        profile_signals=_profile_signals(check, top.get("profile_signals")),
    )


def _profile_signals(check: _Checker, value: Any) -> ProfileSignals:
    section = check.mapping(value, "profile_signals")
    check.known_keys(section, "profile_signals", _SIGNAL_KEYS)
    signals: dict[str, Any] = {}
    for key, entry in section.items():
        where = f"profile_signals.{key}"
        item = check.mapping(entry, where, empty_ok=False)
        fields = _SIGNAL_FIELDS[key]
        check.known_keys(item, where, fields)
        for name in fields:
            if name not in item:
                check.fail(f"{where}.{name}", f"required: {', '.join(fields)}")
        weight = check.signed_number(item["weight"], f"{where}.weight")
        if key == "person_name":
            signals[key] = PersonNameSignal(
                check.count(item["min_count"], f"{where}.min_count"), weight
            )
            continue
        words_key = fields[0]
        words = tuple(
            word.lower() for word in check.text_list(item[words_key], f"{where}.{words_key}")
        )
        if not words:
            check.fail(f"{where}.{words_key}", "expected at least one entry")
        signals[key] = (
            OwnAccountSignal(words, weight)
            if key == "own_account"
            else KeywordSignal(words, weight)
        )
    return ProfileSignals(**signals)


def _handles(check: _Checker, value: Any, key: str) -> tuple[str, ...]:
    handles = check.text_list(value, key)
    for index, handle in enumerate(handles):
        if handle.strip().startswith("@"):
            check.fail(f"{key}[{index}]", f"expected a handle without '@', got {handle!r}")
    return tuple(handle.strip() for handle in handles)


# --------------------------------------------------------------------------------------------------
# risk file

_RISK_SPECIAL_KEYS = ("version", "updated", "processing_rules")
_RISK_CATEGORY_KEYS = (
    "bio_keywords",
    "name_keywords",
    "name_patterns",
    "emoji_patterns",
    "domain_patterns",
    "excessive_hashtags",
    "flag_name",
    "severity",
    "auto_exclude",
    "note",
    "org_handle_words",
)
_PROCESSING_KEYS = ("multi_flag_threshold", "verified_legacy_override", "log_flagged")
_SEVERITIES = tuple(severity.value for severity in Severity)


def load_risk_rules(path: Path | str) -> RiskRules:
    """Read and validate a risk terms file (the structure of ``risk_terms.yml``).

    Every top-level key other than ``version``, ``updated`` and ``processing_rules`` is a risk
    category and must be a mapping: curators add categories without touching the code.
    """
    path = Path(path)
    document, lines = _read_yaml(path)
    check = _Checker(path, lines)
    if not isinstance(document, dict):
        check.fail(None, f"expected a mapping at the top level, got {_describe(document)}")
    top = check.mapping(document, "")

    categories: list[RiskCategory] = []
    for key, value in top.items():
        if key in _RISK_SPECIAL_KEYS:
            continue
        if ":" in key:
            # rule names are "risk:<category>:<kind>:<rule>"
            check.fail(key, "expected a category name without ':'")
        if not isinstance(value, dict):
            check.fail(
                key,
                f"expected a mapping (a risk category with flag_name and severity), got "
                f"{_describe(value)}; the other top-level keys are: "
                f"{', '.join(_RISK_SPECIAL_KEYS)}",
            )
        categories.append(_risk_category(check, key, value))

    processing = check.mapping(top.get("processing_rules"), "processing_rules")
    check.known_keys(processing, "processing_rules", _PROCESSING_KEYS)
    multi = processing.get("multi_flag_threshold")
    return RiskRules(
        categories=tuple(categories),
        processing_rules=ProcessingRules(
            multi_flag_threshold=None
            if multi is None
            else check.count(multi, "processing_rules.multi_flag_threshold"),
            verified_legacy_override=check.boolean(
                processing.get("verified_legacy_override"),
                "processing_rules.verified_legacy_override",
                default=False,
            ),
            log_flagged=check.boolean(
                processing.get("log_flagged"), "processing_rules.log_flagged", default=False
            ),
        ),
        version=check.label(top.get("version"), "version"),
        updated=check.label(top.get("updated"), "updated"),
        source=str(path),
    )


def _risk_category(check: _Checker, key: str, section: Mapping[str, Any]) -> RiskCategory:
    check.mapping(section, key)
    check.known_keys(section, key, _RISK_CATEGORY_KEYS)
    if "flag_name" not in section:
        check.fail(f"{key}.flag_name", "required: the flag name this category reports")
    if "severity" not in section:
        check.fail(f"{key}.severity", f"required: one of {', '.join(_SEVERITIES)}")
    severity = section["severity"]
    if severity not in _SEVERITIES:
        check.fail(
            f"{key}.severity",
            f"unknown severity {severity!r}; valid severities are: {', '.join(_SEVERITIES)}",
        )
    domain_patterns = check.regex_list(section.get("domain_patterns"), f"{key}.domain_patterns")
    hashtags = section.get("excessive_hashtags")
    return RiskCategory(
        key=key,
        flag_name=check.text(section["flag_name"], f"{key}.flag_name"),
        severity=Severity(severity),
        auto_exclude=check.boolean(section.get("auto_exclude"), f"{key}.auto_exclude", False),
        bio_keywords=check.text_list(section.get("bio_keywords"), f"{key}.bio_keywords"),
        name_keywords=check.text_list(section.get("name_keywords"), f"{key}.name_keywords"),
        name_patterns=check.regex_list(section.get("name_patterns"), f"{key}.name_patterns"),
        emoji_patterns=check.regex_list(section.get("emoji_patterns"), f"{key}.emoji_patterns"),
        domain_patterns=domain_patterns,
        excessive_hashtags=None
        if hashtags is None
        else check.count(hashtags, f"{key}.excessive_hashtags"),
        note=check.optional_text(section.get("note"), f"{key}.note"),
        org_handle_words=tuple(
            word.lower()
            for word in check.text_list(section.get("org_handle_words"), f"{key}.org_handle_words")
        ),
    )
