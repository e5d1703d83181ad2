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
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from influx_etl import (
    batching,
    export,
    funnel,
    list_members,
    lookup,
    plan,
    project,
    rules,
    score,
    seeds,
    threshold,
    timing,
    transform,
    validate,
)
from influx_etl.config import PipelineConfig
from influx_etl.errors import InfluxError, StoreError
from influx_etl.frames import AUTHORS_SCHEMA, OUTCOMES, OUTCOMES_SCHEMA
from influx_etl.funnel import Funnel
from influx_etl.sources import (
    BulkLookupSource,
    DatasetKind,
    LookupProgress,
    LookupSource,
    RawBatch,
    RawFile,
    open_source,
    resolved_spec,
    source_kind,
)
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.store import Integration, RunIntegration, Store
from influx_etl.usage import RunUsage, run_usage, usage_endpoint

log = logging.getLogger(__name__)

ProgressCallback = Callable[[RawBatch, int, int], None]
"""Called after each batch is committed: ``(batch, batches_done, batches_total)``."""


@runtime_checkable
class BulkProgress(Protocol):
    """Told the counts of a bulk answer (a prefetched file) once decided: its batches carry none."""

    def bulk_answered(self, batches: int, handles: int, found: int) -> None: ...


@dataclass(frozen=True)
class Rulebook:
    """Everything the filters and the validator need, loaded and checked before any lookup."""

    brand: rules.BrandRules
    risk: rules.RiskRules
    validators: tuple[Any, ...]
    schema_version: str
    versions: dict[str, Any] = field(default_factory=dict)
    """Rule file versions and content hashes, and the schema version, recorded with each run."""
    scoring: score.Scoring = field(default_factory=score.Scoring)
    """Composite score weights, used by the export."""


@dataclass(frozen=True)
class RunReport:
    run_id: str
    dataset: Path
    export_dir: Path
    synthetic: bool
    funnel: Funnel
    integration: Integration
    manifest: export.Manifest
    seed_rejects: pl.DataFrame = field(repr=False)
    invalid_records: pl.DataFrame = field(repr=False)
    elapsed_s: float = 0.0
    batches: int = 0
    """Batches requested by this run (a resumed run does not count the ones stored before)."""
    source: str = ""
    """The source's name as the run records it (``sim``, ``http://…``, ``prefetched:…``)."""
    plan: plan.LookupPlan | None = None
    """What the run planned (reused, looked up, requests; under a cap, what is left)."""
    usage: RunUsage | None = None
    """What the run's requests read, from the usage ledger."""
    per_file: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)
    """The run's funnel per seed file (:func:`influx_etl.funnel.per_seed_file`)."""


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def input_files(
    config: PipelineConfig, extra_schemas: tuple[Path, ...] = ()
) -> list[tuple[str, Path]]:
    """The rules, scoring, freshness and schema files a run reads, each checked to exist (the
    error names the file and ``influx init``)."""
    files = [
        (project.BRAND_RULES, config.rules.brand),
        (project.RISK_RULES, config.rules.risk),
        (project.SCORING, config.scoring_path),
        (project.FRESHNESS, config.plan.freshness_path),
        (project.SCHEMA, config.schema_path),
    ]
    return [
        (default.what, project.checked_file(path, default.what, default.flag))
        for default, path in files
    ] + [("schema", project.checked_file(p, "schema", "--also-validate")) for p in extra_schemas]


