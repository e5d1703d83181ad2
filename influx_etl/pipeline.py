"""The one pipeline every command line runs.

seeds → batches → lookup (raw documents committed to the store) → profiles → threshold → brand
→ risk → decision → transform → score → validate → integrate → export.

Everything that can be checked before the first request is checked first (rules files, schema,
seed files, the dataset file), so a typo never costs a rate-limit window.
"""

from __future__ import annotations

import hashlib
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
from influx_etl.errors import InfluxError, StoreError
from influx_etl.frames import OUTCOMES
from influx_etl.sources import DatasetKind, RawBatch, open_source, source_kind
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
    resume: bool = True,
) -> RunReport:
    """Run the whole pipeline once and return what it did.

    With ``resume`` (the default), an earlier run of the same work (same seeds, batching and
    source) that never finished — killed, or stopped by an error — is taken over: the batches it
    already stored are not requested again.
    """
    rulebook = load_rulebook(config, extra_schemas)
    seed_load = seeds.load_seeds(config.seed_paths)
    batches = lookup.batched(seed_load.frame, config.lookup.batch_size)

    with open_source(config.lookup) as source, _open_store(config, source.kind) as store:
        fingerprint = work_fingerprint(batches, source.name)
        run_id = store.unfinished_run(fingerprint) if resume else None
        started_at = utc_now_iso()
        if run_id is None:
            run_id = new_run_id()
            args = {**_run_args(config), "seed_rows": seed_load.rows_read}
            store.begin_run(
                run_id, started_at, source.name, args, fingerprint=fingerprint, seeds=batches
            )
            fetched: set[int] = set()
        else:
            store.reopen_run(run_id)
            fetched = store.fetched_batches(run_id)
            log.warning("resuming run %s: %d batches already stored", run_id, len(fetched))
        work = [(b, handles) for b, handles in lookup.batch_handles(batches) if b not in fetched]
        try:
            for done, raw in enumerate(
                lookup.raw_batches(source, work, config.lookup.parallel_batches), start=1
            ):
                store.save_raw_batch(run_id, raw)
                if progress is not None:
                    progress(raw, done, len(work))
            report = _processed_run(
                store,
                run_id,
                started_at,
                RunInputs(
                    raw=store.raw_lookups(run_id),
                    seeds=batches,
                    seed_rejects=seed_load.rejects,
                    seed_rows=seed_load.rows_read,
                ),
                rulebook,
                config,
            )
        except (InfluxError, KeyboardInterrupt):
            store.finish_run(run_id, utc_now_iso(), "failed", {})
            raise
        store.finish_run(run_id, utc_now_iso(), "succeeded", report.funnel)
    return report


def replay_run(
    config: PipelineConfig, source_run: str | None = None, *, extra_schemas: tuple[Path, ...] = ()
) -> RunReport:
    """Recompute threshold, rules, scores and the dataset from a stored run's raw lookups.

    No request is sent: this is how a rules or threshold change is applied to what was already
    looked up. The replay is recorded as a run of its own (source ``replay:RUN_ID``).
    """
    rulebook = load_rulebook(config, extra_schemas)
    with _open_store(config, source_kind(config.lookup)) as store:
        source_run = source_run or store.latest_run_with_raw()
        if source_run is None:
            raise StoreError(f"{store.path} holds no run with raw lookups to replay")
        inputs = RunInputs(
            raw=store.raw_lookups(source_run),
            seeds=store.run_seeds(source_run),
            seed_rejects=store.seed_rejects(source_run),
            seed_rows=store.run_seed_rows(source_run),
        )
        if inputs.raw.is_empty():
            raise StoreError(f"run {source_run} has no raw lookups in {store.path}")
        run_id = new_run_id()
        started_at = utc_now_iso()
        args = {**_run_args(config), "replay_of": source_run}
        store.begin_run(run_id, started_at, f"replay:{source_run}", args)
        try:
            report = _processed_run(store, run_id, started_at, inputs, rulebook, config)
        except (InfluxError, KeyboardInterrupt):
            store.finish_run(run_id, utc_now_iso(), "failed", {})
            raise
        store.finish_run(run_id, utc_now_iso(), "succeeded", report.funnel)
    return report


def work_fingerprint(batches: pl.DataFrame, source_name: str) -> str:
    """Identifies a run's work: the same seeds in the same batches from the same source."""
    digest = hashlib.sha256(source_name.encode())
    for batch_id, handles in lookup.batch_handles(batches):
        digest.update(f"\n{batch_id}:{','.join(handles)}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunInputs:
    """What everything after the lookup is computed from: stored raw documents and the seeds."""

    raw: pl.DataFrame
    seeds: pl.DataFrame
    seed_rejects: pl.DataFrame
    seed_rows: int


def _open_store(config: PipelineConfig, kind: DatasetKind) -> Store:
    outputs = config.outputs
    return Store.open(outputs.synthetic_dataset if kind == "simulated" else outputs.dataset, kind)


def _processed_run(
    store: Store,
    run_id: str,
    started_at: str,
    inputs: RunInputs,
    rulebook: Rulebook,
    config: PipelineConfig,
) -> RunReport:
    """Everything after the lookup: decisions, records, integration and export."""
    decided = decided_profiles(inputs.raw, inputs.seeds, rulebook, config)
    kept = decided.filter(pl.col("decision") == "kept")
    authors = score.scored(transform.author_records(kept, started_at))
    checked = validate.validated(transform.record_documents(authors), rulebook.validators)
    _log_invalid(checked.invalid, "not integrated")
    valid_authors = authors.join(checked.valid.select("id"), on="id", how="semi")

    rejected_ids = decided.filter(
        pl.col("decision").is_in(["below_threshold", "brand", "risk"]) & pl.col("id").is_not_null()
    )["id"]
    integration = store.integrate(run_id, decided, valid_authors, rejected_ids, inputs.seed_rejects)

    synthetic = store.kind == "simulated"
    outputs = config.outputs
    export_dir = outputs.synthetic_export_dir if synthetic else outputs.export_dir
    manifest = export_dataset(store, export_dir, rulebook, config.extra_out)

    counts = decided.group_by("decision").len()
    by_decision = dict(zip(counts["decision"].to_list(), counts["len"].to_list(), strict=True))
    funnel = {
        "seed_rows": inputs.seed_rows,
        "invalid_seed_rows": inputs.seed_rejects.height,
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
        seed_rejects=inputs.seed_rejects,
        invalid_records=checked.invalid,
    )


def _log_invalid(invalid: pl.DataFrame, what: str) -> None:
    for row in invalid.iter_rows(named=True):
        log.error(
            "%s: %s (@%s) invalid at %s: %s",
            what,
            row["id"],
            row["handle"],
            row["path"],
            row["message"],
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
