"""Brand and risk rules: typed rule files compiled into Polars expressions, and the funnel.

- :mod:`~influx_etl.rules.models`: the rule objects, :func:`load_brand_rules`,
  :func:`load_risk_rules` (validation up front, :class:`~influx_etl.errors.RulesError`).
- :mod:`~influx_etl.rules.brand`: :func:`brand_flagged`.
- :mod:`~influx_etl.rules.risk`: :func:`risk_flagged`.
- :mod:`~influx_etl.rules.flagged`: :func:`flagged`, both stages in one pass (the pipeline's).
- :mod:`~influx_etl.rules.decision`: :func:`decided`.
- :mod:`~influx_etl.rules.explain`: why an author was kept or dropped (``influx-rules explain``).
- :mod:`~influx_etl.rules.accuracy`: precision and recall against hand labels.

Every key of both files is applied; the module docstrings of ``brand`` and ``risk`` say how.
"""

from influx_etl.rules.brand import (
    BRAND_COLUMNS,
    NAME_KEYWORD_GUARDS,
    RATIO_WEIGHT,
    brand_flagged,
    match_weight,
)
from influx_etl.rules.decision import DECISION_COLUMNS, DECISIONS, decided
from influx_etl.rules.flagged import flagged
from influx_etl.rules.models import (
    BrandRules,
    ConfidenceWeights,
    DomainPattern,
    KeywordCategory,
    ProcessingRules,
    RatioHeuristics,
    RiskCategory,
    RiskRules,
    Severity,
    VerificationRules,
    load_brand_rules,
    load_risk_rules,
)
from influx_etl.rules.risk import (
    LEGACY_OVERRIDE_MATCH,
    RISK_COLUMNS,
    is_legacy_verified,
    risk_flagged,
)

__all__ = [
    "BRAND_COLUMNS",
    "DECISIONS",
    "DECISION_COLUMNS",
    "LEGACY_OVERRIDE_MATCH",
    "NAME_KEYWORD_GUARDS",
    "RATIO_WEIGHT",
    "RISK_COLUMNS",
    "BrandRules",
    "ConfidenceWeights",
    "DomainPattern",
    "KeywordCategory",
    "ProcessingRules",
    "RatioHeuristics",
    "RiskCategory",
    "RiskRules",
    "Severity",
    "VerificationRules",
    "brand_flagged",
    "decided",
    "flagged",
    "is_legacy_verified",
    "load_brand_rules",
    "load_risk_rules",
    "match_weight",
    "risk_flagged",
]
