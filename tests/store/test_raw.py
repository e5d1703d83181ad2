"""Raw lookups, committed as they arrive and kept whole per batch, and the usage ledger."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from influx_etl.errors import StoreError
from influx_etl.sources import RawBatch
from influx_etl.store import Store, connection, raw


def test_bulk_batches_keep_each_batch_whole_and_in_order_across_insert_slices(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # slices of 3 rows at most, cut only between batches: batch 1 (4 handles) spans a slice
    monkeypatch.setattr(raw, "INSERT_SLICE_ROWS", 3)
    monkeypatch.setattr(connection, "INSERT_SLICE_ROWS", 3)
    batches = pl.DataFrame(
        {
            "batch_id": [0, 0, 1, 1, 1, 1, 2],
            "handle": ["b", "a", "d", "c", "f", "e", "g"],
        }
    )
    answer = RawBatch(-1, (), "2026-01-01T00:00:01Z", 200, None, default_origin="prefetched")
    store.begin_run("r1", "2026-01-01T00:00:00Z", "prefetched", {})
    store.save_bulk_batches("r1", batches, answer)
    stored = store.raw_lookups("r1")
    assert stored.select("batch_id", "handles").rows() == [
        (0, ["b", "a"]),
        (1, ["d", "c", "f", "e"]),
        (2, ["g"]),
    ]
    assert stored["default_origin"].to_list() == ["prefetched"] * 3
    # a batch id stored before is refused, and the transaction leaves nothing of the second call
    with pytest.raises(StoreError, match="cannot store raw lookups of run r1"):
        store.save_bulk_batches("r1", batches.with_columns(pl.col("batch_id") + 2), answer)
    assert store.raw_lookups("r1")["batch_id"].to_list() == [0, 1, 2]


def test_raw_batches_are_committed_as_they_arrive(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live") as store:
        store.begin_run("r1", "2026-01-01T00:00:00Z", "x-api", {"batch_size": 2})
        store.save_raw_batch(
            "r1",
            RawBatch(
                0,
                ("a", "b"),
                "2026-01-01T00:00:01Z",
                200,
                '{"data": []}',
                rate_limit={"x-rate-limit-remaining": "299"},
            ),
        )
    # read back from another connection: the batch is on disk, not in a pending transaction
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT batch_id, handles, status, rate_limit FROM raw_lookups").fetchall()
    con.close()
    assert rows == [(0, ["a", "b"], 200, '{"x-rate-limit-remaining": "299"}')]


def raw_batch(batch_id: int, requested_at: str, user_ids: list[str]) -> RawBatch:
    body = {"data": [{"id": uid, "username": f"u{uid}"} for uid in user_ids]}
    return RawBatch(
        batch_id=batch_id,
        handles=tuple(f"u{uid}" for uid in user_ids),
        requested_at=requested_at,
        status=200,
        body=json.dumps(body),
    )


def test_the_usage_ledger_bills_a_user_once_per_utc_day(tmp_path: Path) -> None:
    with Store.open(tmp_path / "d.duckdb", "live") as store:
        reads = {
            "r1": [(0, "2026-01-01T08:00:00Z", ["1", "2"]), (1, "2026-01-01T09:00:00Z", ["2"])],
            "r2": [(0, "2026-01-01T23:00:00Z", ["1", "3"]), (1, "2026-01-02T00:30:00Z", ["1"])],
        }
        for run_id, batches in reads.items():
            store.begin_run(run_id, batches[0][1], "x-api", {})
            for batch_id, at, ids in batches:
                store.save_raw_batch(run_id, raw_batch(batch_id, at, ids))
                store.record_usage(run_id, batch_id, "GET /2/users/by", 1)
        store.save_raw_batch("r2", RawBatch(2, ("x",), "2026-01-02T00:31:00Z", None, None, "x"))
        store.record_usage("r2", 2, "GET /2/users/by", 4)  # a failed batch reads nobody
        usage = store.usage()
        since = store.usage("2026-01-02")
    assert usage.select("day", "run_id", "requests", "users_read", "billable").rows() == [
        ("2026-01-01", "r1", 2, 3, 2),
        ("2026-01-01", "r2", 1, 2, 1),  # user 1 was billed to r1 that day already
        ("2026-01-02", "r2", 5, 1, 1),  # a new UTC day bills user 1 again
    ]
    assert since["day"].to_list() == ["2026-01-02"]