def load_rulebook(config: PipelineConfig, extra_schemas: tuple[Path, ...] = ()) -> Rulebook:
    input_files(config, extra_schemas)
    validators = validate.validators_for([config.schema_path, *extra_schemas])
    schema = validate.schema_document(validators[0])
    brand = rules.load_brand_rules(config.rules.brand)
    risk = rules.load_risk_rules(config.rules.risk)
    risk.checked_allowed(config.rules.allow_risk)  # a misspelt --allow-risk flag fails here
    schema_version = validate.schema_version(schema)
    scoring = score.load_scoring(config.scoring_path)
    versions = {
        "brand": {"version": brand.version, "sha256": _file_sha256(config.rules.brand)},
        "risk": {"version": risk.version, "sha256": _file_sha256(config.rules.risk)},
        "schema": schema_version,
        "scoring": {"version": scoring.version, "sha256": _file_sha256(config.scoring_path)},
        "freshness": {"sha256": _file_sha256(config.plan.freshness_path)},
    }
    return Rulebook(brand, risk, tuple(validators), schema_version, versions, scoring)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_harvest(
    config: PipelineConfig,
    *,
    progress: ProgressCallback | None = None,
    extra_schemas: tuple[Path, ...] = (),
    resume: bool = True,
    seed_load: seeds.SeedLoad | None = None,
    forced_keys: pl.Series | None = None,
    members_of_any_age: bool = False,
) -> RunReport:
    """Run the whole pipeline once and return what it did.

    The seeds are planned first (:mod:`influx_etl.plan`): a handle whose stored outcome is still
    fresh is reused, not looked up; the rest go in full batches, and a cap
    (``config.plan.max_requests`` / ``max_cost``) defers the batches beyond it (the run ends
    ``capped``; the next run continues). With ``resume`` (the default), an earlier run of the
    same work (same batches and source) that was killed or stopped by an error is taken over:
    only the handles its stored raw documents do not answer are looked up, in new batches.
    ``seed_load`` replaces reading ``config.seed_paths`` (the automation's pending files and
    refresh set); ``forced_keys`` are looked up even when fresh (the refresh set). A handle
    whose List member object was read within the ``found`` window (any age with
    ``members_of_any_age``: a replay of stored List pages) is answered by it, not looked up.
    """
    clock = time.perf_counter()
    with timing.stage("rulebook"):
        rulebook = load_rulebook(config, extra_schemas)
    # a progress display that also wants totals and rate-limit waits (see sources.LookupProgress)
    observer = progress if isinstance(progress, LookupProgress) else None
    with ExitStack() as opened:
        # Seeds are read and checked before any server or connection starts; a prefetched file
        # starts neither, and is hashed on a thread while the seeds load.
        prefetched = resolved_spec(config.lookup).startswith("prefetched:")
        if prefetched:
            source = opened.enter_context(open_source(config.lookup, observer))
        with timing.stage("seeds"):
            if seed_load is None:
                seed_load = seeds.load_seeds(config.seed_paths)
        if not prefetched:
            source = opened.enter_context(open_source(config.lookup, observer))
        store = opened.enter_context(open_dataset(config, source.kind))
        with timing.stage("plan"):
            work = planned_work(store, config, seed_load, forced_keys, members_of_any_age)
            batches = work.batches.drop("deferred", "from_lists")
        with timing.stage("fingerprint"):
            fingerprint = work_fingerprint(batches, source.name)
        run_id = store.unfinished_run(fingerprint) if resume else None
        started_at = utc_now_iso()
        if run_id is None:
            run_id = new_run_id()
            args = {**_run_args(config), "seed_rows": seed_load.rows_read}
            with timing.stage("begin_run"):
                store.begin_run(
                    run_id,
                    started_at,
                    source.name,
                    args,
                    fingerprint=fingerprint,
                    seeds=batches,
                    operator=config.operator,
                    rules_versions=rulebook.versions,
                )
                store.record_seed_files(run_id, seed_load.files)
            pending = work.batches
        else:
            store.reopen_run(run_id)
            settled = plan.settled_handles(store.raw_lookups(run_id))
            pending = batches.filter(~pl.col("handle_key").is_in(settled.implode()))
            log.warning(
                "resuming run %s: %d handles already answered, %d to look up",
                run_id,
                settled.len(),
                pending.height,
            )
            pending = plan.capped_batches(
                batching.batched(
                    pending, config.lookup.batch_size, first_batch_id=store.next_batch_id(run_id)
                ),
                config.plan,
                config.lookup.endpoint,
            ).with_columns(from_lists=pl.lit(False))
        deferred = pending.filter(pl.col("deferred"))["handle_key"]
        pending = pending.filter(~pl.col("deferred")).drop("deferred")
        if deferred.len():
            log.warning(
                "capped: %d handles in %d batches this run, %d left for the next run",
                pending.height,
                pending["batch_id"].n_unique(),
                deferred.len(),
            )
        asked = ~pending["from_lists"]  # the others are answered by stored List members
        looked_up_batches = pending["batch_id"].filter(asked).n_unique()
        if observer is not None:
            observer.lookup_started(looked_up_batches, int(asked.sum()))
        try:
            with timing.stage("lookup"):
                _looked_up(store, run_id, source, pending, config, progress, work.answers)
            del pending
            with timing.stage("read_raw"):
                raw = store.raw_lookups(run_id)
            report = _processed_run(
                store,
                run_id,
                started_at,
                RunInputs(
                    raw=raw,
                    seeds=batches.filter(~pl.col("handle_key").is_in(deferred.implode())),
                    seed_rejects=seed_load.rejects,
                    seed_rows=seed_load.rows_read,
                    reused=work.reused,
                    refused_seed_files=seed_load.refused.height,
                ),
                rulebook,
                config,
            )
        except (InfluxError, KeyboardInterrupt):
            store.finish_run(run_id, utc_now_iso(), "failed", {})
            raise
        unsettled = pl.concat([deferred, store.failed_handle_keys(run_id)])
        settled_files = _settled_files(seed_load, unsettled)
        store.mark_seed_files_processed(run_id, settled_files)
        if deferred.len():
            status = "capped"
        elif report.funnel["failed"]:
            # Not settled: the same command again asks only for these (the rest is fresh).
            log.warning(
                "%d handles failed; run the same command again to retry only them",
                report.funnel["failed"],
            )
            status = "incomplete"
        else:
            status = "succeeded"
        store.finish_run(run_id, utc_now_iso(), status, report.funnel)
        usage = run_usage(store, run_id, config.plan.price_per_user)
        outcomes = store.handle_outcomes(run_id)
        if isinstance(progress, BulkProgress) and isinstance(source, BulkLookupSource):
            looked_up = outcomes.filter(pl.col("batch_id").is_not_null())  # not the reused
            found = int((looked_up["outcome"] == "found").sum())
            progress.bulk_answered(looked_up_batches, looked_up.height, found)
        per_file = funnel.per_seed_file(seed_load.frame, outcomes, seed_load.rejects)
    return replace(
        report,
        elapsed_s=time.perf_counter() - clock,
        batches=looked_up_batches,
        source=source.name,
        plan=work.plan,
        usage=usage,
        per_file=per_file,
    )


