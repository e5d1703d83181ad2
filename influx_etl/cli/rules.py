"""``influx-rules``: explain, check, audit and measure the brand and risk rules.

- ``explain HANDLE``: why an author was kept or dropped in a run, read from the dataset file.
- ``check FILE...``: validate rule files (exit 1 with file, key and what was expected).
- ``flagged``: the audit of flagged accounts of a run (any brand match or risk flag), as a table or
  JSONL (``processing_rules.log_flagged``).
- ``accuracy``: precision and recall of the brand and risk decisions against hand labels.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import polars as pl
import yaml

from influx_etl import rules
from influx_etl.cli.datasets import dataset_options
from influx_etl.errors import InfluxError, RulesError, StoreError
from influx_etl.frames import PROFILES_SCHEMA
from influx_etl.rules import accuracy
from influx_etl.rules.explain import explanation, run_settings
from influx_etl.safe_text import visible_text
from influx_etl.store import Store

FLAGGED_COLUMNS = (
    "run_id",
    "handle",
    "username",
    "id",
    "followers_count",
    "brand_matches",
    "brand_confidence",
    "is_org",
    "is_official",
    "risk_matches",
    "risk_flags",
    "risk_excluded",
    "decision",
)
"""The audit's columns (the same as the ``flagged_accounts`` view of the dataset)."""


def _fail(message: str) -> None:
    click.echo(visible_text(f"error: {message}"), err=True)
    sys.exit(1)


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Report an :class:`InfluxError` as ``error: …`` and exit 1, without a traceback."""

    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except InfluxError as error:
            _fail(str(error))

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Explain, check, audit and measure the brand and risk rules."""


# -- the dataset ------------------------------------------------------------------------------


@contextmanager
def _stores(dataset: Path) -> Iterator[list[Store]]:
    with Store.open_existing(dataset) as store:
        yield [store]


def _runs_newest_first(store: Store) -> list[dict[str, Any]]:
    runs = store.runs()
    return list(reversed(runs.to_dicts())) if runs.height else []


def _find_outcome(
    stores: list[Store], handle_key: str, run_id: str | None
) -> tuple[Store, dict[str, Any], dict[str, Any]] | None:
    """The newest run (or ``run_id``) that decided ``handle_key``: its store, run and row."""
    best: tuple[Store, dict[str, Any], dict[str, Any]] | None = None
    for store in stores:
        for run in _runs_newest_first(store):
            if run_id is not None and run["run_id"] != run_id:
                continue
            rows = store.handle_outcomes(run["run_id"]).filter(pl.col("handle_key") == handle_key)
            if rows.height:
                if best is None or str(run["started_at"]) > str(best[1]["started_at"]):
                    best = (store, run, rows.row(0, named=True))
                break
    return best


def _rules_of(path_text: str | None, option: Path | None, load: Callable[[Path], Any]) -> Any:
    path = option or (Path(path_text) if path_text else None)
    if path is None or not path.exists():
        return None
    try:
        return load(path)
    except RulesError as error:
        click.echo(f"note: cannot read the rules ({error}); weights are not shown", err=True)
        return None


@main.command("explain")
@click.argument("handle")
@dataset_options
@click.option("--run", "run_id", metavar="RUN_ID", help="The run to explain (default: the newest).")
@click.option(
    "--brand-rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules file for the weights (default: the file the run used).",
)
@click.option(
    "--risk-rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules file for the categories (default: the file the run used).",
)
@_guarded
def explain_command(
    handle: str,
    dataset: Path,
    run_id: str | None,
    brand_rules: Path | None,
    risk_rules: Path | None,
) -> None:
    """Why HANDLE was kept or dropped: outcome, followers vs the threshold, every matched rule
    with its weight, the confidence vs flag_threshold, the risk flags and which exclude, and the
    decision."""
    handle_key = handle.strip().lstrip("@").lower()
    with _stores(dataset) as stores:
        found = _find_outcome(stores, handle_key, run_id)
        if found is None:
            where = f"run {run_id}" if run_id else "any run"
            raise StoreError(f"@{handle_key} was not looked up in {where} of {dataset}")
        store, run, outcome = found
        settings = run_settings(run)
        brand = _rules_of(settings.get("brand_rules"), brand_rules, rules.load_brand_rules)
        risk = _rules_of(settings.get("risk_rules"), risk_rules, rules.load_risk_rules)
        for line in explanation(outcome, run, brand, risk):
            # the lines quote what the run stored from the profile (matches, outcome details)
            click.echo(visible_text(line))
        click.echo(f"dataset:    {store.path}")
        recorded = _recorded_versions(run)
        for label, loaded in (("brand", brand), ("risk", risk)):
            source = loaded.source if loaded is not None else "not available"
            note = ""
            digest = recorded.get(label, {}).get("sha256") if loaded is not None else None
            if digest and _sha256(Path(loaded.source)) != digest:
                note = " (changed since the run: weights and categories are today's)"
            click.echo(f"{label} rules: {source}{note}")


