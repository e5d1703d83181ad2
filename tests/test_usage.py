"""What a run's requests read and cost: the endpoint the ledger names, the ledger summed."""

from __future__ import annotations

from pathlib import Path

from influx_etl.config import LookupSettings, PipelineConfig
from influx_etl.sources import RawBatch
from influx_etl.store import Store
from influx_etl.usage import run_usage, usage_endpoint


def test_the_ledger_names_the_endpoint_a_run_used() -> None:
    assert usage_endpoint(PipelineConfig()) == "GET /2/users/by"
    per_user = PipelineConfig(lookup=LookupSettings(endpoint="per-user"))
    assert usage_endpoint(per_user) == "GET /2/users/by/username/:username"


def test_a_run_usage_sums_its_ledger_lines_and_prices_the_billable(tmp_path: Path) -> None:
    body = '{"data":[{"id":"1","username":"a"},{"id":"2","username":"b"}]}'
    with Store.open(tmp_path / "d.duckdb", "live") as store:
        store.begin_run("r1", "2026-12-01T00:00:00Z", "x-api", {})
        for batch_id in (0, 1):  # the same two users read twice the same day: billed once
            store.save_raw_batch(
                "r1", RawBatch(batch_id, ("a", "b"), "2026-12-01T00:00:01Z", 200, body)
            )
            store.record_usage("r1", batch_id, "GET /2/users/by", 1)
        usage = run_usage(store, "r1", price_per_user=0.01)
    assert (usage.requests, usage.users_read, usage.billable) == (2, 4, 2)
    assert round(usage.cost, 4) == 0.02