def planned_work(
    store: Store,
    config: PipelineConfig,
    seed_load: seeds.SeedLoad,
    forced_keys: pl.Series | None = None,
    members_of_any_age: bool = False,
) -> plan.LookupWork:
    """The plan of a run of ``seed_load`` against what ``store`` already knows (no request)."""
    now = datetime.now(UTC)
    keys = seed_load.frame["handle_key"]
    since = None if members_of_any_age else plan.fresh_since(config.plan, "found", now)
    answers = (
        None
        if config.plan.refresh and not members_of_any_age
        else store.member_answers(keys, since)
    )
    return plan.lookup_work(
        seed_load,
        store.handle_checks(keys),
        config.plan,
        config.lookup.batch_size,
        now,
        endpoint=config.lookup.endpoint,
        forced_keys=forced_keys,
        answers=answers,
    )


def plan_harvest(
    config: PipelineConfig,
    seed_load: seeds.SeedLoad | None = None,
    forced_keys: pl.Series | None = None,
) -> plan.LookupPlan:
    """What :func:`run_harvest` would do with the same arguments, sending nothing."""
    if seed_load is None:
        seed_load = seeds.load_seeds(config.seed_paths)
    with open_dataset(config) as store:
        return planned_work(store, config, seed_load, forced_keys).plan


def _settled_files(seed_load: seeds.SeedLoad, unsettled_keys: pl.Series) -> list[str]:
    """The sha256 of the seed files none of whose handles is in ``unsettled_keys``."""
    unsettled = (
        seed_load.frame.filter(pl.col("handle_key").is_in(unsettled_keys.implode()))
        .select(pl.col("seed_files").explode())
        .to_series()
    )
    files = seed_load.files.filter(~pl.col("name").is_in(unsettled.implode()))
    return files["sha256"].to_list()


