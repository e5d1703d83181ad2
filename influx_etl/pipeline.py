"""The one pipeline every command line runs.

seeds → batches → lookup (raw documents committed to the store) → profiles → threshold → brand
→ risk → decision → transform → score → validate → integrate → export.

Everything that can be checked before the first request is checked first (rules files, schema,
seed files, the dataset file), so a typo never costs a rate-limit window.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from influx_etl import export, lookup, rules, score, seeds, threshold, transform, validate
from influx_etl.client import utc_now_iso
from influx_etl.config import PipelineConfig
from influx_etl.errors import InfluxError
from influx_etl.frames import OUTCOMES
from influx_etl.sources import RawBatch, open_source
from influx_etl.store import Integration, Store

log = logging.getLogger(__name__)

ProgressCallback = Callable[[RawBatch, int, int], None]
"""Called after each batch is committed: ``(batch, batches_done, batches_total)``."""


@dataclass(frozen=True)
class Rulebook:
    """Everything the filters and the validator need, loaded and checked before any lookup."""

    brand: rules.BrandRules
    risk: rules.RiskRules
    validators: tuple[Any, ...]
    schema_version: str


@dataclass(frozen=True)
class RunReport:
    run_id: str
    dataset: Path
    export_dir: Path
    synthetic: bool
    funnel: dict[str, int]
    integration: Integration
    manifest: export.Manifest
    seed_rejects: pl.DataFrame = field(repr=False)
    invalid_records: pl.DataFrame = field(repr=False)


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def load_rulebook(config: PipelineConfig, extra_schemas: tuple[Path, ...] = ()) -> Rulebook:
    schema = validate.load_schema(config.schema_path)
    validators = [validate.validator_for(schema)]
    validators += [validate.validator_for(validate.load_schema(p)) for p in extra_schemas]
    return Rulebook(
        brand=rules.load_brand_rules(config.rules.brand),
        risk=rules.load_risk_rules(config.rules.risk),
        validators=tuple(validators),
        schema_version=validate.schema_version(schema),
    )


def run_harvest(
    config: PipelineConfig,
    *,
    progress: ProgressCallback | None = None,
    extra_schemas: tuple[Path, ...] = (),
) -> RunReport:
    """Run the whole pipeline once and return what it did."""
    rulebook = load_rulebook(config, extra_schemas)
    seed_load = seeds.load_seeds(config.seed_paths)
    batches = lookup.batched(seed_load.frame, config.lookup.batch_size)
    work = lookup.batch_handles(batches)
    run_id = new_run_id()
    started_at = utc_now_iso()

    with open_source(config.lookup) as source:
        synthetic = source.kind == "simulated"
        outputs = config.outputs
        dataset_path = outputs.synthetic_dataset if synthetic else outputs.dataset
        with Store.open(dataset_path, source.kind) as store:
            store.begin_run(run_id, started_at, source.name, _run_args(config))
            try:
                for done, raw in enumerate(
                    lookup.raw_batches(source, work, config.lookup.parallel_batches), start=1
                ):
                    store.save_raw_batch(run_id, raw)
                    if progress is not None:
                        progress(raw, done, len(work))
                report = _processed_run(
                    store, run_id, started_at, seed_load, rulebook, config, synthetic
                )
            except (InfluxError, KeyboardInterrupt):
                store.finish_run(run_id, utc_now_iso(), "failed", {})
                raise
            store.finish_run(run_id, utc_now_iso(), "succeeded", report.funnel)
    return report


def _processed_run(
    store: Store,
    run_id: str,
    started_at: str,
    seed_load: seeds.SeedLoad,
    rulebook: Rulebook,
    config: PipelineConfig,
    synthetic: bool,
) -> RunReport:
    """Everything after the lookup, computed from the raw documents stored for ``run_id``."""
    decided = decided_profiles(store.raw_lookups(run_id), seed_load.frame, rulebook, config)
    kept = decided.filter(pl.col("decision") == "kept")
    authors = score.scored(transform.author_records(kept, started_at))
    checked = validate.validated(transform.record_documents(authors), rulebook.validators)
    for row in checked.invalid.iter_rows(named=True):
        log.error(
            "record %s (@%s) is invalid at %s: %s",
            row["id"],
            row["handle"],
            row["path"],
            row["message"],
        )
    valid_authors = authors.join(checked.valid.select("id"), on="id", how="semi")

    rejected_ids = decided.filter(
        pl.col("decision").is_in(["below_threshold", "brand", "risk"]) & pl.col("id").is_not_null()
    )["id"]
    outcomes = decided.select(
        "handle_key",
        "handle",
        "seed_file",
        "batch_id",
        "outcome",
        "outcome_detail",
        "id",
        "decision",
    )
    integration = store.integrate(run_id, outcomes, valid_authors, rejected_ids, seed_load.rejects)

    outputs = config.outputs
    export_dir = outputs.synthetic_export_dir if synthetic else outputs.export_dir
    manifest = export_dataset(store, export_dir, rulebook, config.extra_out)

    counts = decided.group_by("decision").len()
    by_decision = dict(zip(counts["decision"].to_list(), counts["len"].to_list(), strict=True))
    funnel = {
        "seed_rows": seed_load.rows_read,
        "invalid_seed_rows": seed_load.rejects.height,
        "looked_up": decided.height,
        **{outcome: int((decided["outcome"] == outcome).sum()) for outcome in OUTCOMES},
        "below_threshold": by_decision.get("below_threshold", 0),
        "brand": by_decision.get("brand", 0),
        "risk": by_decision.get("risk", 0),
        "kept": kept.height,
        "invalid_records": checked.invalid.height,
        "new": integration.new,
        "updated": integration.updated,
        "unchanged": integration.unchanged,
        "removed": integration.removed,
        "exported": manifest.count,
    }
    return RunReport(
        run_id=run_id,
        dataset=store.path,
        export_dir=export_dir,
        synthetic=synthetic,
        funnel=funnel,
        integration=integration,
        manifest=manifest,
        seed_rejects=seed_load.rejects,
        invalid_records=checked.invalid,
    )


def decided_profiles(
    raw: pl.DataFrame, seed_frame: pl.DataFrame, rulebook: Rulebook, config: PipelineConfig
) -> pl.DataFrame:
    """Raw documents → one decided row per seed handle (threshold, brand, risk, decision)."""
    profiles = lookup.profiles(raw).join(
        seed_frame.select("handle_key", "handle", "seed_file", "seed_files", "categories"),
        on="handle_key",
        how="left",
    )
    profiles = threshold.thresholded(profiles, config.thresholds)
    profiles = rules.brand_flagged(profiles, rulebook.brand)
    profiles = rules.risk_flagged(profiles, rulebook.risk)
    return rules.decided(profiles, config.rules.allow_brands, config.rules.allow_risk)


def export_dataset(
    store: Store, export_dir: Path, rulebook: Rulebook, extra_copy: Path | None
) -> export.Manifest:
    """Export the whole dataset (not just this run), ranked, validated and sorted."""
    ranked = score.ranked(store.authors())  # rows come back in rank order
    checked = validate.validated(transform.record_documents(ranked), rulebook.validators)
    if checked.invalid.height:
        for row in checked.invalid.iter_rows(named=True):
            log.error(
                "not exported: %s (@%s) invalid at %s: %s",
                row["id"],
                row["handle"],
                row["path"],
                row["message"],
            )
    return export.export_dataset(checked.valid, export_dir, rulebook.schema_version, extra_copy)


def _run_args(config: PipelineConfig) -> dict[str, Any]:
    """The run's settings for the runs table (the token is a Secret and never serialised)."""
    return {
        "seed_paths": [str(p) for p in config.seed_paths],
        "source": config.lookup.source,
        "base_url": config.lookup.base_url,
        "batch_size": config.lookup.batch_size,
        "parallel_batches": config.lookup.parallel_batches,
        "min_followers": config.thresholds.min_followers,
        "verified_min_followers": config.thresholds.verified_min_followers,
        "brand_rules": str(config.rules.brand),
        "risk_rules": str(config.rules.risk),
        "allow_brands": config.rules.allow_brands,
        "allow_risk": sorted(config.rules.allow_risk),
    }
