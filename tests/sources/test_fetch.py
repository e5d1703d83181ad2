"""The retry / split engine against the real embedded server with injected faults: 400
bisection, retries of malformed bodies and timeouts, re-asks of partial answers, 429s."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles
from influx_etl.errors import BadRequestError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.pipeline import RunReport, run_harvest
from influx_etl.sources import BatchFetcher, HttpSource, RetryPolicy
from influx_etl.sources.xclient import ApiResponse, XClient
from tests.conftest import REPO_ROOT
from tests.sources.conftest import RECORDED, SYNTHETIC_HANDLES, http_source, outcomes


def test_a_400_batch_is_split_until_the_refused_handles_are_alone() -> None:
    handles = ["alice", "Bad_One", "bob", "carol", "dave", "erin", "BAD_two", "frank"]
    config = ApiServerConfig(
        population=RECORDED, synthetic=False, invalid_handles=frozenset({"bad_one", "bad_two"})
    )
    with start_server(config) as server:
        batch = http_source(server.base_url).fetch_batch(7, handles)
        refused = server.status_counts[400]
    assert batch.ok, batch.error
    result = outcomes(batch)
    assert len(result) == len(handles)  # every handle ends with exactly one outcome
    assert {h for h, o in result.items() if o == "invalid"} == {"bad_one", "bad_two"}
    assert {h for h, o in result.items() if o == "found"} == {"alice", "bob"}
    assert refused >= 3  # the whole batch, then the halves holding a refused handle
    invalid = profiles(raw_frame([batch])).filter(pl.col("outcome") == "invalid")
    assert invalid["outcome_detail"].str.contains("HTTP 400").all()
    # every response the batch was made of is kept verbatim
    stored = json.loads(batch.body or "{}")
    assert {r["status"] for r in stored["_influx_responses"]} == {200, 400}
    assert sum(len(r["usernames"]) for r in stored["_influx_responses"] if r["status"] == 200) == 6


def test_a_400_on_a_parameter_other_than_usernames_stops_the_run() -> None:
    def request(handles: Sequence[str], batch_id: int) -> ApiResponse:
        raise BadRequestError("HTTP 400", batch_id=batch_id, parameters=("user.fields",))

    fetcher = BatchFetcher(request, RetryPolicy(max_attempts=3))
    with pytest.raises(BadRequestError):
        fetcher.fetch(0, ["alice", "bob"])


def test_malformed_bodies_are_retried_then_recorded_as_failed() -> None:
    config = ApiServerConfig(population=RECORDED, fault_malformed_rate=1.0)
    with start_server(config) as server:
        batch = http_source(server.base_url, attempts=3).fetch_batch(2, ["alice", "bob"])
        assert server.stats().faults["malformed"] == 3
    assert not batch.ok and batch.attempts == 3
    assert batch.error is not None and "malformed response" in batch.error
    rows = profiles(raw_frame([batch]))
    assert rows["outcome"].to_list() == ["failed", "failed"]
    assert rows["outcome_detail"].str.contains("malformed").all()


def test_malformed_bodies_now_and_then_do_not_lose_a_handle() -> None:
    config = ApiServerConfig(population=RECORDED, synthetic=False, fault_malformed_rate=0.5, seed=3)
    with start_server(config) as server:
        source = http_source(server.base_url, attempts=12)
        batches = [source.fetch_batch(i, ["alice", "bob", "nobody"]) for i in range(6)]
        assert server.stats().faults["malformed"] > 0
    for batch in batches:
        assert outcomes(batch) == {"alice": "found", "bob": "found", "nobody": "not_found"}


def test_partial_answers_are_asked_again_for_the_missing_handles() -> None:
    config = ApiServerConfig(population=RECORDED, fault_partial_rate=0.4, seed=5)
    with start_server(config) as server:
        source = http_source(server.base_url, attempts=12)
        batch = source.fetch_batch(0, SYNTHETIC_HANDLES)
        partial = server.stats().faults["partial"]
    assert partial > 0 and batch.ok
    clean = ApiServerConfig(population=RECORDED, seed=5)
    with start_server(clean) as server:
        expected = http_source(server.base_url).fetch_batch(0, SYNTHETIC_HANDLES)
    assert outcomes(batch) == outcomes(expected)
    assert batch.attempts > 1


def test_timeouts_are_retried_then_recorded() -> None:
    config = ApiServerConfig(population=RECORDED, fault_timeout_rate=1.0, fault_hold_s=0.6)
    with start_server(config) as server:
        client = XClient(server.base_url, None, timeout_s=0.2)
        source = HttpSource(client, name="t", kind="simulated", max_attempts=2, backoff_base_s=0)
        batch = source.fetch_batch(0, ["alice"])
    assert batch.error is not None and "timeout" in batch.error and batch.attempts == 2


def test_injected_429s_wait_for_retry_after_and_do_not_count_as_attempts() -> None:
    config = ApiServerConfig(population=RECORDED, fault_429_rate=0.6, fault_retry_after_s=0, seed=1)
    with start_server(config) as server:
        source = http_source(server.base_url, attempts=1)  # one try for 5xx, yet 429s pass
        batches = [source.fetch_batch(i, ["alice"]) for i in range(5)]
        assert server.status_counts[429] > 0
    assert all(b.ok for b in batches)


def test_a_handle_twice_in_one_batch_in_two_cases_is_asked_once(server: RunningServer) -> None:
    batch = http_source(server.base_url).fetch_batch(0, ["Alice", "bob", "alice", "nobody"])
    assert (server.stats().requests, server.stats().usernames) == (1, 3)  # alice once
    assert batch.handles == ("Alice", "bob", "alice", "nobody")
    rows = profiles(raw_frame([batch])).sort("handle_key")
    assert rows.select("handle_key", "outcome").rows() == [
        ("alice", "found"),
        ("bob", "found"),
        ("nobody", "not_found"),
    ]


def test_a_fault_injected_harvest_ends_with_the_same_dataset(tmp_path: Path) -> None:
    """429s, 5xx, timeouts, malformed bodies and partial answers change nothing in the end."""
    seed_file = tmp_path / "seeds.txt"
    seed_file.write_text("\n".join(SYNTHETIC_HANDLES) + "\n", encoding="utf-8")
    faults = {
        "fault_429_rate": 0.1,
        "fault_5xx_rate": 0.2,
        "fault_timeout_rate": 0.1,
        "fault_malformed_rate": 0.1,
        "fault_partial_rate": 0.1,
        "fault_hold_s": 0.8,
        "fault_retry_after_s": 0,
    }
    reports = {}
    for name, knobs in (("clean", {}), ("faulty", faults)):
        with start_server(ApiServerConfig(seed=11, **knobs)) as server:  # type: ignore[arg-type]
            reports[name] = run_harvest(harvest_config(tmp_path / name, seed_file, server.base_url))
            stats = server.stats()
        if name == "faulty":
            assert set(stats.faults) == {"429", "5xx", "timeout", "malformed", "partial"}
    clean, faulty = reports["clean"], reports["faulty"]
    assert faulty.funnel["failed"] == 0
    assert faulty.funnel == clean.funnel
    assert without_fetch_times(exported_records(faulty.export_dir)) == without_fetch_times(
        exported_records(clean.export_dir)
    )
    assert handle_outcomes(faulty) == handle_outcomes(clean)


def harvest_config(data_dir: Path, seed_file: Path, source: str) -> PipelineConfig:
    return PipelineConfig(
        seed_paths=(seed_file,),
        lookup=LookupSettings(
            source=source,
            batch_size=5,
            parallel_batches=3,
            timeout_s=0.4,
            max_attempts=10,
            backoff_base_s=0.01,
            rate_limit_margin_s=0.05,
        ),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=data_dir),
    )


def exported_records(export_dir: Path) -> list[dict[str, Any]]:
    lines = (export_dir / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def without_fetch_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for record in records:
        record["meta"].pop("last_refresh_at", None)
        for source in record["meta"]["sources"]:
            source.pop("fetched_at", None)
    return records


def handle_outcomes(report: RunReport) -> list[tuple[str, str]]:
    con = duckdb.connect(str(report.dataset), read_only=True)
    try:
        rows = con.execute(
            "SELECT handle_key, outcome FROM handle_outcomes WHERE run_id = ? ORDER BY 1",
            [report.run_id],
        ).fetchall()
    finally:
        con.close()
    return [(str(h), str(o)) for h, o in rows]