def _looked_up(
    store: Store,
    run_id: str,
    source: LookupSource,
    batches: pl.DataFrame,
    config: PipelineConfig,
    progress: ProgressCallback | None,
    answers: pl.DataFrame,
) -> None:
    """Look the ``batches`` (``batch_id``, ``handle``) up and commit their raw answers.

    The ``from_lists`` batches are answered by stored List member objects (``answers``) with no
    request, committed first.

    A source that already holds every answer (:class:`BulkLookupSource`, a prefetched file)
    answers all batches at once with a reference to its data, stored in one transaction (one
    progress step; a :class:`BulkProgress` hears of it once decided); other sources' batches are
    committed one by one as they arrive (crash safety), each with its line in the usage ledger.
    """
    stored = batches.filter(pl.col("from_lists"))
    if stored.height:
        store.save_member_answers(run_id, list_members.member_answer_batches(stored, answers))
    batches = batches.filter(~pl.col("from_lists")).drop("from_lists")
    if isinstance(source, BulkLookupSource):
        answer = source.bulk_answer()
        store.save_bulk_batches(run_id, batches, answer)
        if progress is not None and batches.height and not isinstance(progress, BulkProgress):
            total = batches["batch_id"].n_unique()
            progress(replace(answer, batch_id=total - 1), total, total)
        return
    # a million handles as Python strings are ~100 MB: made only for the sources that need them
    work = batching.batch_handles(batches)
    endpoint = usage_endpoint(config)
    parallel = config.lookup.parallel_batches
    for done, raw in enumerate(batching.raw_batches(source, work, parallel), start=1):
        store.save_raw_batch(run_id, raw)
        # per-user: one request per handle at least; bulk: one per attempt
        requests = len(raw.handles) if config.lookup.endpoint == "per-user" else raw.attempts
        store.record_usage(run_id, raw.batch_id, endpoint, requests)
        if progress is not None:
            progress(raw, done, len(work))