def _recorded_versions(run: dict[str, Any]) -> dict[str, Any]:
    """The rule file versions and hashes the run recorded (``runs.rules_versions``), if any."""
    value = run.get("rules_versions")
    try:
        loaded = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@main.command("flagged")
@dataset_options
@click.option("--run", "run_id", metavar="RUN_ID", help="Default: the newest run.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the audit as JSONL (one flagged account per line) instead of a table.",
)
@_guarded
def flagged_command(dataset: Path, run_id: str | None, out: Path | None) -> None:
    """The accounts a run flagged (any brand match or risk flag): handle, matches, decision."""
    with _stores(dataset) as stores:
        store = stores[0]
        runs = _runs_newest_first(store)
        if run_id is None and runs:
            run_id = str(runs[0]["run_id"])
        if run_id is None or run_id not in {str(run["run_id"]) for run in runs}:
            raise StoreError(f"{store.path} has no run {run_id or '(none yet)'}")
        outcomes = store.handle_outcomes(run_id)
    audit = flagged_accounts(outcomes)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in audit.to_dicts()),
            encoding="utf-8",
        )
        click.echo(f"{audit.height} flagged accounts of run {run_id} written to {out}")
        return
    click.echo(f"run {run_id}: {audit.height} flagged accounts")
    for row in audit.iter_rows(named=True):
        matches = [*(row["brand_matches"] or []), *(row["risk_matches"] or [])]
        line = f"  @{row['handle']:<16} {row['decision']:<15} {', '.join(matches)}"
        click.echo(visible_text(line))


