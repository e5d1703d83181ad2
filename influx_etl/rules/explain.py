"""Why an author was kept or dropped, in words, from what a run stored.

:func:`explanation` reads one ``handle_outcomes`` row (the outcome, the follower count, every
matched rule, the confidence, the risk flags and the decision, as the run stored them) and the run's
settings (thresholds, allowed flags), and adds what only the rule files know: the weight of each
kind of brand match, ``flag_threshold``, each risk category's flag, severity and ``auto_exclude``.
The files are read as they are now; when their weights no longer add up to the stored confidence,
the explanation says the file changed since the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from influx_etl.rules.brand import RATIO_WEIGHT, match_weight
from influx_etl.rules.models import BrandRules, RiskRules
from influx_etl.rules.risk import LEGACY_OVERRIDE_MATCH

__all__ = ["explanation", "run_settings"]

_KIND_LABELS = {
    "name_kw": "name keyword",
    "bio_kw": "bio keyword",
    "domain": "domain",
    "verification": "organisation verification",
    "ratio": "ratio heuristic",
    "blacklist": "org_handles_blacklist",
    "signal": "profile signal",
}
_DECISIONS = {
    "kept": "KEPT: big enough, not an organisation, not excluded by the risk rules",
    "below_threshold": "DROPPED: below the entry threshold",
    "brand": "DROPPED: the brand rules flag it as an organisation, brand, media or official "
    "account (--allow-brands would keep it)",
    "risk": "DROPPED: excluded by the risk rules (--allow-risk FLAGS ignores flags)",
    "banned": "DROPPED: banned from the dataset (the author asked to be removed)",
}


def run_settings(run: Mapping[str, Any]) -> dict[str, Any]:
    """The ``args`` of a ``runs`` row as a dict (stored as JSON text)."""
    args = run.get("args")
    if isinstance(args, str):
        loaded = json.loads(args)
        return loaded if isinstance(loaded, dict) else {}
    return dict(args) if isinstance(args, Mapping) else {}


def _number(value: Any) -> str:
    return "unknown" if value is None else f"{value:,}"


def _weight(value: float) -> str:
    return f"{value:g}"


def explanation(
    outcome: Mapping[str, Any],
    run: Mapping[str, Any],
    brand: BrandRules | None,
    risk: RiskRules | None,
) -> list[str]:
    """Lines explaining the decision of one ``handle_outcomes`` row of ``run``.

    ``brand`` and ``risk`` are the rule files the run used, as far as they can still be read
    (None when not): they give weights, thresholds and categories.
    """
    settings = run_settings(run)
    handle = outcome.get("username") or outcome.get("handle") or outcome.get("handle_key")
    lines = [
        f"@{handle} in run {run.get('run_id')} (started {run.get('started_at')}, "
        f"source {run.get('source')})"
    ]
    result = outcome.get("outcome")
    detail = f" — {outcome['outcome_detail']}" if outcome.get("outcome_detail") else ""
    lines.append(f"outcome:    {result}{detail}")
    if result == "duplicate_id":
        lines.append(
            f"decision:   {outcome.get('decision')}: not integrated — user id "
            f"{outcome.get('id')} stays with the handle named above (one author per id: the "
            "answer whose username is the handle asked for wins, else the latest fetched)"
        )
        return lines
    if result != "found":
        lines.append(
            f"decision:   {outcome.get('decision')}: not evaluated (the lookup did not find it)"
        )
        return lines

    lines += _threshold_lines(outcome, settings)
    lines += _brand_lines(outcome, brand)
    lines += _risk_lines(outcome, risk, settings)
    decision = outcome.get("decision")
    lines.append(f"decision:   {decision} — {_DECISIONS.get(str(decision), str(decision))}")
    return lines


def _threshold_lines(outcome: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    minimum, verified_minimum = (
        settings.get("min_followers"),
        settings.get("verified_min_followers"),
    )
    verified = bool(outcome.get("is_verified"))
    rule = (
        f"(verified AND >= {_number(verified_minimum)}) OR >= {_number(minimum)}"
        if minimum is not None
        else "the run's entry threshold"
    )
    passes = "passes" if outcome.get("passes_threshold") else "does NOT pass"
    return [
        f"followers:  {_number(outcome.get('followers_count'))} "
        f"({'verified' if verified else 'not verified'}); threshold {rule}: {passes}"
    ]


def _brand_lines(outcome: Mapping[str, Any], rules: BrandRules | None) -> list[str]:
    matches = list(outcome.get("brand_matches") or [])
    confidence = outcome.get("brand_confidence")
    flagged = bool(outcome.get("is_org"))
    verdict = (
        "organisation (is_org)" + (", official (is_official)" if outcome.get("is_official") else "")
        if flagged
        else "not an organisation"
    )
    if rules is None:
        lines = [f"brand:      confidence {confidence} → {verdict} (rules file unavailable)"]
        return lines + [f"  {match}" for match in matches]
    threshold = rules.confidence_weights.flag_threshold
    lines = [
        f"brand:      confidence {_weight(confidence or 0.0)} vs flag_threshold "
        f"{_weight(threshold)} → {verdict}"
    ]
    if not matches:
        username = str(outcome.get("username") or "").lower()
        if username in {handle.lower() for handle in rules.exceptions}:
            return [*lines, "  listed under exceptions: never flagged, whatever matches"]
        return [*lines, "  no brand rule matched"]
    counted: set[str] = set()
    total = 0.0
    for match in matches:
        kind = match.split(":", 1)[0]
        label = _KIND_LABELS.get(kind, kind)
        if kind == "signal":
            # each profile signal is a kind of its own ("signal:person_name")
            kind = ":".join(match.split(":")[:2])
            label = f"profile signal {kind.split(':')[1]}"
        weight = match_weight(match, rules)
        if kind == "blacklist":
            lines.append(f"  {match:<48} always flags ({label})")
        elif weight is None:
            lines.append(f"  {match:<48} ({label})")
        elif kind in counted:
            lines.append(f"  {match:<48} +0 ({label}: each kind counts once)")
        else:
            counted.add(kind)
            total += weight
            lines.append(f"  {match:<48} {weight:+g} ({label})")
    total = round(total, 9)
    total = max(total, 0.0)  # the stage's confidence never goes below 0
    if confidence is not None and abs(total - confidence) > 1e-9:
        lines.append(
            f"  note: the weights of {rules.source} add up to {_weight(total)}, the run stored "
            f"{_weight(confidence)}: the file changed since the run"
        )
    if "ratio" in counted and RATIO_WEIGHT:
        lines.append("  (ratio heuristics never flag on their own)")
    if any(kind.startswith("signal:") for kind in counted):
        lines.append(
            "  (signals of an individual lower the confidence but never keep an account the "
            "blacklist or organisation verification flags)"
        )
    return lines


def _risk_lines(
    outcome: Mapping[str, Any], rules: RiskRules | None, settings: Mapping[str, Any]
) -> list[str]:
    matches = list(outcome.get("risk_matches") or [])
    flags = list(outcome.get("risk_flags") or [])
    excluded = bool(outcome.get("risk_excluded"))
    allowed = set(settings.get("allow_risk") or [])
    head = f"risk:       flags {', '.join(flags) if flags else 'none'}"
    head += " → excluded" if excluded else " → not excluded"
    lines = [head]
    categories = {category.key: category for category in rules.categories} if rules else {}
    for match in matches:
        if match == LEGACY_OVERRIDE_MATCH:
            lines.append(
                f"  {match}: legacy-verified with one low-severity flag → manual review, "
                "not excluded"
            )
            continue
        key = match.split(":")[1] if match.count(":") >= 3 else ""
        category = categories.get(key)
        if category is None:
            lines.append(f"  {match}")
            continue
        excludes = "auto_exclude" if category.auto_exclude else "does not exclude alone"
        if category.flag_name in allowed:
            excludes += ", allowed by --allow-risk"
        lines.append(
            f"  {match:<48} → {category.flag_name} ({category.severity.value}, {excludes})"
        )
    if rules is not None:
        threshold = rules.processing_rules.multi_flag_threshold
        if threshold is not None and flags:
            counted = [flag for flag in flags if flag not in allowed]
            reached = "reached" if len(counted) >= threshold else "not reached"
            lines.append(
                f"  multi_flag_threshold {threshold}: {len(counted)} flag(s) counted → {reached}"
            )
    if allowed:
        lines.append(f"  allowed by the run (--allow-risk): {', '.join(sorted(allowed))}")
    return lines
