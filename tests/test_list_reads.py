"""List reads within a budget: caps between pages, page counts and rate-limit windows."""

from __future__ import annotations

import json

from influx_etl import list_reads
from influx_etl.sources.lists import Page
from influx_etl.sources.xclient import ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS, ApiResponse


def members_page(count: int) -> Page:
    body = json.dumps({"data": [{"id": str(i), "username": f"u{i}"} for i in range(count)]})
    return Page(ENDPOINT_LIST_MEMBERS, "11", None, ApiResponse(200, body, "t", 0.0), 1)


def test_a_request_cap_stops_before_the_request_beyond_it() -> None:
    budget = list_reads.Budget(max_requests=2)
    assert budget.allows(ENDPOINT_LIST)
    budget.take(Page(ENDPOINT_LIST, "11", None, ApiResponse(200, "{}", "t", 0.0), 1))
    assert budget.allows(ENDPOINT_LIST_MEMBERS)
    budget.take(members_page(100))
    assert not budget.allows(ENDPOINT_LIST_MEMBERS)
    assert budget.capped
    assert budget.sent == {ENDPOINT_LIST: 1, ENDPOINT_LIST_MEMBERS: 1}
    assert budget.users_read == 100


def test_a_cost_cap_counts_a_full_page_of_members_ahead() -> None:
    budget = list_reads.Budget(max_cost=2.0, price_per_user=0.01)
    assert budget.allows(ENDPOINT_LIST_MEMBERS)  # 100 users: 1.00 USD at most
    budget.take(members_page(100))
    assert budget.allows(ENDPOINT_LIST_MEMBERS)  # 200 users: exactly 2.00 USD
    budget.take(members_page(60))
    assert not budget.allows(ENDPOINT_LIST_MEMBERS)  # 260 would pass the cap
    assert list_reads.Budget(max_cost=0.0).allows(ENDPOINT_LIST)  # a List read costs no user


def test_pages_and_windows_per_endpoint() -> None:
    assert [list_reads.member_pages(n) for n in (None, 0, 1, 100, 101, 5000)] == [
        50,
        1,
        1,
        1,
        2,
        50,
    ]
    assert list_reads.windows(ENDPOINT_LIST_MEMBERS, 900) == 1
    assert list_reads.windows(ENDPOINT_LIST_MEMBERS, 901) == 2
    assert list_reads.windows(ENDPOINT_LIST, 76) == 2
