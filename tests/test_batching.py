"""Seeds cut into batches."""

from __future__ import annotations

import polars as pl

from influx_etl.batching import batch_handles, batched


def test_batches_partition_handles_in_order() -> None:
    seeds = pl.DataFrame({"handle": [f"h{i}" for i in range(7)]})
    work = batch_handles(batched(seeds, 3))
    assert [batch_id for batch_id, _ in work] == [0, 1, 2]
    assert [handles for _, handles in work] == [["h0", "h1", "h2"], ["h3", "h4", "h5"], ["h6"]]
