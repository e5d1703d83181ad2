"""The whole pipeline end to end: real embedded server on 127.0.0.1, real DuckDB files."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest

from influx_etl import seeds
from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles, Thresholds
from influx_etl.errors import RulesError, StoreError
from influx_etl.pipeline import replay_run, run_harvest
from tests.conftest import REPO_ROOT

RULES = RuleFiles(
    brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
    risk=REPO_ROOT / "lists/rules/risk_terms.yml",
)


def user(user_id: str, username: str, followers: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": username,
        "name": fields.pop("name", username.title()),
        "description": fields.pop("description", "Researcher and writer."),
        "created_at": "2012-01-01T00:00:00.000Z",
        "verified": fields.pop("verified", False),
        "verified_type": fields.pop("verified_type", "none"),
        "public_metrics": {
            "followers_count": followers,
            "following_count": 500,
            "tweet_count": 9000,
            "listed_count": followers // 100,
        },
        **fields,
    }


POPULATION = {
    "big": user("1001", "BigVoice", 900_000),
    "verified": user("1002", "VerifiedMid", 35_000, verified=True, verified_type="blue"),
    "small": user("1003", "SmallVoice", 12_000),
    "brand": user(
        "1004",
        "AcmeNews",
        2_000_000,
        name="Acme News Official",
        description="Official account of Acme News. Press releases and company news.",
        verified_type="business",
    ),
    "spammy": user(
        "1005", "FollowBackKing", 300_000, description="follow back! crypto giveaway daily"
    ),
    "suspended": user("1006", "Gone", 80_000),
}


def write_seeds(folder: Path, handles: list[str], name: str = "seeds.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "handle,category,source,note",
        *[f"{h},ai_research,test,row {i}" for i, h in enumerate(handles)],
    ]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config_for(
    tmp_path: Path, seed_paths: list[Path], source: str, **lookup: Any
) -> PipelineConfig:
    return PipelineConfig(
        seed_paths=tuple(seed_paths),
        lookup=LookupSettings(source=source, batch_size=lookup.pop("batch_size", 2), **lookup),
        rules=RULES,
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )


def exported(report_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (report_dir / "latest.jsonl").read_text().splitlines()]


HANDLES = [
    "BigVoice",
    "verifiedmid",
    "SmallVoice",
    "AcmeNews",
    "FollowBackKing",
    "nobody_here",
    "BigVoice",
]


def test_the_whole_pipeline_on_the_embedded_server(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", [*HANDLES, "not-a-handle"])
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as server:
        report = run_harvest(config_for(tmp_path, [seed_file], server.base_url))
        requests = server.endpoint_counts
    funnel = report.funnel
    assert funnel["seed_rows"] == 8 and funnel["invalid_seed_rows"] == 1
    assert funnel["looked_up"] == 6  # BigVoice twice in the seeds: looked up once
    assert (funnel["found"], funnel["not_found"]) == (5, 1)
    assert (funnel["below_threshold"], funnel["brand"], funnel["risk"], funnel["kept"]) == (
        1,
        1,
        1,
        2,
    )
    assert sum(requests.values()) == 3  # 6 handles in batches of 2
    # simulated source: written to the synthetic dataset, never the live one
    assert report.synthetic and report.dataset == tmp_path / "data/synthetic/influx.duckdb"
    assert not (tmp_path / "data/influx.duckdb").exists()
    records = exported(report.export_dir)
    assert [r["handle"] for r in records] == ["BigVoice", "VerifiedMid"]
    assert records[0]["meta"]["rank_global"] == 1 and records[1]["meta"]["rank_global"] == 2
    assert {s["method"] for r in records for s in r["meta"]["sources"]} == {
        "influx-api-sim:recorded"
    }
    manifest = json.loads((report.export_dir / "manifest.json").read_text())
    assert manifest["count"] == 2


def test_every_seed_handle_ends_with_exactly_one_recorded_outcome(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", HANDLES)
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as server:
        report = run_harvest(config_for(tmp_path, [seed_file], server.base_url))
    con = duckdb.connect(str(report.dataset), read_only=True)
    rows = con.execute(
        "SELECT handle_key, outcome, decision FROM handle_outcomes WHERE run_id = ?",
        [report.run_id],
    ).fetchall()
    raw_batches = con.execute(
        "SELECT count(*) FROM raw_lookups WHERE run_id = ?", [report.run_id]
    ).fetchall()
    con.close()
    decisions = {handle: decision for handle, _, decision in rows}
    assert len(rows) == len(decisions) == 6
    assert decisions == {
        "bigvoice": "kept",
        "verifiedmid": "kept",
        "smallvoice": "below_threshold",
        "acmenews": "brand",
        "followbackking": "risk",
        "nobody_here": "not_found",
    }
    assert raw_batches == [(3,)]


def test_a_rerun_adds_nothing_and_exports_the_same_bytes(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", HANDLES)
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as server:
        first = run_harvest(config_for(tmp_path, [seed_file], server.base_url))
        before = (first.export_dir / "latest.jsonl").read_bytes()
        second = run_harvest(config_for(tmp_path, [seed_file], server.base_url))
    assert (second.funnel["new"], second.funnel["updated"], second.funnel["removed"]) == (0, 0, 0)
    assert second.funnel["unchanged"] == 2
    assert (second.export_dir / "latest.jsonl").read_bytes() == before


def test_a_renamed_handle_keeps_one_row(tmp_path: Path) -> None:
    before = {"big": user("1001", "BigVoice", 900_000)}
    after = {"big": user("1001", "LouderVoice", 950_000)}
    with start_server(ApiServerConfig(population=before, synthetic=False)) as server:
        run_harvest(
            config_for(tmp_path, [write_seeds(tmp_path / "s1", ["BigVoice"])], server.base_url)
        )
    with start_server(ApiServerConfig(population=after, synthetic=False)) as server:
        report = run_harvest(
            config_for(tmp_path, [write_seeds(tmp_path / "s2", ["LouderVoice"])], server.base_url)
        )
    assert (report.funnel["new"], report.funnel["updated"]) == (0, 1)
    records = exported(report.export_dir)
    assert [(r["id"], r["handle"], r["followers_count"]) for r in records] == [
        ("1001", "LouderVoice", 950_000)
    ]


def test_prefetched_users_go_to_the_live_dataset(tmp_path: Path) -> None:
    prefetched = tmp_path / "users.jsonl"
    prefetched.write_text(
        "\n".join(json.dumps(u) for u in POPULATION.values()) + "\n", encoding="utf-8"
    )
    seed_file = write_seeds(tmp_path / "seeds", HANDLES)
    report = run_harvest(config_for(tmp_path, [seed_file], f"prefetched:{prefetched}"))
    assert not report.synthetic and report.dataset == tmp_path / "data/influx.duckdb"
    records = exported(report.export_dir)
    assert {s["method"] for r in records for s in r["meta"]["sources"]} == {"prefetched-file"}


def test_a_bad_rules_file_fails_before_any_request(tmp_path: Path) -> None:
    bad_rules = tmp_path / "brand.yml"
    good = RULES.brand.read_text(encoding="utf-8")
    broken = re.sub(r"flag_threshold:\s*[0-9.]+", "flag_threshold: high", good)
    assert broken != good
    bad_rules.write_text(broken, encoding="utf-8")
    seed_file = write_seeds(tmp_path / "seeds", HANDLES)
    with start_server(ApiServerConfig(population=POPULATION)) as server:
        config = replace(
            config_for(tmp_path, [seed_file], server.base_url),
            rules=RuleFiles(brand=bad_rules, risk=RULES.risk),
        )
        with pytest.raises(RulesError, match="flag_threshold"):
            run_harvest(config)
        assert server.requests_served == 0


def test_real_seed_lists_and_real_profiles(
    tmp_path: Path, shared_seeds_dir: Path, shared_real_users: Path, shared_compat_dir: Path
) -> None:
    """Every handle of the real seed lists ends with one outcome; exports pass both schemas."""
    seed_paths = seeds.seed_paths(shared_seeds_dir)
    expected = seeds.load_seeds(seed_paths)
    config = config_for(
        tmp_path, seed_paths, "embedded", batch_size=75, population=shared_real_users
    )
    report = run_harvest(config)
    con = duckdb.connect(str(report.dataset), read_only=True)
    outcomes = con.execute(
        "SELECT handle_key, outcome FROM handle_outcomes WHERE run_id = ?", [report.run_id]
    ).fetchall()
    rejects = con.execute(
        "SELECT count(*) FROM seed_rejects WHERE run_id = ?", [report.run_id]
    ).fetchall()
    con.close()
    assert sorted(h for h, _ in outcomes) == sorted(expected.frame["handle_key"].to_list())
    assert rejects == [(expected.rejects.height,)]
    assert report.funnel["failed"] == 0
    original = json.loads((shared_compat_dir / "bigv.schema.json").read_text())
    ours = json.loads((REPO_ROOT / "schema/bigv.schema.json").read_text())
    records = exported(report.export_dir)
    assert records, "the real profiles include accounts above the threshold"
    for schema in (original, ours):
        validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        for record in records:
            validator.validate(record)
    methods = {s["method"] for r in records for s in r["meta"]["sources"]}
    assert methods <= {"influx-api-sim:recorded", "influx-api-sim:synthetic"}


def _without_fetch_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with the fetch timestamps removed: what two lookups of the same profiles share."""
    for record in records:
        record["meta"].pop("last_refresh_at", None)
        for source in record["meta"]["sources"]:
            source.pop("fetched_at", None)
    return records


