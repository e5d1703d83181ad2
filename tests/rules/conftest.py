from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl.rules import BrandRules, RiskRules, load_brand_rules, load_risk_rules
from tests.conftest import REPO_ROOT

OWN_BRAND = REPO_ROOT / "lists" / "rules" / "brand_heuristics.yml"
OWN_RISK = REPO_ROOT / "lists" / "rules" / "risk_terms.yml"


@pytest.fixture(scope="session")
def brand_rules() -> BrandRules:
    return load_brand_rules(OWN_BRAND)


@pytest.fixture(scope="session")
def risk_rules() -> RiskRules:
    return load_risk_rules(OWN_RISK)


@pytest.fixture
def original_brand_rules(shared_compat_dir: Path) -> BrandRules:
    return load_brand_rules(shared_compat_dir / "brand_heuristics.yml")


@pytest.fixture
def original_risk_rules(shared_compat_dir: Path) -> RiskRules:
    return load_risk_rules(shared_compat_dir / "risk_terms.yml")
