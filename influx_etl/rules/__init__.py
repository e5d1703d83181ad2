"""Brand and risk rules: typed rule files compiled into Polars expressions, and the funnel.

- :mod:`~influx_etl.rules.models`: the rule objects, :func:`load_brand_rules`,
  :func:`load_risk_rules` (validation up front, :class:`~influx_etl.errors.RulesError`).
- :mod:`~influx_etl.rules.brand`: :func:`brand_flagged`.
- :mod:`~influx_etl.rules.risk`: :func:`risk_flagged`.
- :mod:`~influx_etl.rules.decision`: :func:`decided`.
"""

from influx_etl.rules.brand import BRAND_COLUMNS, NAME_KEYWORD_GUARDS, brand_flagged
from influx_etl.rules.decision import DECISION_COLUMNS, DECISIONS, decided
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
from influx_etl.rules.risk import RISK_COLUMNS, risk_flagged

__all__ = [
    "BRAND_COLUMNS",
    "DECISIONS",
    "DECISION_COLUMNS",
    "NAME_KEYWORD_GUARDS",
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
    "load_brand_rules",
    "load_risk_rules",
    "risk_flagged",
]
