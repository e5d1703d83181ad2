"""The X API v2 user-lookup contract: its endpoints, fields, and the bodies of its replies.

What the embedded server must say the way the real API says it: the paths, the user and post
fields and expansions a request may name, the problem body of an error status, the ``errors``
entries of a 400 and of a handle not found or suspended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from influx_etl.apisim.synthetic import HANDLE_PATTERN, HandleStatus

MAX_USERNAMES: Final = 100

ENDPOINT_USERS_BY: Final = "/2/users/by"
ENDPOINT_USER_BY_USERNAME: Final = "/2/users/by/username/:username"
ENDPOINT_OTHER: Final = "other"
"""Counter and rate-limit bucket of requests to any path the API does not have."""

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

INVALID_REQUEST: Final = {
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": "https://api.twitter.com/2/problems/invalid-request",
}
RESOURCE_NOT_FOUND: Final = "https://api.twitter.com/2/problems/resource-not-found"
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
