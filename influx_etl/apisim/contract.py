"""The X API v2 user-lookup and Lists contract: its endpoints, fields, and the bodies of replies.

What the embedded server must say the way the real API says it: the paths, the user, post and
List fields and expansions a request may name, each endpoint's documented rate limit, the problem
body of an error status, the ``errors`` entries of a 400, of a handle not found or suspended and
of a List or user id not found or not visible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from influx_etl.apisim.synthetic import HANDLE_PATTERN, HandleStatus

MAX_USERNAMES: Final = 100

ENDPOINT_USERS_BY: Final = "/2/users/by"
ENDPOINT_USER_BY_USERNAME: Final = "/2/users/by/username/:username"
ENDPOINT_LIST: Final = "/2/lists/:id"
ENDPOINT_LIST_MEMBERS: Final = "/2/lists/:id/members"
ENDPOINT_LIST_MEMBERSHIPS: Final = "/2/users/:id/list_memberships"
ENDPOINT_OTHER: Final = "other"
"""Counter and rate-limit bucket of requests to any path the API does not have."""
LIST_ENDPOINTS: Final = (ENDPOINT_LIST, ENDPOINT_LIST_MEMBERS, ENDPOINT_LIST_MEMBERSHIPS)
API_ENDPOINTS: Final = (ENDPOINT_USERS_BY, ENDPOINT_USER_BY_USERNAME, *LIST_ENDPOINTS)
"""Every endpoint the embedded server answers (the rate-limit buckets besides ``other``)."""

DOCUMENTED_RATE_LIMITS: Final[Mapping[str, int]] = {
    ENDPOINT_USERS_BY: 300,
    ENDPOINT_USER_BY_USERNAME: 300,
    ENDPOINT_LIST: 75,
    ENDPOINT_LIST_MEMBERS: 900,
    ENDPOINT_LIST_MEMBERSHIPS: 75,
}
"""Requests per 15-minute window the API documents for an app-only token, per endpoint."""

MAX_RESULTS: Final = 100
"""Largest ``max_results`` of the Lists endpoints (and their default)."""
MAX_LIST_MEMBERS: Final = 5000
"""The most members a List can hold."""
ID_PATTERN: Final = re.compile(r"^[0-9]{1,19}$")
"""What the API accepts as a List or user id in a path."""

USER_FIELDS: Final = frozenset(
    {
        "affiliation", "connection_status", "created_at", "description", "entities", "id",
        "location", "most_recent_tweet_id", "name", "pinned_tweet_id", "profile_banner_url",
        "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription",
        "subscription_type", "url", "username", "verified", "verified_followers_count",
        "verified_type", "withheld",
    }
)  # fmt: skip
DEFAULT_USER_FIELDS: Final = ("id", "name", "username")
EXPANSIONS: Final = frozenset({"pinned_tweet_id", "affiliation.user_id", "most_recent_tweet_id"})
TWEET_FIELDS: Final = frozenset(
    {
        "article", "attachments", "author_id", "card_uri", "context_annotations",
        "conversation_id", "created_at", "display_text_range", "edit_controls",
        "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
        "non_public_metrics", "note_tweet", "organic_metrics", "possibly_sensitive",
        "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
        "source", "text", "withheld",
    }
)  # fmt: skip
DEFAULT_TWEET_FIELDS: Final = ("id", "text", "edit_history_tweet_ids")
LIST_FIELDS: Final = frozenset(
    {"created_at", "description", "follower_count", "id", "member_count", "name", "owner_id",
     "private"}
)  # fmt: skip
DEFAULT_LIST_FIELDS: Final = ("id", "name")
LIST_EXPANSIONS: Final = frozenset({"owner_id"})

INVALID_REQUEST: Final = {
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": "https://api.twitter.com/2/problems/invalid-request",
}
RESOURCE_NOT_FOUND: Final = "https://api.twitter.com/2/problems/resource-not-found"
NOT_AUTHORIZED: Final = "https://api.twitter.com/2/problems/not-authorized-for-resource"
REASONS: Final = {
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Reply:
    """What the server sends for one request (the handler adds the rate-limit headers)."""

    status: int
    body: Mapping[str, Any]
    usernames: int = 0
    raw: bytes | None = None
    """Sent instead of ``body`` (a malformed payload)."""
    hold_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


def invalid(errors: list[dict[str, Any]]) -> Reply:
    """The 400 of a request with invalid parameters, listing each in ``errors``."""
    return Reply(400, {"errors": errors, **INVALID_REQUEST})


def problem(status: int, detail: str | None = None) -> Reply:
    """An error status with the API's problem body."""
    title = REASONS.get(status, "Error")
    return Reply(
        status, {"title": title, "detail": detail or title, "type": "about:blank", "status": status}
    )


def parameter_error(parameter: str, value: str, message: str) -> dict[str, Any]:
    return {"parameters": {parameter: [value]}, "message": message}


def handle_error(parameter: str, value: str) -> dict[str, Any]:
    return parameter_error(
        parameter,
        value,
        f"The `{parameter}` query parameter value [{value}] does not match "
        f"{HANDLE_PATTERN.pattern}",
    )


def user_error(status: HandleStatus, value: str, parameter: str) -> dict[str, Any]:
    if status == "suspended":
        title, detail = "Forbidden", f"User has been suspended: [{value}]."
    else:
        title, detail = "Not Found Error", f"Could not find user with {parameter}: [{value}]."
    return {
        "value": value,
        "detail": detail,
        "title": title,
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": value,
        "type": RESOURCE_NOT_FOUND,
    }


def id_error(value: str) -> dict[str, Any]:
    """The 400 ``errors`` entry of a path id that is not a decimal id."""
    return parameter_error(
        "id", value, f"The `id` query parameter value [{value}] does not match {ID_PATTERN.pattern}"
    )


def resource_error(resource_type: str, value: str, *, forbidden: bool = False) -> dict[str, Any]:
    """The ``errors`` entry of a 200 naming a List or user (by ``id``) not found or not visible."""
    noun = "List" if resource_type == "list" else resource_type
    if forbidden:
        title, detail = "Forbidden", f"You are not authorized to see the {noun} with id: [{value}]."
        problem_type = NOT_AUTHORIZED
    else:
        title, detail = "Not Found Error", f"Could not find {resource_type} with id: [{value}]."
        problem_type = RESOURCE_NOT_FOUND
    return {
        "value": value,
        "detail": detail,
        "title": title,
        "resource_type": resource_type,
        "parameter": "id",
        "resource_id": value,
        "type": problem_type,
    }
