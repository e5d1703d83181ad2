"""Discovery from Lists against randomly chosen Lists, on the embedded server's List graph.

``python -m influx_etl.tools.discoverbench`` starts the embedded (counting) server, harvests a
dataset of ``--seeds`` handles drawn from its List graph's accounts, then:

* **discover** — ``influx discover --max-lists N``: memberships of the dataset's authors, the top
  N Lists' members, candidates screened by threshold and rules; then a harvest of the written
  seed file (answered by the stored member objects);
* **random Lists** — the members of N public Lists drawn at random (the same number of Lists),
  not in the dataset, screened the same way.

For each it counts the requests per endpoint (the server's own counts), the candidates, the
share that passes threshold and rules, and the requests and estimated cost (member objects as
user reads) per new kept author, over ``--repeats`` graphs (seeds 0, 1…). It prints a Markdown
table; ``docs/discovery.md`` holds one. A benchmark, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from influx_etl import discover, harvest_lists, list_ranking, pipeline, project
from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.apisim.contract import (
    ENDPOINT_LIST,
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    ENDPOINT_USERS_BY,
)
from influx_etl.apisim.lists import list_graph
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, PlanSettings, RuleFiles
from influx_etl.sources.lists import open_lists_api


@dataclass(frozen=True)
class Row:
    seed: int
    method: str
    lists: int
    requests: dict[str, int]
    candidates: int
    passing: int
    new_kept: int
    members_read: int
    price_per_user: float

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def pass_share(self) -> float:
        return self.passing / self.candidates if self.candidates else 0.0

    @property
    def cost(self) -> float:
        return self.members_read * self.price_per_user


def _config(data_dir: Path, base_url: str, seed_paths: tuple[Path, ...] = ()) -> PipelineConfig:
    return PipelineConfig(
        seed_paths=seed_paths,
        lookup=LookupSettings(source=base_url, batch_size=100),
        rules=RuleFiles(
            brand=project.resolved(project.BRAND_RULES), risk=project.resolved(project.RISK_RULES)
        ),
        outputs=OutputPaths(data_dir=data_dir),
        plan=PlanSettings(),
    )


def _counts(server: RunningServer) -> dict[str, int]:
    counts = server.endpoint_counts
    return {
        endpoint: counts.get(endpoint, 0)
        for endpoint in (ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS, ENDPOINT_LIST_MEMBERSHIPS)
    } | {ENDPOINT_USERS_BY: counts.get(ENDPOINT_USERS_BY, 0)}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after}


def measured(
    seed: int, seeds: int, max_lists: int, universe: int, list_count: int, price: float
) -> list[Row]:
    graph_config = ApiServerConfig(seed=seed, list_universe=universe, list_count=list_count)
    graph = list_graph(graph_config)
    handles = random.Random(seed).sample(sorted(graph.accounts()), seeds)
    with tempfile.TemporaryDirectory() as folder, start_server(graph_config) as server:
        root = Path(folder)
        seed_dir = root / "seeds"
        seed_dir.mkdir()
        seed_file = seed_dir / "seeds.csv"
        seed_file.write_text("handle\n" + "\n".join(handles) + "\n", encoding="utf-8")
        config = _config(root / "data", server.base_url, (seed_file,))
        pipeline.run_harvest(config)
        with pipeline.open_dataset(config) as store:
            dataset = store.authors()
        rows = [
            _discovered(server, config, seed_dir, seed, max_lists, price),
            _random_lists(server, root, dataset, graph_config, seed, max_lists, price),
        ]
    return rows


def _discovered(
    server: RunningServer,
    config: PipelineConfig,
    seed_dir: Path,
    seed: int,
    max_lists: int,
    price: float,
) -> Row:
    before = _counts(server)
    settings = discover.DiscoverySettings(max_lists=max_lists, seeds_dir=seed_dir)
    found = discover.discover(config, settings)
    kept = 0
    if found.out is not None:
        report = pipeline.run_harvest(replace(config, seed_paths=(found.out,)))
        kept = report.integration.new
    requests = _delta(_counts(server), before)
    members = int(found.lists["member_count"].sum())  # each member object is a user read
    return Row(
        seed,
        "discover (top Lists of our authors)",
        found.lists.height,
        requests,
        found.candidates.height,
        found.passing.height,
        kept,
        members,
        price,
    )


def _random_lists(
    server: RunningServer,
    root: Path,
    dataset: pl.DataFrame,
    graph_config: ApiServerConfig,
    seed: int,
    count: int,
    price: float,
) -> Row:
    public = [one for one in list_graph(graph_config).lists() if not one.private]
    chosen = random.Random(seed + 1).sample(public, count)
    # a store of its own: the random Lists' reads must not be the discovery's stored ones
    config = _config(root / "random", server.base_url)
    before = _counts(server)
    with pipeline.open_dataset(config) as store, open_lists_api(config.lookup) as api:
        ids = [one.id for one in chosen]
        read = harvest_lists.read_lists(api, store, ids, config, usage_run="random")
        items = store.list_page_items(
            [r.read_id for r in read.member_reads if r.read_id is not None and r.status == "ok"]
        )
        frame = pl.DataFrame(
            {"list_id": ids, "name": [one.name for one in chosen], "topic": [None] * len(ids)},
            schema={"list_id": pl.String, "name": pl.String, "topic": pl.String},
        )
        candidates = list_ranking.ranked_candidates(
            items, frame, dataset["id"], dataset["handle"].str.to_lowercase(), 1
        )
        answers = store.member_answers(candidates["handle_key"], None)
    rulebook = pipeline.load_rulebook(config)
    screened = discover.screened(candidates, answers, rulebook, config)
    passing = int((screened["decision"] == "kept").sum())
    return Row(
        seed,
        "random Lists (same count)",
        count,
        _delta(_counts(server), before),
        candidates.height,
        passing,
        passing,  # the same screen a harvest of them would apply to the same objects
        sum(one.member_count for one in chosen),
        price,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| graph seed | method | Lists | membership req. | List req. | member req. | user "
        "lookups | candidates | pass threshold + rules | new kept | requests per new kept | "
        "est. cost per new kept |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        per = row.total_requests / row.new_kept if row.new_kept else float("nan")
        cost = row.cost / row.new_kept if row.new_kept else float("nan")
        lines.append(
            f"| {row.seed} | {row.method} | {row.lists} | "
            f"{row.requests.get(ENDPOINT_LIST_MEMBERSHIPS, 0):,} | "
            f"{row.requests.get(ENDPOINT_LIST, 0):,} | "
            f"{row.requests.get(ENDPOINT_LIST_MEMBERS, 0):,} | "
            f"{row.requests.get(ENDPOINT_USERS_BY, 0):,} | {row.candidates:,} | "
            f"{row.pass_share:.1%} | {row.new_kept:,} | {per:.2f} | {cost:.2f} USD |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=300, help="seed handles of the dataset")
    parser.add_argument("--max-lists", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="graphs (seeds 0, 1…)")
    parser.add_argument("--universe", type=int, default=20_000)
    parser.add_argument("--lists", type=int, default=300)
    parser.add_argument("--price-per-user", type=float, default=0.01)
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for seed in range(args.repeats):
        rows += measured(
            seed, args.seeds, args.max_lists, args.universe, args.lists, args.price_per_user
        )
    print(table(rows))


if __name__ == "__main__":
    main()
