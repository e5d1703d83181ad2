"""X List reads: every page of the Lists endpoints as it came, and where a read stopped.

A *read* pages through one resource of one endpoint (a List's metadata, a List's members, a
user's List memberships). Each page is committed with its line in the usage ledger before the
next one is asked, so a read killed at any point resumes at its last ``next_token``
(:meth:`ListReads.open_list_read`), and every later use (the pipeline's answers, discovery, a
replay) reads the stored pages, not the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import polars as pl

from influx_etl.sources.lists import Page
from influx_etl.sources.xclient import ENDPOINT_LIST_MEMBERS, utc_now_iso
from influx_etl.store.connection import NEW_ROWS, StoreBase

MEMBER_ANSWERS_SCHEMA = pl.Schema(
    {
        "handle_key": pl.String,
        "list_id": pl.String,
        "requested_at": pl.String,
        "user_json": pl.String,
        "tweet_json": pl.String,
    }
)
"""One stored List member object per handle (its newest), with its pinned post if the page held
it: what answers a handle without a lookup."""


@dataclass(frozen=True)
class ReadState:
    """Where a read of one resource starts: a new read, or an unfinished one taken over."""

    read_id: str
    next_page: int
    token: str | None
    resumed: bool


class ListReads(StoreBase):
    """``list_reads`` and ``list_pages``."""

    def open_list_read(self, endpoint: str, resource_id: str) -> ReadState:
        """The unfinished read of ``resource_id`` on ``endpoint`` to continue, or a new one."""
        row = self._con.execute(
            "SELECT r.read_id, max(p.page), arg_max(p.next_token, p.page) FROM list_reads r "
            "LEFT JOIN list_pages p USING (read_id) WHERE r.endpoint = ? AND r.resource_id = ? "
            "AND r.status = 'running' GROUP BY r.read_id, r.started_at "
            "ORDER BY r.started_at DESC LIMIT 1",
            [endpoint, resource_id],
        ).fetchone()
        if row is not None:
            last_page = row[1]
            return ReadState(
                read_id=str(row[0]),
                next_page=0 if last_page is None else int(last_page) + 1,
                token=None if row[2] is None else str(row[2]),
                resumed=last_page is not None,
            )
        read_id = f"{utc_now_iso()}-{secrets.token_hex(3)}"
        with self._transaction(f"starting a read of {endpoint} {resource_id}"):
            self._con.execute(
                "INSERT INTO list_reads VALUES (?, ?, ?, ?, NULL, 'running', NULL)",
                [read_id, endpoint, resource_id, utc_now_iso()],
            )
        return ReadState(read_id, 0, None, False)

    def save_list_page(self, read_id: str, page_number: int, page: Page, usage_run: str) -> None:
        """Commit one page and its line in the usage ledger (the members it read are user
        reads) before anything reads it."""
        response = page.response
        with self._transaction(f"saving page {page_number} of {page.endpoint} {page.resource_id}"):
            self._con.execute(
                "INSERT INTO list_pages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    read_id,
                    page_number,
                    page.endpoint,
                    page.resource_id,
                    page.pagination_token,
                    page.next_token,
                    response.requested_at,
                    response.status,
                    page.requests,
                    response.body,
                ],
            )
            users = (
                "coalesce(json_extract_string(body, '$.data[*].id'), []::VARCHAR[])"
                if page.endpoint == ENDPOINT_LIST_MEMBERS
                else "[]::VARCHAR[]"  # List objects, not user reads
            )
            self._con.execute(
                f"INSERT INTO api_usage SELECT ?, page, requested_at, ?, requests, {users} "
                "FROM list_pages WHERE read_id = ? AND page = ?",
                [usage_run, f"GET {page.endpoint}", read_id, page_number],
            )

    def finish_list_read(self, read_id: str, status: str, detail: str | None = None) -> None:
        self._execute(
            "UPDATE list_reads SET status = ?, detail = ?, finished_at = ? WHERE read_id = ?",
            [status, detail, utc_now_iso(), read_id],
        )

    def latest_list_reads(
        self, endpoint: str, resource_ids: list[str] | None = None
    ) -> pl.DataFrame:
        """The newest finished read of each resource (``read_id``, ``resource_id``,
        ``status``, ``detail``, ``finished_at``, ``pages``, ``requests``)."""
        return self._frame(
            "WITH newest AS (SELECT read_id, resource_id, status, detail, finished_at "
            "  FROM list_reads WHERE endpoint = $endpoint AND status <> 'running' "
            "  AND ($ids IS NULL OR list_contains($ids, resource_id)) "
            "  QUALIFY row_number() OVER (PARTITION BY resource_id "
            "  ORDER BY finished_at DESC) = 1) "
            "SELECT n.read_id, n.resource_id, n.status, n.detail, n.finished_at, "
            "count(p.page)::BIGINT AS pages, coalesce(sum(p.requests), 0)::BIGINT AS requests "
            "FROM newest n LEFT JOIN list_pages p USING (read_id) "
            "GROUP BY n.read_id, n.resource_id, n.status, n.detail, n.finished_at "
            "ORDER BY n.resource_id",
            {"endpoint": endpoint, "ids": resource_ids},
        )

    def list_page_items(self, read_ids: list[str]) -> pl.DataFrame:
        """The ``data`` items of the reads' pages in page order: ``read_id``, ``resource_id``,
        ``position`` (1-based over the read), ``requested_at``, ``item`` (the object's JSON text
        as the API sent it)."""
        return self._frame(
            "SELECT read_id, resource_id, (row_number() OVER (PARTITION BY read_id "
            "ORDER BY page, i))::BIGINT AS position, requested_at, item::VARCHAR AS item "
            "FROM (SELECT read_id, resource_id, page, requested_at, "
            "unnest(json_extract(body, '$.data[*]')) AS item, "
            "generate_subscripts(json_extract(body, '$.data[*]'), 1) AS i "
            "FROM list_pages WHERE list_contains($ids, read_id) AND json_valid(body)) "
            "ORDER BY read_id, position",
            {"ids": read_ids},
        )

    def list_page_documents(self, read_ids: list[str]) -> pl.DataFrame:
        """The reads' pages: ``read_id``, ``resource_id``, ``page``, ``status``, ``body``."""
        return self._frame(
            "SELECT read_id, resource_id, page::BIGINT AS page, status::BIGINT AS status, body "
            "FROM list_pages WHERE list_contains($ids, read_id) ORDER BY read_id, page",
            {"ids": read_ids},
        )

    def save_member_answers(self, run_id: str, batches: pl.DataFrame) -> None:
        """Commit raw-lookups rows of batches answered by stored List members (``batch_id``,
        ``handles``, ``requested_at``, ``body``, ``default_origin``): no request was sent, so
        the usage ledger gains nothing."""
        with self._transaction(f"saving {batches.height} batches answered by List members"):
            self._insert_frame(
                "INSERT INTO raw_lookups SELECT $run_id, batch_id, handles, requested_at, 200, "
                "body, NULL, 0, 0.0, '{}', default_origin, NULL "
                f"FROM {NEW_ROWS}",
                batches,
                {"run_id": run_id},
            )

    def member_answers(self, handle_keys: pl.Series, since: str | None) -> pl.DataFrame:
        """For each of ``handle_keys`` a List member object stored by a finished read at or
        after ``since`` (ISO; None: any age), its newest (:data:`MEMBER_ANSWERS_SCHEMA`)."""
        self._con.register("__keys", handle_keys.rename("handle_key").to_frame())
        try:
            return self._frame(
                "WITH reads AS (SELECT read_id, resource_id FROM list_reads "
                "  WHERE endpoint = $endpoint AND status = 'ok' "
                "  AND ($since IS NULL OR finished_at >= $since)), "
                "members AS (SELECT p.resource_id AS list_id, p.requested_at, "
                "  unnest(json_extract(p.body, '$.data[*]')) AS user, "
                "  json_extract(p.body, '$.includes.tweets') AS tweets "
                "  FROM list_pages p JOIN reads USING (read_id) WHERE json_valid(p.body)), "
                "keyed AS (SELECT lower(json_extract_string(user, '$.username')) AS handle_key, "
                "  list_id, requested_at, user, tweets FROM members) "
                "SELECT k.handle_key, k.list_id, k.requested_at, k.user::VARCHAR AS user_json, "
                "  (SELECT t::VARCHAR FROM unnest(json_extract(k.tweets, '$[*]')) AS x(t) "
                "   WHERE json_extract_string(t, '$.id') = "
                "   json_extract_string(k.user, '$.pinned_tweet_id') LIMIT 1) AS tweet_json "
                "FROM keyed k SEMI JOIN __keys USING (handle_key) "
                "QUALIFY row_number() OVER (PARTITION BY k.handle_key "
                "ORDER BY k.requested_at DESC) = 1",
                {"endpoint": ENDPOINT_LIST_MEMBERS, "since": since},
            )
        finally:
            self._con.unregister("__keys")
