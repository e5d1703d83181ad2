"""The run ledger: runs begun, resumed and finished, their seeds, seed files and handle checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from influx_etl.frames import OUTCOMES_SCHEMA, RUN_SEEDS_SCHEMA
from influx_etl.store.connection import NEW_ROWS, StoreBase


class RunLedger(StoreBase):
    """Runs (``runs``, ``run_seeds``, ``seed_rejects``, ``handle_outcomes`` read back), the seed
    files seen (``seed_files``) and each handle's last settled lookup (``handle_checks``)."""

    def begin_run(
        self,
        run_id: str,
        started_at: str,
        source: str,
        args: Mapping[str, Any],
        *,
        fingerprint: str | None = None,
        seeds: pl.DataFrame | None = None,
        operator: str | None = None,
        rules_versions: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a new run and its batched seeds (RUN_SEEDS_SCHEMA), in one transaction."""
        con = self._con
        with self._transaction(f"recording run {run_id} in {self.path}"):
            con.execute(
                "INSERT INTO runs (run_id, started_at, status, source, fingerprint, args, "
                "operator, rules_versions) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                [
                    run_id,
                    started_at,
                    source,
                    fingerprint,
                    json.dumps(args, sort_keys=True),
                    operator,
                    json.dumps(dict(rules_versions or {}), sort_keys=True),
                ],
            )
            if seeds is not None:
                self._insert_frame(
                    f"INSERT INTO run_seeds SELECT $run, * FROM {NEW_ROWS}",
                    seeds.select(list(RUN_SEEDS_SCHEMA)),
                    {"run": run_id},
                )

    def unfinished_run(self, fingerprint: str) -> str | None:
        """The newest run with this fingerprint that did not settle every handle — killed,
        stopped by an error, or ended ``incomplete`` with failed handles — which a new run takes
        over, asking only for what it lacks."""
        rows = self._con.execute(
            "SELECT run_id FROM runs WHERE fingerprint = ? "
            "AND status IN ('running', 'failed', 'incomplete') "
            "AND started_at >= coalesce((SELECT max(started_at) FROM runs WHERE fingerprint = ? "
            "AND status = 'succeeded'), '') ORDER BY started_at DESC LIMIT 1",
            [fingerprint, fingerprint],
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def reopen_run(self, run_id: str) -> None:
        self._execute(
            "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [run_id]
        )

    def next_batch_id(self, run_id: str) -> int:
        """One past the highest batch id stored for ``run_id`` (0 for a run with none)."""
        return self._count(
            "SELECT coalesce(max(batch_id) + 1, 0) FROM raw_lookups WHERE run_id = ?", [run_id]
        )

    def run_seeds(self, run_id: str) -> pl.DataFrame:
        columns = ", ".join(RUN_SEEDS_SCHEMA)
        frame = self._frame(
            f"SELECT {columns} FROM run_seeds WHERE run_id = ? ORDER BY batch_id, line", [run_id]
        )
        return frame.cast(dict(RUN_SEEDS_SCHEMA))  # type: ignore[arg-type]

    def latest_run_with_raw(self) -> str | None:
        """The newest finished run that looked handles up (not a replay), if any."""
        rows = self._con.execute(
            "SELECT run_id FROM runs WHERE status IN ('succeeded', 'incomplete', 'capped') "
            "AND run_id IN (SELECT run_id FROM raw_lookups) ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def run_seed_rows(self, run_id: str) -> int:
        """Seed rows the run read (duplicates and rejects included), as recorded at its start."""
        rows = self._con.execute(
            "SELECT coalesce(json_extract(args, '$.seed_rows')::BIGINT, 0) FROM runs "
            "WHERE run_id = ?",
            [run_id],
        ).fetchall()
        return int(rows[0][0]) if rows else 0

    def finish_run(
        self, run_id: str, finished_at: str, status: str, counts: Mapping[str, int]
    ) -> None:
        self._execute(
            "UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE run_id = ?",
            [finished_at, status, json.dumps(dict(counts)), run_id],
        )

    def runs(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM runs ORDER BY started_at")

    def seed_rejects(self, run_id: str) -> pl.DataFrame:
        return self._frame(
            "SELECT seed_file, line, raw_handle, reason FROM seed_rejects WHERE run_id = ? "
            "ORDER BY seed_file, line",
            [run_id],
        )

    def handle_outcomes(self, run_id: str) -> pl.DataFrame:
        return self._frame(
            "SELECT * FROM handle_outcomes WHERE run_id = ? ORDER BY handle_key", [run_id]
        )

    def record_seed_files(self, run_id: str, files: pl.DataFrame) -> None:
        """Remember seed file contents (``name, path, sha256``) seen by a run."""
        con = self._con
        con.register("run_seed_files", files.select("sha256", "name", "path"))
        try:
            with self._named_errors():
                con.execute(
                    "INSERT OR IGNORE INTO seed_files "
                    "SELECT sha256, name, path, ?, NULL FROM run_seed_files",
                    [run_id],
                )
        finally:
            con.unregister("run_seed_files")

    def mark_seed_files_processed(self, run_id: str, sha256s: list[str]) -> None:
        self._execute(
            "UPDATE seed_files SET processed_run = ? WHERE list_contains(?, sha256)",
            [run_id, sha256s],
        )

    def processed_seed_hashes(self) -> set[str]:
        rows = self._con.execute(
            "SELECT sha256 FROM seed_files WHERE processed_run IS NOT NULL"
        ).fetchall()
        return {str(row[0]) for row in rows}

    def handle_checks(self, handle_keys: pl.Series) -> pl.DataFrame:
        """The last settled lookup (``handle_key``, ``outcome``, ``id``, ``checked_at``) of each
        of these handle keys that was ever looked up."""
        self._con.register("checked_keys", handle_keys.rename("handle_key").to_frame())
        try:
            return self._frame(
                "SELECT handle_key, outcome, id, checked_at FROM handle_checks "
                "SEMI JOIN checked_keys USING (handle_key) "
                "QUALIFY row_number() OVER "
                "(PARTITION BY handle_key ORDER BY checked_at DESC, run_id DESC) = 1"
            )
        finally:
            self._con.unregister("checked_keys")

    def latest_outcomes(self, handle_keys: pl.Series) -> pl.DataFrame:
        """The newest settled outcome row (OUTCOMES_SCHEMA) of each of these handle keys, from
        any run (a replay's decision supersedes the run it replayed)."""
        columns = ", ".join(f"o.{name}" for name in OUTCOMES_SCHEMA)
        self._con.register("reused_keys", handle_keys.rename("handle_key").to_frame())
        try:
            frame = self._frame(
                f"SELECT {columns} FROM handle_outcomes o JOIN runs r USING (run_id) "
                "SEMI JOIN reused_keys k ON k.handle_key = o.handle_key "
                "WHERE o.outcome <> 'failed' QUALIFY row_number() OVER "
                "(PARTITION BY o.handle_key ORDER BY r.started_at DESC) = 1"
            )
        finally:
            self._con.unregister("reused_keys")
        return frame.cast(dict(OUTCOMES_SCHEMA))  # type: ignore[arg-type]

    def record_checks(self, run_id: str) -> None:
        """Remember the settled outcomes this run looked up (not those it reused or replayed:
        only rows answered by one of its own raw batches) as each handle's newest check. The
        table is a log read newest-first, not keyed, its identifiers stored uncompressed like
        the run's per-handle identifiers: a key or compression slows a big run
        (docs/performance.md)."""
        self._execute(
            "INSERT INTO handle_checks "
            "SELECT o.handle_key, o.handle, o.outcome, o.id, l.requested_at, o.run_id "
            "FROM handle_outcomes o JOIN raw_lookups l "
            "ON l.run_id = o.run_id AND l.batch_id = o.batch_id "
            # settled: one outcome per handle of the run, so no window to pick one
            "WHERE o.run_id = ? AND o.outcome <> 'failed'",
            [run_id],
        )

    def failed_handle_keys(self, run_id: str) -> pl.Series:
        return self._frame(
            "SELECT handle_key FROM handle_outcomes WHERE run_id = ? AND outcome = 'failed'",
            [run_id],
        )["handle_key"]
