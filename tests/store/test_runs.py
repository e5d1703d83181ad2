"""The run ledger: runs and their arguments, seed files known by content."""

from __future__ import annotations

import polars as pl

from influx_etl.store import Store


def test_runs_record_their_arguments_and_outcome(store: Store) -> None:
    store.begin_run("r1", "2026-01-01T00:00:00Z", "embedded", {"batch_size": 75})
    store.finish_run("r1", "2026-01-01T00:01:00Z", "succeeded", {"kept": 3})
    run = store.runs().row(0, named=True)
    assert run["status"] == "succeeded" and '"kept": 3' in run["counts"]


def test_processed_seed_files_are_known_by_content(store: Store) -> None:
    files = pl.DataFrame({"name": ["a.csv"], "path": ["lists/a.csv"], "sha256": ["f" * 64]})
    store.record_seed_files("r1", files)
    assert store.processed_seed_hashes() == set()
    store.mark_seed_files_processed("r1", ["f" * 64])
    assert store.processed_seed_hashes() == {"f" * 64}
