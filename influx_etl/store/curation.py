"""Curation: bans (authors who asked to be removed) and reviewers' QA verdicts."""

from __future__ import annotations

import polars as pl

from influx_etl.errors import StoreError
from influx_etl.frames import QA_VERDICTS_SCHEMA
from influx_etl.store.connection import StoreBase


class Curation(StoreBase):
    """``banned_authors`` (a ban removes the author now and keeps them out) and ``qa_verdicts``."""

    def ban(self, handle: str, reason: str, banned_at: str) -> bool:
        """Ban an author by handle (case-insensitive): removed now, never integrated again.

        Returns whether the author was in the dataset. The id is remembered too, so the ban
        survives a rename.
        """
        if not reason.strip():
            raise StoreError("a ban needs a reason (ban_reason), e.g. 'asked to be removed'")
        key = handle.lstrip("@").lower()
        con = self._con
        with self._transaction(f"{self.path}: banning @{key}"):
            rows = con.execute("SELECT id FROM authors WHERE handle_key = ?", [key]).fetchall()
            user_id = str(rows[0][0]) if rows else None
            con.execute(
                "INSERT OR REPLACE INTO banned_authors VALUES (?, ?, ?, ?)",
                [key, user_id, banned_at, reason.strip()],
            )
            con.execute("DELETE FROM authors WHERE handle_key = ?", [key])
        return user_id is not None

    def banned(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM banned_authors ORDER BY handle_key")

    def record_qa_verdicts(self, verdicts: pl.DataFrame) -> int:
        """Store reviewers' verdicts (QA_VERDICTS_SCHEMA) in one transaction; a verdict given
        again for the same author in a review file of the same name (the file corrected and
        recorded again) replaces the earlier one. Returns the rows stored.
        """
        rows = verdicts.select(list(QA_VERDICTS_SCHEMA))
        con = self._con
        con.register("new_qa_verdicts", rows)
        try:
            with self._transaction(f"{self.path}: recording QA verdicts"):
                columns = ", ".join(QA_VERDICTS_SCHEMA)
                con.execute(
                    f"INSERT OR REPLACE INTO qa_verdicts ({columns}) "
                    f"SELECT {columns} FROM new_qa_verdicts"
                )
        finally:
            con.unregister("new_qa_verdicts")
        return rows.height
