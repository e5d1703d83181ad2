"""Per-file runs against one plan: requests, duplicate lookups, cost and least time.

``python -m influx_etl.tools.lookupbench --seeds-dir ../shared/data/seeds`` measures the real seed
files against the embedded (counting) server: once as the automation ran before the plan (one
pipeline run per file, every handle of a file looked up, ``--refresh``), once as one
automation run; then it plans synthetic layouts drawn like those files (sizes from the real
files, a handle repeating an earlier file's as often as in the real ones) through the same
planner, without a server. It prints a Markdown table (``docs/lookup.md`` holds one).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from influx_etl import automation, pipeline, plan, seeds
from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.config import (
    PACKAGE_DIR,
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    PlanSettings,
    RuleFiles,
)

RULES_DIR = PACKAGE_DIR.parent / "lists" / "rules"


@dataclass(frozen=True)
class Row:
    layout: str
    method: str
    requests: int
    lookups: int
    duplicates: int
    users_read: int | None = None
    billable: int | None = None


def _config(data_dir: Path, base_url: str, batch_size: int, refresh: bool) -> PipelineConfig:
    return PipelineConfig(
        lookup=LookupSettings(source=base_url, batch_size=batch_size),
        rules=RuleFiles(
            brand=RULES_DIR / "brand_heuristics.yml", risk=RULES_DIR / "risk_terms.yml"
        ),
        outputs=OutputPaths(data_dir=data_dir),
        plan=PlanSettings(refresh=refresh),
    )


def _ledger(config: PipelineConfig) -> tuple[int, int]:
    with pipeline.open_dataset(config) as store:
        usage = store.usage()
    return int(usage["users_read"].sum()), int(usage["billable"].sum())


def measured(seeds_dir: Path, batch_size: int, work_dir: Path) -> list[Row]:
    """The real files through the embedded server: per-file runs, then one plan."""
    paths = seeds.seed_paths(seeds_dir)
    rows = []
    for method in ("per-file runs", "one plan"):
        with start_server(ApiServerConfig()) as server:
            data_dir = work_dir / method.replace(" ", "-")
            if method == "per-file runs":
                config = _config(data_dir, server.base_url, batch_size, refresh=True)
                for path in paths:
                    pipeline.run_harvest(replace(config, seed_paths=(path,)))
            else:
                config = _config(data_dir, server.base_url, batch_size, refresh=False)
                automation.run_automation(config, seeds_dir, target=10**9)
            asked = server.lookups_per_username()
            users_read, billable = _ledger(config)
            rows.append(
                Row(
                    layout=f"{len(paths)} real files",
                    method=f"{method} (measured)",
                    requests=server.requests_served,
                    lookups=sum(asked.values()),
                    duplicates=sum(n - 1 for n in asked.values()),
                    users_read=users_read,
                    billable=billable,
                )
            )
    return rows


def drawn_layout(real: list[list[str]], files: int, seed: int) -> list[list[str]]:
    """``files`` handle lists whose sizes are drawn from ``real``'s and whose handles repeat an
    earlier list's as often as the real ones do (in name order)."""
    seen_rows = sum(len(f) for f in real)
    distinct = len({h for f in real for h in f})
    repeat = (seen_rows - distinct) / seen_rows if seen_rows else 0.0
    sizes = [len(f) for f in real if f]
    draw = random.Random(seed)
    pool: list[str] = []
    layout = []
    for _ in range(files):
        chosen: set[str] = set()
        for _ in range(draw.choice(sizes)):
            if pool and draw.random() < repeat:
                chosen.add(draw.choice(pool))
            else:
                handle = f"h{len(pool)}"
                pool.append(handle)
                chosen.add(handle)
        layout.append(sorted(chosen))
    return layout


def planned(layout: list[list[str]], name: str, batch_size: int) -> list[Row]:
    """Per-file runs against one plan of ``layout``, planned (no server, no store)."""
    settings = PlanSettings(refresh=True)
    now = datetime.now(UTC)
    no_checks = pl.DataFrame(
        schema={"handle_key": pl.String, "outcome": pl.String, "checked_at": pl.String}
    )
    loads = [seeds.seeds_from_handles(hs, f"f{i}") for i, hs in enumerate(layout)]
    per_file = [plan.lookup_work(load, no_checks, settings, batch_size, now).plan for load in loads]
    whole = plan.lookup_work(plan.combined_seeds(loads), no_checks, settings, batch_size, now).plan
    lookups = sum(p.to_look_up for p in per_file)
    return [
        Row(name, "per-file runs (planned)", sum(p.requests for p in per_file), lookups,
            lookups - whole.to_look_up),
        Row(name, "one plan (planned)", whole.requests, whole.to_look_up, 0),
    ]  # fmt: skip


def table(rows: list[Row], settings: PlanSettings) -> list[str]:
    window = plan.duration_text(settings.rate_window_s)
    price = settings.price_per_user
    lines = [
        f"| layout | method | requests | handle lookups | looked up again | users read | "
        f"billable (one UTC day) | cost, every lookup billed | least time at "
        f"{settings.rate_limit}/{window} |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        timing = plan.LookupPlan(0, 0, 0, 0, 0, row.requests, row.requests, 0, settings)
        users = "" if row.users_read is None else f"{row.users_read:,}"
        billable = "" if row.billable is None else f"{row.billable:,}"
        lines.append(
            f"| {row.layout} | {row.method} | {row.requests:,} | {row.lookups:,} | "
            f"{row.duplicates:,} | {users} | {billable} | {row.lookups * price:,.2f} USD | "
            f"{plan.duration_text(timing.least_time_s())} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds-dir", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--synthetic-files", type=int, action="append", help="Files per drawn layout (repeat)."
    )
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    real = [
        seeds.load_seeds([p]).frame["handle_key"].to_list()
        for p in seeds.seed_paths(args.seeds_dir)
    ]
    with tempfile.TemporaryDirectory() as work_dir:
        rows = measured(args.seeds_dir, args.batch_size, Path(work_dir))
    rows += planned(real, f"{len(real)} real files", args.batch_size)
    for files in args.synthetic_files or [35, 350, 3500]:
        layout = drawn_layout(real, files, args.seed)
        rows += planned(layout, f"{files} drawn files", args.batch_size)
    print(f"batch size {args.batch_size}")
    for line in table(rows, PlanSettings()):
        print(line)


if __name__ == "__main__":
    main()
