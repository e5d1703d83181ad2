"""The Lists endpoints' client side: List references, and what one page says of its resource."""

from __future__ import annotations

import json

import pytest

from influx_etl.errors import ConfigError
from influx_etl.sources.lists import Page, list_id, resource_detail, resource_outcome
from influx_etl.sources.xclient import ENDPOINT_LIST, ApiResponse


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1234567890", "1234567890"),
        (" 1234567890 ", "1234567890"),
        ("https://x.com/i/lists/1234567890", "1234567890"),
        ("https://twitter.com/i/lists/1234567890/", "1234567890"),
        ("x.com/i/lists/42?s=20", "42"),
        ("https://mobile.twitter.com/i/lists/42#members", "42"),
    ],
)
def test_a_list_is_given_by_id_or_url(given: str, expected: str) -> None:
    assert list_id(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "abc", "https://x.com/someone/lists/12", "https://example.com/i/lists/12", "1" * 20],
)
def test_anything_else_is_refused_naming_it(given: str) -> None:
    with pytest.raises(ConfigError, match="expected a List id"):
        list_id(given)


def answered(status: int, body: object) -> Page:
    return Page(ENDPOINT_LIST, "9", None, ApiResponse(status, json.dumps(body), "t", 0.0), 1)


@pytest.mark.parametrize(
    ("status", "body", "outcome", "detail"),
    [
        (200, {"data": {"id": "9", "name": "L"}}, "ok", None),
        (200, {"meta": {"result_count": 0}}, "ok", None),
        (
            200,
            {
                "errors": [
                    {"title": "Not Found Error", "detail": "Could not find list with id: [9]."}
                ]
            },
            "not_found",
            "Could not find list with id: [9].",
        ),
        (
            200,
            {
                "errors": [
                    {
                        "title": "Forbidden",
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
                        "detail": "You are not authorized to see the List with id: [9].",
                    }
                ]
            },
            "forbidden",
            "You are not authorized to see the List with id: [9].",
        ),
        (404, {"title": "Not Found", "detail": "gone"}, "not_found", "gone"),
        (403, {"title": "Forbidden", "detail": "private"}, "forbidden", "private"),
    ],
)
def test_a_page_says_whether_its_list_is_there_private_or_gone(
    status: int, body: object, outcome: str, detail: str | None
) -> None:
    page = answered(status, body)
    assert resource_outcome(page) == outcome
    assert resource_detail(page) == detail
