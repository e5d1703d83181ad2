"""The stages after the lookup on ``--bench-profiles`` profiles: filter, transform, score,
validate and integrate.

``make bench`` runs them on 1,000,000 profiles (the transform and what follows see the kept ones,
about 7 %); ``make test`` runs each once on the default count. ``extra_info`` records the rows
each stage saw. The per-record jsonschema validation the vectorised one replaced is timed on at
most :data:`JSONSCHEMA_RECORDS` records, for comparison. Nothing here asserts a time.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import polars as pl
import pytest
from jsonschema import Draft7Validator
from pytest_benchmark.fixture import BenchmarkFixture

from influx_etl import rules, score, threshold, transform, validate
from influx_etl.config import DEFAULT_SCHEMA, Thresholds
from influx_etl.frames import OUTCOMES_SCHEMA, SEED_REJECTS_SCHEMA
from influx_etl.store import Store
from tests.rules.conftest import OWN_BRAND, OWN_RISK

STARTED_AT = "2025-11-20T10:00:00Z"
JSONSCHEMA_RECORDS = 5_000
_runs = itertools.count()


@pytest.fixture(scope="module")
def rulebook() -> tuple[rules.BrandRules, rules.RiskRules]:
    return rules.load_brand_rules(OWN_BRAND), rules.load_risk_rules(OWN_RISK)


@pytest.fixture(scope="module")
def validators() -> list[Draft7Validator]:
    return [validate.validator_for(validate.load_schema(DEFAULT_SCHEMA))]


def filtered(
    profiles: pl.DataFrame, brand: rules.BrandRules, risk: rules.RiskRules
) -> pl.DataFrame:
    """Threshold, brand, risk and decision: the pipeline's filter stages."""
    decided = rules.flagged(threshold.thresholded(profiles, Thresholds()), brand, risk)
    return rules.decided(decided, allow_brands=False, allow_risk=frozenset())


@pytest.fixture(scope="module")
def decided(
    bench_profiles: pl.DataFrame, rulebook: tuple[rules.BrandRules, rules.RiskRules]
) -> pl.DataFrame:
    seeded = bench_profiles.with_columns(
        handle=pl.col("username"),
        seed_file=pl.lit("bench.txt"),
        seed_files=pl.lit(["bench.txt"], dtype=pl.List(pl.String)),
        categories=pl.lit(["ai research"], dtype=pl.List(pl.String)),
    )
    return filtered(seeded, *rulebook)


@pytest.fixture(scope="module")
def authors(decided: pl.DataFrame) -> pl.DataFrame:
    kept = decided.filter(pl.col("decision") == "kept")
    return score.scored(transform.author_records(kept, STARTED_AT))


@pytest.fixture(scope="module")
def documents(authors: pl.DataFrame) -> pl.DataFrame:
    return transform.record_documents(authors)


def test_filter_stages(
    benchmark: BenchmarkFixture,
    bench_profiles: pl.DataFrame,
    rulebook: tuple[rules.BrandRules, rules.RiskRules],
) -> None:
    result = benchmark.pedantic(filtered, args=(bench_profiles, *rulebook), rounds=3, iterations=1)
    benchmark.extra_info["profiles"] = bench_profiles.height
    assert result.height == bench_profiles.height
    decisions = set(result["decision"])
    assert {"kept", "below_threshold"} <= decisions


def test_transform_stage(benchmark: BenchmarkFixture, decided: pl.DataFrame) -> None:
    kept = decided.filter(pl.col("decision") == "kept")
    records = benchmark.pedantic(
        transform.author_records, args=(kept, STARTED_AT), rounds=3, iterations=1
    )
    benchmark.extra_info["profiles"] = kept.height
    assert records.height == kept.height
    assert records["provenance_hash"].str.len_chars().eq(64).all()


def test_score_stages(benchmark: BenchmarkFixture, authors: pl.DataFrame) -> None:
    """The run's scores and the export's ranks and composite scores."""

    def scored_and_ranked(frame: pl.DataFrame) -> pl.DataFrame:
        return score.rescored(score.scored(frame), score.Scoring())

    ranked = benchmark.pedantic(scored_and_ranked, args=(authors,), rounds=3, iterations=1)
    benchmark.extra_info["authors"] = authors.height
    assert ranked["rank_global"].to_list() == list(range(1, authors.height + 1))


def test_validate_stage(
    benchmark: BenchmarkFixture, documents: pl.DataFrame, validators: list[Draft7Validator]
) -> None:
    checked = benchmark.pedantic(
        validate.validated, args=(documents, validators), rounds=3, iterations=1
    )
    benchmark.extra_info["records"] = documents.height
    assert checked.valid.height == documents.height and checked.invalid.is_empty()


def test_validate_record_by_record_with_jsonschema(
    benchmark: BenchmarkFixture, documents: pl.DataFrame, validators: list[Draft7Validator]
) -> None:
    """What validation cost before it was vectorised: jsonschema on each record."""
    sample = documents.head(JSONSCHEMA_RECORDS)

    def each_record() -> int:
        return sum(
            not any(True for validator in validators for _ in validator.iter_errors(record))
            for record in map(json.loads, sample["json"])
        )

    valid = benchmark.pedantic(each_record, rounds=1, iterations=1)
    benchmark.extra_info["records"] = sample.height
    assert valid == sample.height


def test_integrate_stage(
    benchmark: BenchmarkFixture, tmp_path: Path, decided: pl.DataFrame, authors: pl.DataFrame
) -> None:
    """One run's outcomes and authors into a new dataset file (one transaction)."""
    outcomes = decided.select(OUTCOMES_SCHEMA.names())
    rejected = decided.filter(
        pl.col("decision").is_in(["below_threshold", "brand", "risk"]) & pl.col("id").is_not_null()
    )["id"]
    rejects = pl.DataFrame(schema=SEED_REJECTS_SCHEMA)

    def fresh_store() -> tuple[tuple[Store], dict[str, object]]:
        # the generator's profiles are synthetic: a live dataset refuses them
        return (Store.open(tmp_path / f"run-{next(_runs)}.duckdb", "simulated"),), {}

    def integrate(store: Store) -> int:
        with store:
            return store.integrate("bench-run", outcomes, authors, rejected, rejects).new

    new = benchmark.pedantic(integrate, setup=fresh_store, rounds=3, iterations=1)
    benchmark.extra_info["outcomes"] = outcomes.height
    benchmark.extra_info["authors"] = authors.height
    assert new == authors.height