def flagged_accounts(outcomes: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``handle_outcomes`` with a brand match or a risk flag (the audit)."""
    flagged = (pl.col("brand_matches").list.len() > 0).fill_null(False) | (
        pl.col("risk_flags").list.len() > 0
    ).fill_null(False)
    return outcomes.filter(flagged).select(FLAGGED_COLUMNS).sort("handle")


# -- rule files -------------------------------------------------------------------------------


def _kind_of(path: Path) -> str:
    """``brand`` or ``risk``: by the file's name, else by its keys."""
    name = path.name.lower()
    if "brand" in name:
        return "brand"
    if "risk" in name:
        return "risk"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "risk"  # the loader reports what is wrong with the file
    return "brand" if isinstance(document, dict) and "confidence_weights" in document else "risk"


_EMPTY_PROFILES = pl.DataFrame(schema=PROFILES_SCHEMA)


@main.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def check_command(files: tuple[Path, ...]) -> None:
    """Validate rule files (brand or risk, told apart by name or keys). Exit 1 on the first
    problem in any of them, with the file, the key and what was expected."""
    failed = False
    for path in files:
        kind = _kind_of(path)
        try:
            if kind == "brand":
                brand = rules.load_brand_rules(path)
                rules.brand_flagged(_EMPTY_PROFILES, brand)  # compiles every expression
                words = sum(len(c.keywords) for c in (*brand.name_keywords, *brand.bio_keywords))
                summary = (
                    f"{words} keywords, {len(brand.domain_patterns)} domain patterns, "
                    f"{len(brand.org_handles_blacklist)} blacklisted, "
                    f"{len(brand.exceptions)} exceptions"
                )
            else:
                risk = rules.load_risk_rules(path)
                rules.risk_flagged(_EMPTY_PROFILES, risk)
                summary = (
                    f"{len(risk.categories)} categories, flags {', '.join(sorted(risk.flag_names))}"
                )
        except InfluxError as error:
            failed = True
            click.echo(f"error: {error}", err=True)
            continue
        click.echo(f"{path}: ok ({kind} rules: {summary})")
    if failed:
        sys.exit(1)


# -- accuracy ---------------------------------------------------------------------------------


def _ratio(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def _interval(value: tuple[float, float] | None) -> str:
    return "" if value is None else f"[{value[0]:.2f}, {value[1]:.2f}]"


_HEADER = (
    f"{'rules':<22} {'decision':<8} {'split':<8} {'n':>4} {'pos':>4} {'TP':>4} {'FP':>4} "
    f"{'FN':>4} {'TN':>4} {'precision':>9} {'95% CI':<12} {'recall':>7} {'95% CI':<12}"
)


def _score_line(folder: Path, score: accuracy.Score) -> str:
    return (
        f"{folder!s:<22} {score.decision:<8} {score.split:<8} {score.labelled:>4} "
        f"{score.positives:>4} {score.true_positives:>4} {score.false_positives:>4} "
        f"{score.false_negatives:>4} {score.true_negatives:>4} {_ratio(score.precision):>9} "
        f"{_interval(score.precision_interval):<12} {_ratio(score.recall):>7} "
        f"{_interval(score.recall_interval):<12}"
    ).rstrip()


@main.command("accuracy")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("tests/rules/labels.csv"),
    show_default=True,
    help="Hand labels: handle, is_brand, is_risky, split, reason.",
)
@click.option(
    "--population",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The labelled profiles: JSONL of API user objects (e.g. ../shared/data/real_users.jsonl).",
)
@click.option(
    "--verdicts",
    is_flag=True,
    help="Measure against the QA verdicts recorded in the live dataset (influx qa-sample "
    "--record) instead of the labels: the current rules decide again on those authors.",
)
@dataset_options
@click.option(
    "--rules-dir",
    "rules_dirs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    help="Folder with brand_heuristics.yml and risk_terms.yml; repeat to compare "
    "(default: lists/rules).",
)
@click.option(
    "--kinds/--no-kinds",
    default=True,
    show_default=True,
    help="Also print each rule kind's true positives, false positives and false negatives.",
)
@_guarded
def accuracy_command(
    labels: Path,
    population: Path | None,
    verdicts: bool,
    dataset: Path,
    rules_dirs: tuple[Path, ...],
    kinds: bool,
) -> None:
    """Precision and recall (with 95% Wilson intervals) and the confusion counts of the brand
    decision (is_org) and the risk decision (risk_excluded), against hand labels on the tuning
    part, the held-out part and all, or against the curators' QA verdicts (--verdicts)."""
    if verdicts:
        dataset_file = dataset
        labelled = accuracy.verdict_labels(dataset_file)
        if not labelled.height:
            raise StoreError(
                f"{dataset_file} holds no QA verdict yet: record some with influx "
                "qa-sample --record FILE"
            )
        profiles = accuracy.dataset_profiles(dataset_file, labelled["handle"].to_list())
        splits: tuple[str, ...] = (accuracy.VERDICT_SPLIT,)
        click.echo(
            f"QA verdicts of {dataset_file}: {labelled.height} authors ('unsure' not scored)"
        )
    else:
        if population is None:
            raise click.UsageError("--population is required (or --verdicts)")
        labelled = accuracy.load_labels(labels)
        profiles = accuracy.population_profiles(population, labelled["handle"].to_list())
        splits = accuracy.SPLITS
    click.echo(_HEADER)
    contributions: list[tuple[Path, pl.DataFrame]] = []
    for folder in rules_dirs or (Path("lists/rules"),):
        brand = rules.load_brand_rules(folder / "brand_heuristics.yml")
        risk = rules.load_risk_rules(folder / "risk_terms.yml")
        decided = accuracy.labelled_decisions(labelled, profiles, brand, risk)
        for score in accuracy.scores(decided, splits):
            if verdicts and score.split == "all":
                continue
            click.echo(_score_line(folder, score))
        contributions.append((folder, accuracy.kind_contributions(decided)))
    if not kinds:
        return
    click.echo("")
    click.echo(
        f"{'rules':<22} {'decision':<8} {'split':<8} {'rule kind':<32} "
        f"{'TP':>4} {'FP':>4} {'FN':>4}"
    )
    for folder, table in contributions:
        for row in table.filter(
            pl.col("split") == "all" if not verdicts else pl.lit(True)
        ).iter_rows(named=True):
            click.echo(
                f"{folder!s:<22} {row['decision']:<8} {row['split']:<8} {row['kind']:<32} "
                f"{row['tp']:>4} {row['fp']:>4} {row['fn']:>4}"
            )