def replay_run(
    config: PipelineConfig, source_run: str | None = None, *, extra_schemas: tuple[Path, ...] = ()
) -> RunReport:
    """Recompute threshold, rules, scores and the dataset from a stored run's raw lookups.

    No request is sent: this is how a rules or threshold change is applied to what was already
    looked up. The replay is recorded as a run of its own (source ``replay:RUN_ID``).
    """
    rulebook = load_rulebook(config, extra_schemas)
    with open_dataset(config, source_kind(config.lookup)) as store:
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
        store.begin_run(
            run_id,
            started_at,
            f"replay:{source_run}",
            args,
            operator=config.operator,
            rules_versions=rulebook.versions,
        )
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
    # the lines "\n<batch id>:<handle>,<handle>..." in batch order, made by Polars (a Python loop
    # is far slower: docs/performance.md)
    lines = (
        batches.group_by("batch_id", maintain_order=True)
        .agg(pl.col("handle").str.join(","))
        .select(pl.format("\n{}:{}", "batch_id", "handle"))
        .to_series()
    )
    digest.update("".join(lines.to_list()).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunInputs:
    """What everything after the lookup is computed from: stored raw documents and the seeds."""

    raw: pl.DataFrame
    seeds: pl.DataFrame
    seed_rejects: pl.DataFrame
    seed_rows: int
    reused: pl.DataFrame | None = None
    """Seed rows (SEEDS_SCHEMA) whose fresh stored outcome is recorded instead of a lookup."""
    refused_seed_files: int = 0
    """Seed files refused unread (not UTF-8 text)."""


def open_dataset(config: PipelineConfig, kind: DatasetKind | None = None) -> Store:
    """The dataset file for ``kind`` (default: the configured source's): live or synthetic."""
    kind = kind or source_kind(config.lookup)
    outputs = config.outputs
    path = outputs.synthetic_dataset if kind == "simulated" else outputs.dataset
    return Store.open(path, kind, memory_limit=config.store_memory)


def _processed_run(
    store: Store,
    run_id: str,
    started_at: str,
    inputs: RunInputs,
    rulebook: Rulebook,
    config: PipelineConfig,
) -> RunReport:
    """Everything after the lookup: decisions, records, integration and export.

    Decisions arrive in chunks (one for API documents; one per ``config.chunk_rows`` lines of a
    prefetched file): each chunk's outcomes go to the store at once, and its kept rows become
    validated author rows staged in the store (only the validation failures stay in memory),
    so a file of ten million profiles never has to fit. Outcomes and authors are written in one
    transaction; the export then reads the dataset in slices.
    """
    banned = store.banned()
    invalid_parts: list[pl.DataFrame] = []
    notes = lookup.LookupNotes()
    with store.run_integration(run_id) as writer:
        chunks = decided_chunks(inputs.raw, inputs.seeds, rulebook, config, notes)
        for part, decided in enumerate(chunks):
            with timing.stage("banned"):
                decided = without_banned(decided, banned)
            with timing.stage("outcomes"):
                writer.add_outcomes(decided.select(OUTCOMES_SCHEMA.names()))
            kept = decided.filter(pl.col("decision") == "kept")
            del decided
            authors, invalid = checked_authors(kept, started_at, rulebook)
            del kept
            with timing.stage("integrate"):
                writer.add_authors(authors, part=part, invalid_ids=invalid["id"])
            invalid_parts.append(invalid.with_columns(part=pl.lit(part, pl.Int64)))
        reused = 0
        if inputs.reused is not None and inputs.reused.height:
            with timing.stage("reuse"):
                reused = _add_reused(store, writer, inputs.reused, banned, part=len(invalid_parts))
        with timing.stage("settle"):
            invalid = pl.concat(invalid_parts)  # never empty: every run has one chunk at least
            if writer.settle():
                # a handle the file holds twice: its last answer decided (and may not keep it)
                remaining = writer.keep_settled_authors()
                invalid = invalid.join(remaining, on=["id", "part"], how="semi")
            invalid = invalid.drop("part")
            counts = writer.counts()
        _log_invalid(invalid, "not integrated")
        if notes.unrequested_users:
            log.warning(
                "%d users in the answers matched no requested handle (e.g. @%s): ignored",
                notes.unrequested_users,
                ", @".join(dict.fromkeys(notes.unrequested_examples)),
            )
        with timing.stage("integrate"):
            integration = writer.merge_authors(inputs.seed_rejects)
            store.record_checks(run_id)

    synthetic = store.kind == "simulated"
    outputs = config.outputs
    export_dir = outputs.synthetic_export_dir if synthetic else outputs.export_dir
    with timing.stage("export"):
        manifest = export_dataset(store, export_dir, rulebook, config.extra_out)

    funnel = Funnel(
        seed_rows=inputs.seed_rows,
        invalid_seed_rows=inputs.seed_rejects.height,
        refused_seed_files=inputs.refused_seed_files,
        broken_input_lines=notes.broken_lines,
        unrequested_users=notes.unrequested_users,
        reused=reused,
        looked_up=counts.total - reused,
        **{outcome: counts.outcomes.get(outcome, 0) for outcome in OUTCOMES},
        below_threshold=counts.decisions.get("below_threshold", 0),
        brand=counts.decisions.get("brand", 0),
        risk=counts.decisions.get("risk", 0),
        banned=counts.decisions.get("banned", 0),
        kept=counts.decisions.get("kept", 0),
        invalid_records=invalid.height,
        new=integration.new,
        updated=integration.updated,
        unchanged=integration.unchanged,
        removed=integration.removed,
        exported=manifest.count,
    )
    return RunReport(
        run_id=run_id,
        dataset=store.path,
        export_dir=export_dir,
        synthetic=synthetic,
        funnel=funnel,
        integration=integration,
        manifest=manifest,
        seed_rejects=inputs.seed_rejects,
        invalid_records=invalid,
    )


def _add_reused(
    store: Store,
    writer: RunIntegration,
    reused: pl.DataFrame,
    banned: pl.DataFrame,
    *,
    part: int,
) -> int:
    """Record the fresh stored outcomes of the ``reused`` seeds for this run's seed files, and
    stage their kept authors with these files and categories (the merge adds them to what the
    dataset knew); returns how many outcomes were reused."""
    seeds_of = reused.select("handle_key", "handle", "seed_file", "seed_files", "categories")
    stored = store.latest_outcomes(reused["handle_key"])
    outcomes = without_banned(
        stored.drop("handle", "seed_file", "batch_id")
        .join(seeds_of, on="handle_key", how="inner")
        .with_columns(pl.lit(None, pl.Int64).alias("batch_id")),
        banned,
    )
    writer.add_outcomes(outcomes.select(OUTCOMES_SCHEMA.names()))
    kept = outcomes.filter(pl.col("decision") == "kept")
    authors = store.authors_with_ids(kept["id"])
    if authors.height:
        from_seeds = kept.select(
            "id",
            pl.col("seed_files").alias("__seed_files"),
            transform.topic_tags(pl.col("categories")).alias("__topic_tags"),
        )
        authors = authors.join(from_seeds, on="id", how="inner").with_columns(
            pl.col("__seed_files").alias("seed_files"), pl.col("__topic_tags").alias("topic_tags")
        )
        writer.add_authors(authors.select(AUTHORS_SCHEMA.names()), part=part)
    return outcomes.height


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


def checked_authors(
    kept: pl.DataFrame, started_at: str, rulebook: Rulebook
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Kept profiles → scored author rows (AUTHORS_SCHEMA) and the validation failures of
    their records (``id``, ``handle``, ``path``, ``message``)."""
    with timing.stage("transform"):
        records = transform.author_records(kept, started_at)
    with timing.stage("score"):
        authors = score.scored(records)
    with timing.stage("validate"):
        checked = validate.validated(
            transform.record_documents(authors, record=True, text=False), rulebook.validators
        )
    return authors, checked.invalid


def decided_profiles(
    raw: pl.DataFrame,
    seed_frame: pl.DataFrame,
    rulebook: Rulebook,
    config: PipelineConfig,
    notes: lookup.LookupNotes | None = None,
) -> pl.DataFrame:
    """Raw documents → one decided row per seed handle (threshold, brand, risk, decision);
    broken lines of a prefetched file and unrequested users are counted in ``notes``."""
    with timing.stage("profiles"):
        profiles = lookup.profiles(raw, notes)
    return _decided(profiles, seed_frame, rulebook, config)


def decided_chunks(
    raw: pl.DataFrame,
    seed_frame: pl.DataFrame,
    rulebook: Rulebook,
    config: PipelineConfig,
    notes: lookup.LookupNotes | None = None,
) -> Iterator[pl.DataFrame]:
    """:func:`decided_profiles` in chunks: a run answered by one prefetched file is read
    ``config.chunk_rows`` lines at a time (:func:`lookup.file_profiles`; a handle the file holds
    twice comes again in a later chunk, and its last row is its answer); any other run is one
    chunk. Broken lines of a prefetched file and unrequested users are counted in ``notes``."""
    reference = _answering_file(raw)
    if reference is None:
        yield decided_profiles(raw, seed_frame, rulebook, config, notes)
        return
    requested = _requested_from_seeds(raw, seed_frame)
    per_batch = None
    if requested is None:
        requested = (
            batching.requested_handles(raw)
            .drop("handle")  # the seeds' own (carried) stands in the records
            # a handle asked in two batches (a resumed run) is answered by the later one
            .unique("handle_key", keep="last", maintain_order=True)
            .join(
                seed_frame.select("handle_key", *_SEED_COLUMNS),
                on="handle_key",
                how="left",
                maintain_order="left",
            )
        )
    else:
        per_batch = raw.select(
            "batch_id", "default_origin", pl.col("requested_at").alias("fetched_at")
        )
    chunks = lookup.file_profiles(
        reference, requested, config.chunk_rows, _SEED_COLUMNS, per_batch=per_batch, notes=notes
    )
    while True:
        with timing.stage("profiles"):
            profiles = next(chunks, None)
        if profiles is None:
            return
        yield _decided(profiles, seed_frame, rulebook, config)


_SEED_COLUMNS = ("handle", "seed_file", "seed_files", "categories", "note")
"""What the decisions and records take from the seeds (the handle as the curator wrote it)."""


def _requested_from_seeds(raw: pl.DataFrame, seed_frame: pl.DataFrame) -> pl.DataFrame | None:
    """The handles a run requested, taken from its seeds (one row per handle already, and a
    selection shares the seeds' memory) when its raw batches are exactly the seeds' batches:
    exploding the batches' lists, deduplicating and joining the seeds again costs far more memory
    (docs/performance.md). ``None`` for a resumed run (its later batches re-batched the seeds).
    The batch's time and origin are joined per chunk (:func:`lookup.file_profiles`)."""
    batch_ids = seed_frame["batch_id"].unique().sort()
    if raw.height != batch_ids.len() or not raw["batch_id"].sort().equals(batch_ids):
        return None
    return seed_frame.select("batch_id", "handle_key", *_SEED_COLUMNS)


def _answering_file(raw: pl.DataFrame) -> RawFile | None:
    """The prefetched file that answers every batch of ``raw``, if one does."""
    if raw.is_empty() or "raw_file" not in raw.columns:
        return None
    files = raw["raw_file"].unique()
    if files.len() != 1 or files[0] is None or raw["error"].is_not_null().any():
        return None
    return RawFile.from_json(files[0])


def _decided(
    profiles: pl.DataFrame, seed_frame: pl.DataFrame, rulebook: Rulebook, config: PipelineConfig
) -> pl.DataFrame:
    if "seed_file" not in profiles.columns:
        with timing.stage("profiles"):
            # the seed columns are joined to the handle keys alone and laid beside the profiles:
            # a join of the profiles would copy every profile column (docs/performance.md)
            seed_columns = (
                profiles.select("handle_key")
                .join(
                    seed_frame.select("handle_key", *_SEED_COLUMNS),
                    on="handle_key",
                    how="left",
                    maintain_order="left",
                )
                .drop("handle_key")
            )
            profiles = profiles.hstack(seed_columns.get_columns())
    with timing.stage("threshold"):
        profiles = threshold.thresholded(profiles, config.thresholds)
    with timing.stage("rules"):
        profiles = rules.flagged(profiles, rulebook.brand, rulebook.risk)
    with timing.stage("decision"):
        return rules.decided(profiles, config.rules.allow_brands, config.rules.allow_risk)


def without_banned(decided: pl.DataFrame, banned: pl.DataFrame) -> pl.DataFrame:
    """Decisions with authors who asked to be removed marked ``banned`` (by id or handle)."""
    is_banned = pl.col("id").is_in(banned["id"].drop_nulls().implode()) | pl.col(
        "handle_key"
    ).is_in(banned["handle_key"].implode())
    return decided.with_columns(
        pl.when(is_banned & (pl.col("outcome") == "found"))
        .then(pl.lit("banned"))
        .otherwise(pl.col("decision"))
        .alias("decision")
    )


def export_dataset(
    store: Store, export_dir: Path, rulebook: Rulebook, extra_copy: Path | None
) -> export.Manifest:
    """Export the whole dataset (not just this run), ranked, validated and sorted."""
    return export.export_authors(
        store,
        export_dir,
        rulebook.validators,
        rulebook.schema_version,
        rulebook.scoring,
        extra_copy,
    )


def _run_args(config: PipelineConfig) -> dict[str, Any]:
    """The run's settings for the runs table (the token is a Secret and never serialised)."""
    return {
        "seed_paths": [str(p) for p in config.seed_paths],
        "source": config.lookup.source,
        "endpoint": config.lookup.endpoint,
        "base_url": config.lookup.base_url,
        "batch_size": config.lookup.batch_size,
        "parallel_batches": config.lookup.parallel_batches,
        "backend": config.lookup.backend,
        "min_followers": config.thresholds.min_followers,
        "verified_min_followers": config.thresholds.verified_min_followers,
        "brand_rules": str(config.rules.brand),
        "risk_rules": str(config.rules.risk),
        "allow_brands": config.rules.allow_brands,
        "allow_risk": sorted(config.rules.allow_risk),
    }