MANY = [f"user{i:03d}" for i in range(12)]
MANY_POPULATION = {h: user(str(5000 + i), h, 60_000 + i * 1000) for i, h in enumerate(MANY)}


class Interrupt(KeyboardInterrupt):
    pass


def test_an_interrupted_run_resumes_without_asking_again(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", MANY)
    config = replace(
        config_for(tmp_path / "a", [seed_file], ""),
        lookup=LookupSettings(batch_size=2, parallel_batches=1),
    )

    def stop_after_two(_batch: object, done: int, _total: int) -> None:
        if done == 2:
            raise Interrupt

    with start_server(ApiServerConfig(population=MANY_POPULATION, synthetic=False)) as server:
        config = replace(config, lookup=replace(config.lookup, source=server.base_url))
        with pytest.raises(Interrupt):
            run_harvest(config, progress=stop_after_two)
        first_requests = server.requests_served
        report = run_harvest(config)
        second_requests = server.requests_served - first_requests
        # the same work uninterrupted, in another data folder, for comparison
        clean = run_harvest(replace(config, outputs=OutputPaths(data_dir=tmp_path / "b")))
    assert first_requests == 2
    assert second_requests == 6 - 2  # six batches of two; the two stored ones are not asked again
    con = duckdb.connect(str(report.dataset), read_only=True)
    runs = con.execute("SELECT run_id, status FROM runs").fetchall()
    con.close()
    assert runs == [(report.run_id, "succeeded")]  # the interrupted run was taken over
    assert report.funnel["kept"] == clean.funnel["kept"] == 12
    assert _without_fetch_times(exported(report.export_dir)) == _without_fetch_times(
        exported(clean.export_dir)
    )


def test_no_resume_starts_afresh(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", MANY)

    def stop_at_once(_batch: object, _done: int, _total: int) -> None:
        raise Interrupt

    with start_server(ApiServerConfig(population=MANY_POPULATION, synthetic=False)) as server:
        config = replace(
            config_for(tmp_path, [seed_file], server.base_url),
            lookup=LookupSettings(source=server.base_url, batch_size=2, parallel_batches=1),
        )
        with pytest.raises(Interrupt):
            run_harvest(config, progress=stop_at_once)
        before = server.requests_served
        run_harvest(config, resume=False)
        assert server.requests_served - before == 6


def test_replay_applies_a_threshold_change_without_any_request(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", HANDLES)
    with start_server(ApiServerConfig(population=POPULATION, synthetic=False)) as server:
        config = config_for(tmp_path, [seed_file], server.base_url)
        first = run_harvest(config)
        requests = server.requests_served
        lower = replace(config, thresholds=Thresholds(min_followers=10_000))
        replayed = replay_run(lower)
        assert server.requests_served == requests
    assert first.funnel["kept"] == 2
    assert replayed.funnel["kept"] == 3  # SmallVoice (12k followers) now passes
    assert replayed.funnel["looked_up"] == first.funnel["looked_up"]
    assert replayed.funnel["seed_rows"] == first.funnel["seed_rows"]
    assert "SmallVoice" in [r["handle"] for r in exported(replayed.export_dir)]


def test_replay_without_a_stored_run_says_so(tmp_path: Path) -> None:
    config = config_for(tmp_path, [], "embedded")
    with pytest.raises(StoreError, match="no run with raw lookups"):
        replay_run(config)
