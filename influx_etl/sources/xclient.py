"""A plain client of the X API v2 user-lookup endpoints.

The same class talks to api.x.com and to the embedded server (``influx-api-sim``): only the base
URL and the token differ. It sends one request and classifies the answer. With a
:class:`~influx_etl.sources.pacing.Pacing` (or a worker's handle on a budget shared by a cluster,
see
:mod:`influx_etl.sources.workers`) it also waits, before sending, until the endpoint's rate-limit
budget
(read from every response's headers, errors included) has room for the request; retrying is the
caller's business (see :mod:`influx_etl.sources`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from influx_etl.config import Secret
from influx_etl.errors import (
    AuthError,
    BadRequestError,
    RateLimitError,
    TransportError,
    mask_secrets,
)
from influx_etl.sources.pacing import EndpointBudgets, retry_after_seconds

USER_FIELDS = (
    "created_at",
    "description",
    "entities",
    "id",
    "location",
    "name",
    "pinned_tweet_id",
    "profile_image_url",
    "protected",
    "public_metrics",
    "url",
    "username",
    "verified",
    "verified_type",
    "withheld",
)
TWEET_FIELDS = ("created_at", "public_metrics")
RATE_LIMIT_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
ENDPOINT_USERS_BY = "/2/users/by"
ENDPOINT_USER_BY_USERNAME = "/2/users/by/username/:username"
ENDPOINT_LIST = "/2/lists/:id"
ENDPOINT_LIST_MEMBERS = "/2/lists/:id/members"
ENDPOINT_LIST_MEMBERSHIPS = "/2/users/:id/list_memberships"
LIST_FIELDS = ("created_at", "description", "follower_count", "member_count", "owner_id", "private")
PAGE_SIZE = 100
"""Items per page of the Lists endpoints (the API's maximum)."""
RESOURCE_STATUSES = frozenset({403, 404})
"""Statuses the Lists endpoints may give one private or deleted List: that List's answer, not a
refused token."""


def utc_now_iso() -> str:
    """Current UTC time as ISO-8601 with millisecond precision and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ApiResponse:
    """A successful (HTTP 200, JSON object) answer, kept verbatim for the raw-lookups table."""

    status: int
    body: str
    requested_at: str
    elapsed_s: float
    rate_limit: Mapping[str, str] = field(default_factory=dict)

    @property
    def reset_at(self) -> float | None:
        value = self.rate_limit.get("x-rate-limit-reset")
        return float(value) if value else None


class XClient:
    """Blocking client of ``GET /2/users/by`` and ``GET /2/users/by/username/{u}``.

    Thread-safe: joblib's threading workers share one instance (and so one connection pool).
    """

    def __init__(
        self,
        base_url: str,
        token: Secret | None,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        pacing: EndpointBudgets | None = None,
    ) -> None:
        headers = {"User-Agent": "influx-etl/0.1"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        self.base_url = base_url.rstrip("/")
        self.pacing = pacing
        self._refused: AuthError | None = None
        """Set by a 401/403: later requests fail the same way without being sent."""
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    def __repr__(self) -> str:
        return f"XClient(base_url={self.base_url!r})"

    def __enter__(self) -> XClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def users_by_usernames(
        self, usernames: Sequence[str], *, batch_id: int | None = None
    ) -> ApiResponse:
        """Look up to 100 usernames in one request."""
        params = {
            "usernames": ",".join(usernames),
            "user.fields": ",".join(USER_FIELDS),
            "expansions": "pinned_tweet_id",
            "tweet.fields": ",".join(TWEET_FIELDS),
        }
        return self._get(ENDPOINT_USERS_BY, "/2/users/by", params, batch_id=batch_id)

    def user_by_username(self, username: str, *, batch_id: int | None = None) -> ApiResponse:
        """Look up one username (the per-user path that bulk lookup replaces)."""
        params = {
            "user.fields": ",".join(USER_FIELDS),
            "expansions": "pinned_tweet_id",
            "tweet.fields": ",".join(TWEET_FIELDS),
        }
        return self._get(
            ENDPOINT_USER_BY_USERNAME,
            f"/2/users/by/username/{username}",
            params,
            batch_id=batch_id,
        )

    def list_by_id(self, list_id: str) -> ApiResponse:
        """One List's metadata (``GET /2/lists/:id``)."""
        params = {"list.fields": ",".join(LIST_FIELDS)}
        return self._get(ENDPOINT_LIST, f"/2/lists/{list_id}", params, batch_id=None, paged=True)

    def list_members(self, list_id: str, pagination_token: str | None = None) -> ApiResponse:
        """One page of a List's members, as full user objects (``GET /2/lists/:id/members``)."""
        params = {
            "max_results": str(PAGE_SIZE),
            "user.fields": ",".join(USER_FIELDS),
            "expansions": "pinned_tweet_id",
            "tweet.fields": ",".join(TWEET_FIELDS),
        }
        if pagination_token:
            params["pagination_token"] = pagination_token
        path = f"/2/lists/{list_id}/members"
        return self._get(ENDPOINT_LIST_MEMBERS, path, params, batch_id=None, paged=True)

    def list_memberships(self, user_id: str, pagination_token: str | None = None) -> ApiResponse:
        """One page of the Lists a user is a member of (``GET /2/users/:id/list_memberships``)."""
        params = {"max_results": str(PAGE_SIZE), "list.fields": ",".join(LIST_FIELDS)}
        if pagination_token:
            params["pagination_token"] = pagination_token
        path = f"/2/users/{user_id}/list_memberships"
        return self._get(ENDPOINT_LIST_MEMBERSHIPS, path, params, batch_id=None, paged=True)

    def _get(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        *,
        batch_id: int | None,
        paged: bool = False,
    ) -> ApiResponse:
        if self._refused is not None:
            raise self._refused
        budget = self.pacing.budget(endpoint) if self.pacing is not None else None
        if budget is not None:
            budget.acquire()
            if self._refused is not None:
                budget.release(None)
                raise self._refused
        requested_at = utc_now_iso()
        started = time.perf_counter()
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            if budget is not None:
                budget.release(None)
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
            reason = mask_secrets(str(exc)) or type(exc).__name__
            raise TransportError(
                f"{kind} calling {self.base_url}{path}: {reason}", batch_id=batch_id
            ) from None
        except BaseException:
            if budget is not None:
                budget.release(None)
            raise
        elapsed = time.perf_counter() - started
        rate_limit = {k: response.headers[k] for k in RATE_LIMIT_HEADERS if k in response.headers}
        if budget is not None:
            limited = response.status_code == 429
            budget.release(
                rate_limit,
                rate_limited=limited,
                retry_after_s=retry_after_seconds(response.headers.get("retry-after"))
                if limited
                else None,
            )
        try:
            return _classified(response, path, requested_at, elapsed, rate_limit, batch_id, paged)
        except AuthError as refused:
            self._refused = refused
            raise


def _classified(
    response: httpx.Response,
    path: str,
    requested_at: str,
    elapsed_s: float,
    rate_limit: dict[str, str],
    batch_id: int | None,
    paged: bool = False,
) -> ApiResponse:
    """The answer, or the error it is (:mod:`influx_etl.errors`). ``paged``: a Lists endpoint,
    whose answers may be ``meta`` alone (an empty List) and whose 403/404 with a JSON body are
    one resource's answer."""
    status = response.status_code
    if paged and status in RESOURCE_STATUSES and body_is_document(response.text, problem=True):
        return ApiResponse(status, response.text, requested_at, elapsed_s, rate_limit)
    if status in (401, 403):
        what = (
            "the bearer token is missing or invalid"
            if status == 401
            else "the token's app has no access to this endpoint"
        )
        raise AuthError(
            f"HTTP {status} from {path}: {what}. Check X_BEARER_TOKEN (or TWITTER_BEARER_TOKEN)"
            " and the app's access level in the developer portal; retrying will not help.",
            status=status,
            batch_id=batch_id,
        )
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        reset = rate_limit.get("x-rate-limit-reset") or None
        reset_at = time.time() + retry_after if retry_after is not None else None
        if reset_at is None and reset is not None:
            reset_at = float(reset)
        raise RateLimitError(
            f"HTTP 429 from {path}: rate limit exhausted",
            reset_at=reset_at,
            batch_id=batch_id,
            retry_after_s=retry_after,
        )
    if status == 400:
        raise BadRequestError(
            f"HTTP 400 from {path}: {_short(response.text)}",
            batch_id=batch_id,
            body=mask_secrets(response.text),
            parameters=_rejected_parameters(response.text),
        )
    if status != 200:
        raise TransportError(
            f"HTTP {status} from {path}: {_short(response.text)}", batch_id=batch_id
        )
    if not body_is_document(response.text, meta=paged):
        raise TransportError(
            f"malformed response from {path}: expected a JSON object with 'data' or 'errors', "
            f"got {_short(response.text)}",
            batch_id=batch_id,
        )
    return ApiResponse(status, response.text, requested_at, elapsed_s, rate_limit)


def _rejected_parameters(body: str) -> tuple[str, ...]:
    """The query parameters a 400 problem body names (``errors[].parameters``), sorted."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        return ()
    errors = document.get("errors") if isinstance(document, dict) else None
    names: set[str] = set()
    for error in errors if isinstance(errors, list) else []:
        parameters = error.get("parameters") if isinstance(error, dict) else None
        if isinstance(parameters, dict):
            names.update(str(name) for name in parameters)
    return tuple(sorted(names))


def body_is_document(body: str, *, meta: bool = False, problem: bool = False) -> bool:
    """Whether ``body`` is a JSON object with ``data`` or ``errors``: a usable lookup answer
    (``meta``: or ``meta`` alone, an empty page; ``problem``: or a problem body with ``title``)."""
    # One parse per response (not per user): cheap, and keeps corrupt bodies out of the raw table.
    try:
        document: Any = json.loads(body)
    except ValueError:
        return False
    keys = {"data", "errors"} | ({"meta"} if meta else set()) | ({"title"} if problem else set())
    return isinstance(document, dict) and bool(keys & document.keys())


def _short(text: str, limit: int = 200) -> str:
    text = mask_secrets(text.strip().replace("\n", " "))
    return text if len(text) <= limit else text[:limit] + "…"
