"""The whole pipeline end to end: real embedded server on 127.0.0.1, real DuckDB files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest

from influx_etl import seeds
from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.apisim.generate import write_profiles
from influx_etl.apisim.synthetic import ORIGIN_FIELD
from influx_etl.config import (
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    PlanSettings,
    RuleFiles,
    Thresholds,
)
from influx_etl.errors import RulesError, SourceError, StoreError
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


def test_a_generated_users_file_goes_to_the_synthetic_dataset(tmp_path: Path) -> None:
    files = write_profiles(400, tmp_path / "profiles.jsonl", tmp_path / "handles.txt", workers=1)
    assert files.handles_path is not None
    config = config_for(
        tmp_path, [files.handles_path], f"prefetched:{files.profiles_path}", batch_size=100
    )
    report = run_harvest(config)
    assert report.synthetic and report.dataset == tmp_path / "data/synthetic/influx.duckdb"
    assert not (tmp_path / "data/influx.duckdb").exists()
    assert report.funnel["found"] == files.profiles and report.funnel["kept"] > 0
    records = exported(report.export_dir)
    assert {s["method"] for r in records for s in r["meta"]["sources"]} == {
        "influx-api-sim:synthetic"
    }


def test_a_live_dataset_refuses_marked_users_further_in_a_file(tmp_path: Path) -> None:
    # the first user is unmarked (the file looks live), a later one is the embedded server's
    marked = user("9001", "MadeUp", 500_000, **{ORIGIN_FIELD: "synthetic"})
    users_file = tmp_path / "users.jsonl"
    lines = [json.dumps(u) for u in POPULATION.values()] + [json.dumps(marked)]
    users_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seed_file = write_seeds(tmp_path / "seeds", [*HANDLES, marked["username"]])
    with pytest.raises(StoreError, match=rf"refusing 1 profiles .*@{marked['username']}.*"
                       "synthetic dataset"):  # fmt: skip
        run_harvest(config_for(tmp_path, [seed_file], f"prefetched:{users_file}"))
    con = duckdb.connect(str(tmp_path / "data/influx.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM authors").fetchone() == (0,)
    con.close()


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


def test_a_later_run_retries_only_the_failed_handles(tmp_path: Path) -> None:
    seed_file = write_seeds(tmp_path / "seeds", MANY)
    # the first request fails and is not retried (one attempt): its two handles end `failed`
    faulty = ApiServerConfig(population=MANY_POPULATION, synthetic=False, fail_first_n=1)
    with start_server(faulty) as server:
        config = replace(
            config_for(tmp_path, [seed_file], server.base_url),
            lookup=LookupSettings(
                source=server.base_url, batch_size=2, parallel_batches=1, max_attempts=1
            ),
        )
        first = run_harvest(config)
        assert first.funnel["failed"] == 2 and first.funnel["kept"] == 10
        before = server.requests_served
        second = run_harvest(config)
        assert server.requests_served - before == 1  # one batch: just the two failed handles
    # the ten settled ones are fresh: reused, not asked again
    funnel = second.funnel
    assert (funnel["failed"], funnel["kept"], funnel["looked_up"], funnel["reused"]) == (
        0,
        12,
        2,
        10,
    )
    con = duckdb.connect(str(second.dataset), read_only=True)
    statuses = con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()
    processed = con.execute("SELECT processed_run FROM seed_files").fetchall()
    con.close()
    assert statuses == [("incomplete",), ("succeeded",)]
    assert processed == [(second.run_id,)]  # settled only by the second run


# -- prefetched files: the bulk path ----------------------------------------------------------


def prefetched_file(path: Path) -> Path:
    """Every shape a prefetched file may hold, and lines it must skip."""
    big = user("2001", "FileBig", 700_000)
    lines = [
        json.dumps(big),
        json.dumps({"data": user("2002", "Wrapped", 90_000, description="Writes code.")}),
        json.dumps(
            {
                "data": [user("2003", "InList", 60_000), user("2004", "SmallInList", 1_000)],
                "errors": [
                    {
                        "value": "gone_user",
                        "detail": "User has been suspended: [gone_user].",
                        "title": "Forbidden",
                        "resource_id": "gone_user",
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                ],
            }
        ),
        "not json at all",
        "[1, 2]",
        json.dumps({"name": "no id or username"}),
        "",
        json.dumps(
            user(
                "2005",
                "Brandish",
                2_000_000,
                name="Acme Official",
                verified_type="business",
                description="Official account of Acme. Press releases and company news.",
            )
        ),
        json.dumps(
            {**big, "public_metrics": {**big["public_metrics"], "followers_count": 750_000}}
        ),
        json.dumps(user("2006", "Verified", 40_000, verified=True, verified_type="blue")),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


FILE_HANDLES = [
    "filebig", "Wrapped", "INLIST", "SmallInList", "gone_user", "Brandish", "Verified",
    "not_in_file", "Wrapped",
]  # fmt: skip


class _PerBatch:
    """A prefetched source seen through the one-batch interface only (the older path)."""

    def __init__(self, source: Any) -> None:
        self.name, self.kind, self._source = source.name, source.kind, source

    def fetch_batch(self, batch_id: int, handles: Any) -> Any:
        return self._source.fetch_batch(batch_id, handles)


def _dataset_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    tables = {
        "authors": con.execute(
            "SELECT * EXCLUDE (first_seen_run, last_changed_run) FROM authors ORDER BY id"
        ).fetchall(),
        "outcomes": con.execute(
            "SELECT * EXCLUDE (run_id) FROM handle_outcomes ORDER BY handle_key"
        ).fetchall(),
        "snapshots": con.execute(
            "SELECT * EXCLUDE (run_id) FROM author_snapshots ORDER BY id"
        ).fetchall(),
    }
    con.close()
    return tables


def test_the_bulk_path_gives_the_per_batch_paths_dataset_and_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import influx_etl.pipeline as pipeline_module
    import influx_etl.sources.prefetched as sources_module

    monkeypatch.setattr(sources_module, "utc_now_iso", lambda: "2025-11-20T10:00:00.000Z")
    users_file = prefetched_file(tmp_path / "users.jsonl")
    seed_file = write_seeds(tmp_path / "seeds", FILE_HANDLES)
    bulk = run_harvest(
        replace(config_for(tmp_path / "bulk", [seed_file], f"prefetched:{users_file}"))
    )
    opened = pipeline_module.open_source

    @contextmanager
    def per_batch(settings: LookupSettings, observer: Any = None) -> Iterator[Any]:
        with opened(settings, observer) as source:
            yield _PerBatch(source)

    monkeypatch.setattr(pipeline_module, "open_source", per_batch)
    batched = run_harvest(config_for(tmp_path / "batched", [seed_file], f"prefetched:{users_file}"))

    assert bulk.funnel == batched.funnel
    assert (bulk.funnel["found"], bulk.funnel["not_found"], bulk.funnel["suspended"]) == (6, 1, 1)
    assert bulk.funnel["kept"] == 4  # FileBig, Wrapped, InList and Verified (blue, 40k)
    for name in ("latest.jsonl", "latest.jsonl.gz", "latest.parquet", "latest.csv"):
        assert (bulk.export_dir / name).read_bytes() == (batched.export_dir / name).read_bytes()
    assert _dataset_tables(bulk.dataset) == _dataset_tables(batched.dataset)
    # the later line of a user wins, as in the per-batch reading
    records = {r["handle"]: r for r in exported(bulk.export_dir)}
    assert records["FileBig"]["followers_count"] == 750_000
    # the bulk run stored references to the file, not its content
    con = duckdb.connect(str(bulk.dataset), read_only=True)
    stored = con.execute(
        "SELECT count(*), count(body), count(raw_file) FROM raw_lookups"
    ).fetchall()
    reference = json.loads(
        con.execute("SELECT any_value(raw_file) FROM raw_lookups").fetchall()[0][0]
    )
    con.close()
    assert stored[0][0] == stored[0][2] > 0 and stored[0][1] == 0
    assert reference["sha256"] == hashlib.sha256(users_file.read_bytes()).hexdigest()
    assert reference["bytes"] == users_file.stat().st_size


def test_a_prefetched_run_replays_and_refuses_a_changed_file(tmp_path: Path) -> None:
    users_file = prefetched_file(tmp_path / "users.jsonl")
    seed_file = write_seeds(tmp_path / "seeds", FILE_HANDLES)
    config = config_for(tmp_path, [seed_file], f"prefetched:{users_file}")
    first = run_harvest(config)
    replayed = replay_run(replace(config, thresholds=Thresholds(min_followers=1_000)))
    assert replayed.funnel["looked_up"] == first.funnel["looked_up"]
    assert replayed.funnel["kept"] == first.funnel["kept"] + 1  # SmallInList (1,000) now passes
    with users_file.open("a", encoding="utf-8") as more:
        more.write(json.dumps(user("2099", "LateComer", 99_000)) + "\n")
    with pytest.raises(SourceError, match=r"users\.jsonl changed since it was looked up"):
        replay_run(config)
    users_file.unlink()
    with pytest.raises(SourceError, match="cannot be read"):
        replay_run(config)


def test_an_interrupted_prefetched_run_resumes_from_its_references(tmp_path: Path) -> None:
    users_file = prefetched_file(tmp_path / "users.jsonl")
    seed_file = write_seeds(tmp_path / "seeds", FILE_HANDLES)
    config = replace(
        config_for(tmp_path / "a", [seed_file], f"prefetched:{users_file}"),
        lookup=LookupSettings(source=f"prefetched:{users_file}", batch_size=2),
    )

    def stop_once_stored(_batch: object, done: int, total: int) -> None:
        # a bulk source reports its batches as one step, once they are all stored
        assert done == total > 1
        raise Interrupt

    with pytest.raises(Interrupt):
        run_harvest(config, progress=stop_once_stored)
    report = run_harvest(config)
    clean = run_harvest(replace(config, outputs=OutputPaths(data_dir=tmp_path / "b")))
    assert report.batches == 0  # every handle was answered by the stored references
    con = duckdb.connect(str(report.dataset), read_only=True)
    runs = con.execute("SELECT run_id, status FROM runs").fetchall()
    con.close()
    assert runs == [(report.run_id, "succeeded")]
    assert report.funnel == clean.funnel
    assert _without_fetch_times(exported(report.export_dir)) == _without_fetch_times(
        exported(clean.export_dir)
    )


@pytest.mark.parametrize("chunk_rows", [1, 3])
def test_a_prefetched_file_decided_in_chunks_gives_the_whole_files_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    import influx_etl.sources.prefetched as sources_module

    monkeypatch.setattr(sources_module, "utc_now_iso", lambda: "2025-11-20T10:00:00.000Z")
    users_file = prefetched_file(tmp_path / "users.jsonl")
    # kept on an early line and not on a later one, and the other way round: chunks that
    # decide a handle twice must end with its last answer, in the outcomes and the dataset
    with users_file.open("a", encoding="utf-8") as extra:
        extra.write(json.dumps(user("3001", "Fading", 900_000)) + "\n")
        extra.write(json.dumps(user("3002", "Rising", 10)) + "\n")
        extra.write(json.dumps(user("3001", "Fading", 10)) + "\n")
        extra.write(json.dumps(user("3002", "Rising", 800_000)) + "\n")
    seed_file = write_seeds(tmp_path / "seeds", [*FILE_HANDLES, "fading", "rising"])
    source = f"prefetched:{users_file}"
    whole = run_harvest(
        replace(config_for(tmp_path / "whole", [seed_file], source), chunk_rows=None)
    )
    chunked = run_harvest(
        replace(config_for(tmp_path / "chunked", [seed_file], source), chunk_rows=chunk_rows)
    )
    assert chunked.funnel == whole.funnel
    assert whole.funnel["kept"] == 5  # FileBig, Wrapped, InList, Verified and Rising
    for name in ("latest.jsonl", "latest.jsonl.gz", "latest.parquet", "latest.csv"):
        assert (chunked.export_dir / name).read_bytes() == (whole.export_dir / name).read_bytes()
    assert _dataset_tables(chunked.dataset) == _dataset_tables(whole.dataset)
    handles = {record["handle"] for record in exported(chunked.export_dir)}
    assert "Rising" in handles and "Fading" not in handles


# -- one user id under two handles ---------------------------------------------------------------


def _outcome_rows(dataset: Path, run_id: str) -> dict[str, tuple[str, str | None, str | None]]:
    con = duckdb.connect(str(dataset), read_only=True)
    rows = con.execute(
        "SELECT handle_key, outcome, id, outcome_detail FROM handle_outcomes WHERE run_id = ?",
        [run_id],
    ).fetchall()
    con.close()
    return {handle: (outcome, user_id, detail) for handle, outcome, user_id, detail in rows}


def _stored_authors(dataset: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(dataset), read_only=True)
    rows = con.execute("SELECT id, handle FROM authors ORDER BY id").fetchall()
    con.close()
    return [(str(user_id), str(handle)) for user_id, handle in rows]


def _renamed_twice_file(path: Path) -> Path:
    """One account (id 4001) under its old and its new handle, in lines far apart."""
    lines = [
        user("4001", "OldHandle", 400_000),
        user("4002", "Bystander", 300_000),
        user("4003", "Another", 200_000),
        user("4001", "NewHandle", 410_000),
    ]
    path.write_text("\n".join(json.dumps(u) for u in lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("chunk_rows", [None, 1])
def test_a_prefetched_id_under_two_handles_keeps_one_author(
    tmp_path: Path, chunk_rows: int | None
) -> None:
    users_file = _renamed_twice_file(tmp_path / "users.jsonl")
    seed_file = write_seeds(tmp_path / "seeds", ["OldHandle", "Bystander", "NewHandle", "Another"])
    config = replace(
        config_for(tmp_path, [seed_file], f"prefetched:{users_file}"), chunk_rows=chunk_rows
    )
    report = run_harvest(config)
    outcomes = _outcome_rows(report.dataset, report.run_id)
    assert set(outcomes) == {"oldhandle", "bystander", "newhandle", "another"}
    # fetched together (one file): neither username differs from its handle, the order decides
    assert outcomes["newhandle"][0] == "found"
    assert outcomes["oldhandle"][:2] == ("duplicate_id", "4001")
    assert "@NewHandle" in str(outcomes["oldhandle"][2])
    assert report.funnel["duplicate_id"] == 1 and report.funnel["found"] == 3
    assert report.funnel["kept"] == 3 and report.funnel["new"] == 3
    assert _stored_authors(report.dataset) == [
        ("4001", "NewHandle"),
        ("4002", "Bystander"),
        ("4003", "Another"),
    ]
    # a replay of the stored raw lookups settles the id the same way
    replayed = replay_run(config)
    assert replayed.funnel["duplicate_id"] == 1
    assert _outcome_rows(report.dataset, replayed.run_id)["oldhandle"][0] == "duplicate_id"
    assert _stored_authors(report.dataset)[0] == ("4001", "NewHandle")


def test_an_id_answered_for_two_handles_by_the_api_keeps_one_author(tmp_path: Path) -> None:
    population = {
        "old": user("5001", "OldName", 500_000),
        "new": user("5001", "NewName", 510_000),
        "other": user("5002", "Other", 90_000),
    }
    seed_file = write_seeds(tmp_path / "seeds", ["OldName", "Other", "NewName"])
    with start_server(ApiServerConfig(population=population, synthetic=False)) as server:
        report = run_harvest(config_for(tmp_path, [seed_file], server.base_url, batch_size=1))
    outcomes = _outcome_rows(report.dataset, report.run_id)
    assert sorted(outcome for outcome, _, _ in outcomes.values()) == [
        "duplicate_id",
        "found",
        "found",
    ]
    stored = dict(_stored_authors(report.dataset))
    assert set(stored) == {"5001", "5002"}
    (loser,) = [o for o in outcomes.values() if o[0] == "duplicate_id"]
    assert f"@{stored['5001']}" in str(loser[2])


def _prefetched_run(tmp_path: Path, name: str, users: list[dict[str, Any]]) -> Any:
    users_file = tmp_path / f"{name}.jsonl"
    users_file.write_text("\n".join(json.dumps(u) for u in users) + "\n", encoding="utf-8")
    seed_file = write_seeds(tmp_path / name, [u["username"] for u in users])
    # the same handles again must be looked up again, not reused as fresh
    config = config_for(tmp_path, [seed_file], f"prefetched:{users_file}")
    return run_harvest(replace(config, plan=PlanSettings(refresh=True)))


def test_handles_swapped_between_two_stored_ids_end_consistent(tmp_path: Path) -> None:
    _prefetched_run(
        tmp_path, "first", [user("6001", "Alpha", 90_000), user("6002", "Beta", 95_000)]
    )
    # the two accounts swapped handles since
    report = _prefetched_run(
        tmp_path, "second", [user("6001", "Beta", 91_000), user("6002", "Alpha", 96_000)]
    )
    assert _stored_authors(report.dataset) == [("6001", "Beta"), ("6002", "Alpha")]
    assert (report.funnel["new"], report.funnel["updated"], report.funnel["removed"]) == (0, 2, 0)


def test_a_stored_id_under_a_new_handle_whose_old_handle_went_to_another_id(
    tmp_path: Path,
) -> None:
    _prefetched_run(tmp_path, "first", [user("7001", "Handle", 90_000)])
    report = _prefetched_run(
        tmp_path, "second", [user("7001", "Renamed", 91_000), user("7002", "Handle", 80_000)]
    )
    assert _stored_authors(report.dataset) == [("7001", "Renamed"), ("7002", "Handle")]
    assert (report.funnel["new"], report.funnel["updated"]) == (1, 1)
