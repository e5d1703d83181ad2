"""Reading X Lists endpoints into the store, page by page, within a budget.

Extract only: every page is committed (with its usage line) before the next is asked, so a read
killed at any point resumes at its last ``next_token``; a resource read within its freshness
window is not read again. What the pages become is :mod:`influx_etl.list_members`' business.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from influx_etl import plan
from influx_etl.config import PlanSettings
from influx_etl.errors import BadRequestError, RateLimitError, TransportError
from influx_etl.sources.lists import ListsApi, Page, resource_detail, resource_outcome
from influx_etl.sources.xclient import ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS, PAGE_SIZE
from influx_etl.store import Store

log = logging.getLogger(__name__)

DOCUMENTED_LIMITS: Final = {
    ENDPOINT_LIST: 75,
    ENDPOINT_LIST_MEMBERS: 900,
    "/2/users/:id/list_memberships": 75,
}
"""Requests per 15-minute window of each Lists endpoint (app-only), as documented."""

MAX_MEMBER_PAGES: Final = 50
"""A List holds at most 5,000 members: 50 pages of 100."""


@dataclass
class Budget:
    """What a command may still send (``max_requests``) and spend (``max_cost``, member objects
    counted as user reads at ``price_per_user``); None: no cap. Shared by all its reads."""

    max_requests: int | None = None
    max_cost: float | None = None
    price_per_user: float = 0.0
    sent: dict[str, int] = field(default_factory=dict)
    users_read: int = 0
    capped: bool = False

    def allows(self, endpoint: str) -> bool:
        """Whether one more request of ``endpoint`` (a full page, at most) stays in the caps."""
        requests = sum(self.sent.values())
        if self.max_requests is not None and requests + 1 > self.max_requests:
            self.capped = True
        elif self.max_cost is not None and endpoint == ENDPOINT_LIST_MEMBERS:
            # a cent's rounding must not refuse a page the cap pays for exactly
            worst = (self.users_read + PAGE_SIZE) * self.price_per_user
            self.capped = worst > self.max_cost + 1e-9
        return not self.capped

    def take(self, page: Page) -> None:
        self.sent[page.endpoint] = self.sent.get(page.endpoint, 0) + page.requests
        if page.endpoint == ENDPOINT_LIST_MEMBERS:
            data = page.document.get("data")
            self.users_read += len(data) if isinstance(data, list) else 0


@dataclass(frozen=True)
class ReadResult:
    resource_id: str
    read_id: str | None
    status: str
    """``ok``, ``not_found``, ``forbidden``; ``failed`` (not answered: the next run resumes);
    ``capped`` (the budget ran out: the next run resumes)."""
    reused: bool = False
    detail: str | None = None


def fresh_since(settings: PlanSettings, now: datetime) -> str:
    """The oldest finish time (ISO) of a read still fresh: the ``found`` window's. ``--refresh``
    gives ``now`` (no read finished later), a window of for ever the empty string (every read
    finished after it)."""
    if settings.refresh:
        return now.isoformat()
    since = plan.fresh_since(settings, "found", now)
    return "" if since is None else since


def read_resource(
    api: ListsApi | None,
    store: Store,
    endpoint: str,
    resource_id: str,
    *,
    usage_run: str,
    budget: Budget,
    fresh_since: str,
    any_age: bool = False,
) -> ReadResult:
    """Read every page of ``resource_id`` on ``endpoint`` into ``store``, unless a read that
    finished at or after ``fresh_since`` is stored (``any_age``: any finished read; then, with
    no ``api``, nothing is sent at all, as for ``--from-raw``)."""
    latest = store.latest_list_reads(endpoint, [resource_id])
    if latest.height:
        row = latest.row(0, named=True)
        if any_age or row["finished_at"] >= fresh_since:
            return ReadResult(resource_id, row["read_id"], row["status"], True, row["detail"])
    if api is None:
        return ReadResult(resource_id, None, "failed", detail="no stored read to replay")
    state = store.open_list_read(endpoint, resource_id)
    page_number, token = state.next_page, state.token
    if state.resumed and token is None:
        store.finish_list_read(state.read_id, "ok")
        return ReadResult(resource_id, state.read_id, "ok")
    if state.resumed:
        log.warning("resuming the read of %s %s at page %d", endpoint, resource_id, page_number)
    while True:
        if not budget.allows(endpoint):
            return ReadResult(resource_id, state.read_id, "capped")
        try:
            page = _page(api, endpoint, resource_id, token)
        except (TransportError, RateLimitError, BadRequestError) as exc:
            log.warning("%s %s: %s (the next run resumes it)", endpoint, resource_id, exc)
            return ReadResult(resource_id, state.read_id, "failed", detail=str(exc))
        budget.take(page)
        store.save_list_page(state.read_id, page_number, page, usage_run)
        outcome = resource_outcome(page)
        if outcome != "ok":
            detail = resource_detail(page)
            store.finish_list_read(state.read_id, outcome, detail)
            return ReadResult(resource_id, state.read_id, outcome, detail=detail)
        token = page.next_token
        if token is None:
            store.finish_list_read(state.read_id, "ok")
            return ReadResult(resource_id, state.read_id, "ok")
        page_number += 1


@dataclass(frozen=True)
class Reader:
    """The reads of one command: one API (None: stored pages only), one store, one budget."""

    api: ListsApi | None
    store: Store
    usage_run: str
    budget: Budget
    fresh_since: str
    any_age: bool = False

    def read(self, endpoint: str, resource_id: str) -> ReadResult:
        return read_resource(
            self.api,
            self.store,
            endpoint,
            resource_id,
            usage_run=self.usage_run,
            budget=self.budget,
            fresh_since=self.fresh_since,
            any_age=self.any_age,
        )

    def read_all(self, endpoint: str, resource_ids: list[str]) -> list[ReadResult]:
        return [self.read(endpoint, one) for one in resource_ids]


def _page(api: ListsApi, endpoint: str, resource_id: str, token: str | None) -> Page:
    if endpoint == ENDPOINT_LIST:
        return api.list_info(resource_id)
    if endpoint == ENDPOINT_LIST_MEMBERS:
        return api.members_page(resource_id, token)
    return api.memberships_page(resource_id, token)


def member_pages(member_count: int | None) -> int:
    """Member pages a List needs: ``ceil(count / 100)`` (at least one), 50 when unknown."""
    if member_count is None:
        return MAX_MEMBER_PAGES
    return max(1, math.ceil(member_count / PAGE_SIZE))


def windows(endpoint: str, requests: int) -> int:
    """Rate-limit windows ``requests`` occupy at the endpoint's documented limit."""
    return math.ceil(requests / DOCUMENTED_LIMITS[endpoint])


def finished_reads(results: list[ReadResult], status: str = "ok") -> list[str]:
    return [r.read_id for r in results if r.status == status and r.read_id is not None]
