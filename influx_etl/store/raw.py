"""Raw lookups: each batch's API document (or file reference) as it came, and the usage ledger."""

from __future__ import annotations

import json

import polars as pl

from influx_etl.sources import RawBatch
from influx_etl.store.connection import INSERT_SLICE_ROWS, NEW_ROWS, StoreBase, slices


class RawLookups(StoreBase):
    """``raw_lookups``, committed batch by batch before anything reads them, and ``api_usage``."""

    def save_raw_batch(self, run_id: str, batch: RawBatch) -> None:
        """Commit one batch's raw document before anything downstream reads it."""
        self._execute(
            "INSERT OR REPLACE INTO raw_lookups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                batch.batch_id,
                list(batch.handles),
                batch.requested_at,
                batch.status,
                batch.body,
                batch.error,
                batch.attempts,
                batch.elapsed_s,
                json.dumps(dict(batch.rate_limit)),
                batch.default_origin,
                batch.raw_file.to_json() if batch.raw_file else None,
            ],
        )

    def save_bulk_batches(self, run_id: str, batches: pl.DataFrame, answer: RawBatch) -> None:
        """Commit, in one transaction, one raw-lookups row per batch of ``batches``
        (``batch_id``, ``handle``; the handles in order) answered by ``answer`` (a bulk source's
        :meth:`~influx_etl.sources.BulkLookupSource.bulk_answer`). The batches are new: a batch
        id stored before is an error, not replaced (a resumed run numbers its batches on)."""
        params = {
            "run": run_id,
            "requested_at": answer.requested_at,
            "status": answer.status,
            "attempts": answer.attempts,
            "elapsed_s": answer.elapsed_s,
            "rate_limit": json.dumps(dict(answer.rate_limit)),
            "origin": answer.default_origin,
            "raw_file": answer.raw_file.to_json() if answer.raw_file else None,
        }
        handles = batches.select("batch_id", "handle")
        if not handles.get_column("batch_id").is_sorted():
            handles = handles.sort("batch_id", maintain_order=True)
        with self._transaction(f"{self.path}: cannot store raw lookups of run {run_id}"):
            for rows in slices(handles, INSERT_SLICE_ROWS, "batch_id"):
                # the lists made by Polars, and a plain INSERT: both faster than DuckDB's
                # list(handle ORDER BY ...) GROUP BY and an INSERT OR REPLACE (docs/performance.md)
                self._insert_frame(
                    "INSERT INTO raw_lookups SELECT $run, batch_id, handle, $requested_at, "
                    "$status, NULL, NULL, $attempts, $elapsed_s, $rate_limit, $origin, $raw_file "
                    f"FROM {NEW_ROWS}",
                    rows.group_by("batch_id", maintain_order=True).agg("handle"),
                    params,
                )

    def raw_lookups(self, run_id: str) -> pl.DataFrame:
        """The run's raw batches, with the columns :func:`influx_etl.lookup.profiles` reads."""
        return self._frame(
            "SELECT batch_id, handles, requested_at, status::BIGINT AS status, body, error, "
            "default_origin, raw_file::VARCHAR AS raw_file FROM raw_lookups WHERE run_id = ? "
            "ORDER BY batch_id",
            [run_id],
        )

    def record_usage(self, run_id: str, batch_id: int, endpoint: str, requests: int) -> None:
        """Add a stored raw batch's requests and the user ids its document read to the ledger."""
        self._execute(
            "INSERT INTO api_usage SELECT run_id, batch_id, requested_at, ?, ?, "
            "coalesce(CASE WHEN json_valid(body) THEN json_extract_string(body, '$.data[*].id') "
            "END, []::VARCHAR[]) FROM raw_lookups WHERE run_id = ? AND batch_id = ?",
            [endpoint, requests, run_id, batch_id],
        )

    def usage(self, since: str | None = None) -> pl.DataFrame:
        """The ledger per UTC ``day``, ``run_id`` and ``endpoint``: ``requests``,
        ``users_read`` and ``billable`` (users this run read first that UTC day: a user read
        again the same day is not billed again), from ``since`` (a date) on."""
        return self._frame(
            "WITH reads AS (SELECT run_id, endpoint, requested_at, left(requested_at, 10) AS day, "
            "  unnest(user_ids) AS user_id FROM api_usage), "
            "firsts AS (SELECT day, user_id, arg_min(run_id, requested_at) AS run_id, "
            "  arg_min(endpoint, requested_at) AS endpoint FROM reads GROUP BY day, user_id), "
            "requests AS (SELECT left(requested_at, 10) AS day, run_id, endpoint, "
            "  sum(requests)::BIGINT AS requests, sum(len(user_ids))::BIGINT AS users_read "
            "  FROM api_usage GROUP BY ALL), "
            "billable AS (SELECT day, run_id, endpoint, count(*) AS billable FROM firsts "
            "  GROUP BY ALL) "
            "SELECT day, run_id, endpoint, requests, users_read, "
            "  coalesce(billable, 0)::BIGINT AS billable FROM requests "
            "LEFT JOIN billable USING (day, run_id, endpoint) "
            "WHERE $since IS NULL OR day >= $since ORDER BY day, run_id, endpoint",
            {"since": since},
        )
