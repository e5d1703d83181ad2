"""The retry / split engine: how one batch is looked up through a request function.

:class:`BatchFetcher` is shared by the HTTP source (:mod:`influx_etl.sources.http`) and the MCP
route (:mod:`influx_etl.sources.mcp`):

* each request is retried on 5xx, timeouts, connection errors and malformed bodies with
  exponential backoff and jitter (tenacity), bounded in attempts and time; a 429 waits for the
  window (the shared :class:`~influx_etl.sources.pacing.RateBudget` holds every worker) and is
  retried without counting as an attempt; 401/403 stop the run;
* a 400 splits the batch in halves until the handles the API refuses are alone: they end as
  ``invalid``, the others are looked up;
* handles a 200 answered neither in ``data`` nor with a definitive error (not found, suspended,
  invalid: :func:`~influx_etl.sources.base.error_outcome`) are asked again, up to
  ``max_attempts`` rounds;
* a batch answered by one ``/2/users/by`` response is stored byte for byte. One answered by
  several (a split, a second round, one request per handle on the per-user endpoint) or by a
  single-user document (``{"data": {...}}``) is stored as one document in the bulk format,
  merging the answers per handle, with every response body verbatim under
  ``_influx_responses``; a batch that still has unanswered handles carries the last error too,
  so those handles end as ``failed`` (and a resumed run asks again).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from influx_etl.config import LookupSettings
from influx_etl.errors import BadRequestError, RateLimitError, TransportError
from influx_etl.sources.base import PROBLEM_INVALID, RawBatch, error_outcome
from influx_etl.sources.pacing import MAX_WAIT_S
from influx_etl.sources.xclient import ApiResponse, utc_now_iso

log = logging.getLogger(__name__)

RESPONSES_FIELD = "_influx_responses"
"""Key of a merged batch document holding every response it was made from, verbatim."""

MAX_RATE_LIMIT_RETRIES = 20
"""429s one request may meet before its batch is recorded as failed (each waits its window)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one request (see :class:`BatchFetcher`)."""

    max_attempts: int = 4
    max_retry_time_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_rate_limit_retries: int = MAX_RATE_LIMIT_RETRIES

    @classmethod
    def from_settings(cls, settings: LookupSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            max_retry_time_s=settings.max_retry_time_s,
            backoff_base_s=settings.backoff_base_s,
        )


Request = Callable[[Sequence[str], int], ApiResponse]
"""Sends one lookup of some handles for a batch id; raises the :mod:`influx_etl.errors` lookup
errors (:class:`TransportError`, :class:`RateLimitError`, :class:`BadRequestError`, AuthError)."""


class _BatchAnswers:
    """Everything the responses to one batch said, merged per handle."""

    def __init__(self, batch_id: int, handles: Sequence[str]) -> None:
        self.batch_id = batch_id
        self.handles = tuple(handles)
        self.keys = {handle.lower() for handle in handles}
        self.responses: list[tuple[tuple[str, ...], ApiResponse]] = []
        self.rejected: list[tuple[tuple[str, ...], BadRequestError]] = []
        self.users: dict[str, Any] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.invalid: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, Any] = {}
        self.unrequested: dict[str, Any] = {}
        """Users of the answers no handle of the batch matches: kept in a merged document, where
        :func:`influx_etl.lookup.profiles` counts and ignores them as in a verbatim one."""
        self.attempts = 0
        self.elapsed_s = 0.0
        self.error: str | None = None
        self.single_user_documents = False
        """Whether a response came from the per-user endpoint (``data`` one object): then the
        batch is stored merged in the bulk format that :func:`influx_etl.lookup.profiles` reads."""

    def add(self, requested: Sequence[str], response: ApiResponse) -> None:
        # One small parse per response (at most 100 users) decides which handles to ask again.
        self.responses.append((tuple(requested), response))
        self.elapsed_s += response.elapsed_s
        document = json.loads(response.body)
        wanted = {h.lower() for h in requested}
        data = document.get("data")
        self.single_user_documents |= isinstance(data, dict)
        for user in data if isinstance(data, list) else [data] if data else []:
            key = str(user.get("username", "")).lower() if isinstance(user, dict) else ""
            if key in wanted:
                self.users[key] = user
                self.errors.pop(key, None)
            elif key and key not in self.keys:
                self.unrequested.setdefault(key, user)
        errors = document.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            key = str(error.get("value") or error.get("resource_id") or "").lower()
            if key in wanted and key not in self.users:
                self.errors[key] = error
        tweets = (document.get("includes") or {}).get("tweets")
        for tweet in tweets if isinstance(tweets, list) else []:
            if isinstance(tweet, dict) and "id" in tweet:
                self.tweets.setdefault(str(tweet["id"]), tweet)

    def reject(self, handle: str, error: BadRequestError) -> None:
        self.rejected.append(((handle,), error))
        self.invalid[handle.lower()] = {
            "value": handle,
            "detail": f"The API refused a request holding only this username (HTTP 400): "
            f"{error.body[:300]}",
            "title": "Invalid Request",
            "resource_type": "user",
            "parameter": "usernames",
            "resource_id": handle,
            "type": PROBLEM_INVALID,
        }

    def unanswered(self) -> list[str]:
        """Handles with no definitive answer yet (not found, suspended, invalid or a user); a
        handle the batch holds twice (``Foo``, ``foo``) once."""
        return [
            handle
            for handle in _distinct(self.handles)
            if (key := handle.lower()) not in self.users
            and key not in self.invalid
            and (key not in self.errors or error_outcome(self.errors[key]) == "failed")
        ]

    def raw_batch(self, default_origin: str) -> RawBatch:
        last = self.responses[-1][1] if self.responses else None
        requested_at = self.responses[0][1].requested_at if self.responses else utc_now_iso()
        if not self.responses and not self.rejected:
            body: str | None = None
        elif len(self.responses) == 1 and not self.rejected and not self.single_user_documents:
            body = self.responses[0][1].body  # the common case: stored byte for byte
        else:
            body = self._merged()
        return RawBatch(
            batch_id=self.batch_id,
            handles=self.handles,
            requested_at=requested_at,
            status=last.status if last else (400 if self.rejected else None),
            body=body,
            error=self.error,
            attempts=self.attempts,
            elapsed_s=self.elapsed_s,
            rate_limit=dict(last.rate_limit) if last else {},
            default_origin=default_origin,
        )

    def _merged(self) -> str:
        keys = [h.lower() for h in self.handles]
        document: dict[str, Any] = {}
        users = [self.users[k] for k in dict.fromkeys(keys) if k in self.users]
        users += self.unrequested.values()
        if users:
            document["data"] = users
        pinned = {str(u.get("pinned_tweet_id")) for u in users if isinstance(u, dict)}
        tweets = [tweet for tweet_id, tweet in self.tweets.items() if tweet_id in pinned]
        if tweets:
            document["includes"] = {"tweets": tweets}
        errors = [
            self.invalid.get(k) or self.errors[k]
            for k in dict.fromkeys(keys)
            if k not in self.users and (k in self.invalid or k in self.errors)
        ]
        if errors:
            document["errors"] = errors
        document[RESPONSES_FIELD] = [
            {"usernames": list(requested), "status": response.status, "body": response.body}
            for requested, response in self.responses
        ] + [
            {"usernames": list(requested), "status": 400, "body": error.body}
            for requested, error in self.rejected
        ]
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _distinct(handles: Sequence[str]) -> list[str]:
    """``handles`` without the later spellings of one handle (they differ in case only)."""
    first: dict[str, str] = {}
    for handle in handles:
        first.setdefault(handle.lower(), handle)
    return list(first.values())


class BatchFetcher:
    """Looks one batch up through a :data:`Request`, with retries, 400 bisection and re-asks.

    ``handles_per_request`` bounds the handles of one request (1 for the per-user endpoint);
    by default a request asks for every handle still pending in the batch.
    """

    def __init__(
        self,
        request: Request,
        policy: RetryPolicy,
        *,
        default_origin: str = "x-api-v2",
        paced: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        handles_per_request: int | None = None,
    ) -> None:
        self.request = request
        self.policy = policy
        self.default_origin = default_origin
        self.paced = paced
        """Whether the request waits for the rate limit itself (a client with pacing)."""
        self._sleep = sleep
        self.handles_per_request = handles_per_request

    def fetch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        answers = _BatchAnswers(batch_id, handles)
        pending = _distinct(handles)
        for round_number in range(1, self.policy.max_attempts + 1):
            try:
                self._resolve(pending, answers)
            except (TransportError, RateLimitError) as exc:
                answers.error = str(exc)
                log.warning(
                    "batch %d failed after %d request(s): %s", batch_id, answers.attempts, exc
                )
                break
            pending = answers.unanswered()
            if not pending:
                break
            if round_number < self.policy.max_attempts:
                log.info(
                    "batch %d: %d handle(s) got no definitive answer; asking again",
                    batch_id,
                    len(pending),
                )
        else:
            answers.error = (
                f"batch {batch_id}: no definitive answer for {len(pending)} handle(s) after "
                f"{self.policy.max_attempts} round(s): {', '.join(pending[:10])}"
            )
        return answers.raw_batch(self.default_origin)

    def _resolve(self, handles: Sequence[str], answers: _BatchAnswers) -> None:
        size = self.handles_per_request
        if size is not None and len(handles) > size:
            for start in range(0, len(handles), size):
                self._resolve(handles[start : start + size], answers)
            return
        try:
            response = self._request(handles, answers)
        except BadRequestError as exc:
            if exc.parameters and not {"usernames", "username"} & set(exc.parameters):
                raise  # the request itself is wrong, not a handle: every batch would fail
            if len(handles) == 1:
                log.warning(
                    "batch %d: the API refuses @%s (HTTP 400)", answers.batch_id, handles[0]
                )
                answers.reject(handles[0], exc)
                return
            middle = len(handles) // 2
            self._resolve(handles[:middle], answers)
            self._resolve(handles[middle:], answers)
            return
        answers.add(handles, response)

    def _request(self, handles: Sequence[str], answers: _BatchAnswers) -> ApiResponse:
        def send() -> ApiResponse:
            answers.attempts += 1
            return self.request(handles, answers.batch_id)

        return retried(
            send,
            self.policy,
            paced=self.paced,
            label=f"batch {answers.batch_id}",
            sleep=self._sleep,
        )


def retried(
    send: Callable[[], ApiResponse],
    policy: RetryPolicy,
    *,
    paced: bool,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
) -> ApiResponse:
    """``send()`` until it answers: 5xx, timeouts and malformed bodies are retried with backoff
    and jitter within ``policy``; a 429 waits for its window (``paced``: the shared budget waits
    before sending) and does not count as an attempt. The last error is raised."""
    rate_limited = 0
    transient = 0
    first_failure: float | None = None

    def stop(state: RetryCallState) -> bool:
        nonlocal rate_limited, transient, first_failure
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError):
            rate_limited += 1
            return rate_limited > policy.max_rate_limit_retries
        transient += 1
        now = time.monotonic()
        first_failure = now if first_failure is None else first_failure
        return transient >= policy.max_attempts or now - first_failure >= (policy.max_retry_time_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError):
            if paced:
                # the shared budget holds every worker until the window resets
                return 0.0
            if exc.retry_after_s is not None:
                return min(MAX_WAIT_S, exc.retry_after_s)
            if exc.reset_at is not None:
                return min(MAX_WAIT_S, max(0.0, exc.reset_at - time.time()) + 0.5)
        backoff = policy.backoff_base_s * 2.0 ** max(0, transient - 1)
        return min(policy.backoff_max_s, backoff) * random.uniform(0.5, 1.0)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("%s: retrying after: %s", label, exc)

    retrying = Retrying(
        retry=retry_if_exception_type((TransportError, RateLimitError)),
        stop=stop,
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            return send()
    raise AssertionError("unreachable: tenacity either returns or reraises")
