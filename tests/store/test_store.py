"""The Store: opening a dataset with a memory limit, and its author queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl.errors import StoreError
from influx_etl.store import Store
from tests.store.rows import NO_IDS, NO_REJECTS, author, authors, outcomes


def test_stale_handles_are_those_last_checked_before_the_cutoff(store: Store) -> None:
    old = [{"method": "x-api-v2", "fetched_at": "2026-01-01T00:00:00Z", "evidence": "t"}]
    new = [{"method": "x-api-v2", "fetched_at": "2026-03-01T00:00:00Z", "evidence": "t"}]
    both = authors(author("1", "alice", sources=old), author("2", "bob", sources=new))
    store.integrate("r1", outcomes(), both, NO_IDS, NO_REJECTS)
    assert store.stale_handles("2026-02-01T00:00:00Z") == ["alice"]


def test_a_memory_limit_is_set_on_the_dataset_connection(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live", memory_limit="300MB") as limited:
        limit = limited._con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert limit[0][0].startswith("286")  # DuckDB reports 300 MB in MiB: 286.1 MiB
    with pytest.raises(StoreError, match="memory limit 'much' refused"):
        Store.open(path, "live", memory_limit="much")
