"""The embedded X API server: a loopback HTTP server speaking the API v2 user-lookup contract.

It answers ``GET /2/users/by?usernames=...`` and ``GET /2/users/by/username/{username}`` exactly as
the real API does (status codes, problem bodies, per-username ``errors``, ``includes.tweets``,
rate-limit headers), so the pipeline's client needs nothing but a different base URL and token.

Users come from a recorded population (real API objects) first, then, unless disabled, from the
deterministic synthetic generator. Every served user object carries the non-API field
``"_influx_origin"`` (``"recorded"`` or ``"synthetic"``) whatever ``user.fields`` asked for.

Order of checks for each request, which tests and benchmarks may rely on:

1. injected fault: the first ``fail_first_n`` requests get ``fail_status`` (default 503); then,
   drawn at random (seeded by ``seed``) per request: a 429 with ``retry-after``
   (``fault_429_rate``), a 500/502/503/504 (``fault_5xx_rate``), a response held for
   ``fault_hold_s`` before a 504 (``fault_timeout_rate``: longer than the client waits), or a 200
   whose body is not a usable document (``fault_malformed_rate``: truncated JSON, or an object
   with neither ``data`` nor ``errors``);
2. token: with ``required_token`` set, a missing or different bearer token gets 401;
3. rate limit: the request is counted in its endpoint's window (each endpoint has its own budget,
   as on the real API); past ``rate_limit`` it gets 429;
4. parameters: invalid ones get 400 with the API's problem body, and so does a request naming
   one of ``invalid_handles`` (handles the API refuses although they look valid);
5. lookup: 200, after sleeping ``latency_s + per_user_latency_s * len(usernames)``; with
   ``fault_partial_rate``, that share of the found users is left out of the answer instead
   (half of them silently, half with a ``Service Unavailable`` entry in ``errors``); then the
   payload ``quirks`` (:data:`QUIRKS`) reshape the answer the way odd real answers look.

Only steps 3-5 consume rate budget. Every response, errors included, carries ``x-rate-limit-limit``,
``x-rate-limit-remaining`` and ``x-rate-limit-reset`` (epoch seconds). Without ``rate_limit`` the
budget is not enforced and the headers report :data:`UNENFORCED_RATE_LIMIT`. Windows of a second
or longer open at a whole second, so the reset the headers state is exact.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import math
import random
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qs, unquote, urlsplit

from influx_etl.apisim.population import load_population, population_from_users
from influx_etl.apisim.synthetic import (
    HANDLE_PATTERN,
    ORIGIN_FIELD,
    ORIGIN_RECORDED,
    ORIGIN_SYNTHETIC,
    HandleStatus,
    handle_status,
    pinned_tweet,
    synthetic_user,
)
from influx_etl.config import Secret
from influx_etl.errors import ConfigError, mask_secrets, register_secret

logger = logging.getLogger(__name__)

MAX_USERNAMES: Final = 100
UNENFORCED_RATE_LIMIT: Final = 1_000_000
"""Limit reported in the headers when no rate limit is configured (nothing is enforced then)."""
INJECTABLE_STATUSES: Final = (500, 502, 503, 504)

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

_INVALID_REQUEST: Final = {
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": "https://api.twitter.com/2/problems/invalid-request",
}
_RESOURCE_NOT_FOUND: Final = "https://api.twitter.com/2/problems/resource-not-found"
_REASONS: Final = {
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_SYNTHETIC_CACHE_SIZE: Final = 200_000

QUIRKS: Final = {
    "error-without-value": "errors[] entries carry no 'value' (only 'resource_id')",
    "unknown-error-title": "the errors[] entry of a handle not found has a title and type the "
    "API documents nowhere ('Unexpected Lookup Error', about:blank)",
    "error-for-unasked-handle": "errors[] also names a handle nobody asked for",
    "empty-data": 'an answer with no user found still has "data": [] (beside its errors)',
    "empty-answer": 'every lookup is answered 200 {"data": []}: no user, no error',
    "absent-pinned-post": "users keep their pinned_tweet_id, but includes.tweets is left out",
    "unrequested-user": "data also holds a user no requested username matches (bulk endpoint)",
}
"""Payload quirks the server can be asked for (``ApiServerConfig.quirks``), with what they do."""
UNASKED_HANDLE: Final = "nobody_asked"
"""The handle of the ``error-for-unasked-handle`` entry."""
STRAY_USER: Final = {"id": "1999999999999999999", "username": "StrayUser", "name": "Stray"}
"""The user the ``unrequested-user`` quirk adds to every bulk answer."""

PopulationSource = Path | str | Mapping[str, Mapping[str, Any]]


def _loopback(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ConfigError(
            f"the API server binds to loopback only: host must be 127.0.0.1 (or another "
            f"127.x.x.x), ::1 or localhost, got {host!r}"
        )
    return address


@dataclass(frozen=True)
class ApiServerConfig:
    """How the embedded server behaves; every knob is explicit, nothing comes from the environment.

    ``population`` is a JSONL file of recorded API user objects, or such objects already loaded
    (a mapping whose values are user objects, e.g. from :func:`load_population`; each is filed
    under its own ``username``). ``synthetic`` answers handles outside the population with
    generated profiles (else they are not found). ``latency_s + per_user_latency_s * n`` is slept
    per request of ``n`` usernames. ``rate_limit`` requests per ``window_s`` per endpoint are
    allowed when set. ``required_token`` demands ``Authorization: Bearer <token>``. The first
    ``fail_first_n`` requests are answered ``fail_status`` (one of 500, 502, 503, 504) to exercise
    retries.
    """

    population: PopulationSource | None = None
    synthetic: bool = True
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    latency_s: float = 0.0
    per_user_latency_s: float = 0.0
    rate_limit: int | None = None
    window_s: float = 900.0
    required_token: Secret | str | None = field(default=None, repr=False)
    fail_first_n: int = 0
    fail_status: int = 503
    fault_429_rate: float = 0.0
    fault_5xx_rate: float = 0.0
    fault_timeout_rate: float = 0.0
    fault_malformed_rate: float = 0.0
    fault_partial_rate: float = 0.0
    fault_hold_s: float = 35.0
    """How long a ``fault_timeout_rate`` response is held (the pipeline's client waits 30 s)."""
    fault_retry_after_s: int = 1
    """``retry-after`` of the injected 429s (whole seconds, as HTTP has it)."""
    invalid_handles: frozenset[str] = frozenset()
    """Handles (any case) whose presence in a request makes it a 400."""
    quirks: frozenset[str] = frozenset()
    """Payload quirks of every 200 lookup answer (names from :data:`QUIRKS`)."""

    def __post_init__(self) -> None:
        _loopback(self.host)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 (any free port) and 65535, got {self.port}")
        if self.latency_s < 0 or self.per_user_latency_s < 0:
            raise ConfigError("latency_s and per_user_latency_s must be >= 0")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError(
                f"rate_limit must be >= 1 request per window (or None), got {self.rate_limit}"
            )
        if not self.window_s > 0:
            raise ConfigError(f"window_s must be > 0 seconds, got {self.window_s}")
        if self.fail_first_n < 0:
            raise ConfigError(f"fail_first_n must be >= 0, got {self.fail_first_n}")
        if self.fail_status not in INJECTABLE_STATUSES:
            raise ConfigError(
                f"fail_status must be one of {', '.join(map(str, INJECTABLE_STATUSES))}, "
                f"got {self.fail_status}"
            )
        rates = (
            self.fault_429_rate,
            self.fault_5xx_rate,
            self.fault_timeout_rate,
            self.fault_malformed_rate,
        )
        if not all(0.0 <= rate <= 1.0 for rate in (*rates, self.fault_partial_rate)):
            raise ConfigError("fault rates must be between 0 and 1")
        if sum(rates) > 1.0:
            raise ConfigError(
                f"the 429, 5xx, timeout and malformed fault rates add up to {sum(rates):g}; "
                "they must add up to at most 1"
            )
        if self.fault_hold_s < 0 or self.fault_retry_after_s < 0:
            raise ConfigError("fault_hold_s and fault_retry_after_s must be >= 0")
        object.__setattr__(
            self, "invalid_handles", frozenset(h.lower() for h in self.invalid_handles)
        )
        unknown = sorted(set(self.quirks) - set(QUIRKS))
        if unknown:
            raise ConfigError(
                f"unknown payload quirk {', '.join(unknown)}: expected one of {', '.join(QUIRKS)}"
            )
        object.__setattr__(self, "quirks", frozenset(self.quirks))
        if isinstance(self.required_token, str):
            if not self.required_token:
                raise ConfigError("required_token must not be empty (use None for no token)")
            register_secret(self.required_token)

    @property
    def token(self) -> str | None:
        token = self.required_token
        return token.reveal() if isinstance(token, Secret) else token

    def describe(self, population_size: int | None = None) -> list[str]:
        """Human-readable lines stating the latency model, limits and data sources (no secrets)."""
        budget = (
            f"{self.rate_limit} requests per {self.window_s:g} s window per endpoint (enforced)"
            if self.rate_limit is not None
            else f"not enforced (headers report {UNENFORCED_RATE_LIMIT})"
        )
        if self.population is None:
            population = "none"
        elif isinstance(self.population, Path | str):
            loaded = "" if population_size is None else f"{population_size} recorded users from "
            population = f"{loaded}{self.population}"
        else:
            population = f"{len(self.population)} preloaded users"
        lines = [
            f"latency model: {self.latency_s * 1000:g} ms per request "
            f"+ {self.per_user_latency_s * 1000:g} ms per username",
            f"rate limit: {budget}",
            f"population: {population}; synthetic profiles: "
            + (f"on (seed {self.seed})" if self.synthetic else "off (unknown handles not found)"),
            "token: " + ("required" if self.required_token is not None else "not required"),
        ]
        if self.fail_first_n:
            lines.append(f"faults: first {self.fail_first_n} requests answer {self.fail_status}")
        random_faults = {
            "429": self.fault_429_rate,
            "5xx": self.fault_5xx_rate,
            f"timeout ({self.fault_hold_s:g} s)": self.fault_timeout_rate,
            "malformed body": self.fault_malformed_rate,
            "partial answer (per user)": self.fault_partial_rate,
        }
        if any(random_faults.values()):
            lines.append(
                "random faults (seed "
                f"{self.seed}): "
                + ", ".join(f"{name} {rate:.0%}" for name, rate in random_faults.items() if rate)
            )
        if self.invalid_handles:
            lines.append(f"handles refused with 400: {len(self.invalid_handles)}")
        if self.quirks:
            lines.append(f"payload quirks: {', '.join(sorted(self.quirks))}")
        return lines


@dataclass(frozen=True)
class ServerStats:
    """Counters since the server started. ``usernames`` counts usernames in served lookups."""

    requests: int
    by_endpoint: Mapping[str, int]
    by_status: Mapping[int, int]
    usernames: int
    windows: Mapping[str, int] = field(default_factory=dict)
    """Rate-limit windows opened per endpoint (by a request that consumed budget)."""
    faults: Mapping[str, int] = field(default_factory=dict)
    """Injected faults by kind: ``fail_first_n``, ``429``, ``5xx``, ``timeout``, ``malformed``,
    ``partial`` (users left out)."""


@dataclass
class _Window:
    started_at: float
    used: int = 0


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Mapping[str, Any]
    usernames: int = 0
    raw: bytes | None = None
    """Sent instead of ``body`` (a malformed payload)."""
    hold_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


class _ApiState:
    """Everything request handlers share; the lock guards the counters, windows and faults."""

    def __init__(self, config: ApiServerConfig, population: Mapping[str, Mapping[str, Any]]):
        self.config = config
        self.population = population
        self.limit = config.rate_limit if config.rate_limit is not None else UNENFORCED_RATE_LIMIT
        self._lock = threading.Lock()
        self._requests = 0
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._usernames = 0
        self._asked: Counter[str] = Counter()
        """Lookups served per username (lower-cased): a counting server for "asked twice"."""
        self._windows: dict[str, _Window] = {}
        self._windows_opened: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._failures_left = config.fail_first_n
        # separate streams: which request gets which fault does not depend on how the
        # lookups of concurrent requests interleave
        self._random = random.Random(config.seed)
        self._partial_random = random.Random(config.seed + 1)

        @functools.lru_cache(maxsize=_SYNTHETIC_CACHE_SIZE)
        def cached_synthetic_user(key: str) -> Mapping[str, Any]:
            return synthetic_user(key, config.seed)

        self.synthetic_user = cached_synthetic_user

    def _window(self, endpoint: str, now: float) -> _Window:
        window = self._windows.get(endpoint)
        # like the real API, a window opens at the first request after the previous one closed;
        # at a whole second (when a window lasts that long), so the reset header is exact
        if window is None or now >= window.started_at + self.config.window_s:
            start = math.floor(now) if self.config.window_s >= 1 else now
            window = self._windows[endpoint] = _Window(started_at=start)
        return window

    def take_failure(self) -> bool:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                self._faults["fail_first_n"] += 1
                return True
            return False

    def draw_fault(self) -> tuple[str, int] | None:
        """The random fault this request gets, if any (``429``, ``5xx``, ``timeout``,
        ``malformed``), with a variant number (which 5xx, which malformed body)."""
        config = self.config
        with self._lock:
            draw = self._random.random()
            variant = self._random.randrange(1 << 16)
            for kind, rate in (
                ("429", config.fault_429_rate),
                ("5xx", config.fault_5xx_rate),
                ("timeout", config.fault_timeout_rate),
                ("malformed", config.fault_malformed_rate),
            ):
                if draw < rate:
                    self._faults[kind] += 1
                    return kind, variant
                draw -= rate
            return None

    def partial_fault(self) -> str | None:
        """Whether to leave one found user out: ``omit`` it, or answer it with an ``error``."""
        rate = self.config.fault_partial_rate
        if not rate:
            return None
        with self._lock:
            if self._partial_random.random() >= rate:
                return None
            self._faults["partial"] += 1
            return "omit" if self._partial_random.random() < 0.5 else "error"

    def rate_headers(self, endpoint: str, *, consume: bool) -> tuple[bool, dict[str, str]]:
        """Count a request when ``consume`` and say whether it is within the budget."""
        with self._lock:
            window = self._window(endpoint, time.time())
            allowed = True
            if consume:
                enforced = self.config.rate_limit is not None
                allowed = not enforced or window.used < self.limit
                if allowed:
                    if window.used == 0:
                        self._windows_opened[endpoint] += 1
                    window.used += 1
            headers = {
                "x-rate-limit-limit": str(self.limit),
                "x-rate-limit-remaining": str(max(self.limit - window.used, 0)),
                "x-rate-limit-reset": str(math.ceil(window.started_at + self.config.window_s)),
            }
        return allowed, headers

    def record(self, endpoint: str, status: int, usernames: int) -> None:
        with self._lock:
            self._requests += 1
            self._by_endpoint[endpoint] += 1
            self._by_status[status] += 1
            self._usernames += usernames

    def count_asked(self, keys: Sequence[str]) -> None:
        with self._lock:
            self._asked.update(keys)

    def asked(self) -> dict[str, int]:
        with self._lock:
            return dict(self._asked)

    def stats(self) -> ServerStats:
        with self._lock:
            return ServerStats(
                requests=self._requests,
                by_endpoint=dict(self._by_endpoint),
                by_status=dict(self._by_status),
                usernames=self._usernames,
                windows=dict(self._windows_opened),
                faults=dict(self._faults),
            )

    def resolve(self, key: str) -> tuple[HandleStatus, Mapping[str, Any] | None]:
        recorded = self.population.get(key)
        if recorded is not None:
            return "active", recorded
        if not self.config.synthetic:
            return "not_found", None
        status = handle_status(key, self.config.seed)
        return status, (self.synthetic_user(key) if status == "active" else None)


def _invalid(errors: list[dict[str, Any]]) -> _Reply:
    return _Reply(400, {"errors": errors, **_INVALID_REQUEST})


def _injected(config: ApiServerConfig, fault: str, variant: int) -> _Reply:
    """The reply of an injected fault (step 1 of the module doc)."""
    if fault == "fail_first_n":
        return _problem(config.fail_status, "Injected fault (fail_first_n)")
    if fault == "429":
        reply = _problem(429, "Injected fault: too many requests")
        return _Reply(429, reply.body, headers={"retry-after": str(config.fault_retry_after_s)})
    if fault == "5xx":
        status = INJECTABLE_STATUSES[variant % len(INJECTABLE_STATUSES)]
        return _problem(status, f"Injected fault: {_REASONS[status]}")
    if fault == "timeout":
        reply = _problem(504, "Injected fault: held past the client's timeout")
        return _Reply(504, reply.body, hold_s=config.fault_hold_s)
    bodies = (b'{"data":[{"id":"1","username":"trunc', b'{"meta":{"result_count":0}}')
    return _Reply(200, {}, raw=bodies[variant % len(bodies)])


def _problem(status: int, detail: str | None = None) -> _Reply:
    title = _REASONS.get(status, "Error")
    return _Reply(
        status, {"title": title, "detail": detail or title, "type": "about:blank", "status": status}
    )


def _parameter_error(parameter: str, value: str, message: str) -> dict[str, Any]:
    return {"parameters": {parameter: [value]}, "message": message}


def _list_values(
    query: Mapping[str, list[str]], name: str, allowed: frozenset[str], errors: list[dict[str, Any]]
) -> tuple[str, ...]:
    values = tuple(item for raw in query.get(name, []) for item in raw.split(",") if item)
    for value in values:
        if value not in allowed:
            errors.append(
                _parameter_error(
                    name,
                    value,
                    f"The `{name}` query parameter value [{value}] is not one of "
                    f"[{','.join(sorted(allowed))}]",
                )
            )
    return values


def _handle_error(parameter: str, value: str) -> dict[str, Any]:
    return _parameter_error(
        parameter,
        value,
        f"The `{parameter}` query parameter value [{value}] does not match "
        f"{HANDLE_PATTERN.pattern}",
    )


def _user_error(status: HandleStatus, value: str, parameter: str) -> dict[str, Any]:
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
        "type": _RESOURCE_NOT_FOUND,
    }


def _unavailable_error(value: str, parameter: str) -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"Injected partial error: [{value}] could not be looked up right now.",
        "title": "Service Unavailable",
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": value,
        "type": "about:blank",
    }


@dataclass(frozen=True)
class _Shape:
    user_fields: tuple[str, ...]
    pinned: bool
    tweet_fields: tuple[str, ...]


def _served_user(user: Mapping[str, Any], shape: _Shape) -> dict[str, Any]:
    served = {name: user[name] for name in DEFAULT_USER_FIELDS if name in user}
    for name in shape.user_fields:
        if name in user:
            served[name] = user[name]
    if shape.pinned and "pinned_tweet_id" in user:
        served["pinned_tweet_id"] = user["pinned_tweet_id"]
    # a replayed recording of synthetic output must stay synthetic, never become "recorded"
    from_generator = user.get(ORIGIN_FIELD) == ORIGIN_SYNTHETIC
    served[ORIGIN_FIELD] = ORIGIN_SYNTHETIC if from_generator else ORIGIN_RECORDED
    return served


def _lookup(state: _ApiState, requested: list[str], parameter: str, shape: _Shape) -> _Reply:
    data: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    tweets: list[dict[str, Any]] = []
    seen: set[str] = set()
    state.count_asked([value.lower() for value in requested])
    for value in requested:
        key = value.lower()
        if key in seen:
            continue
        seen.add(key)
        status, user = state.resolve(key)
        if user is None:
            errors.append(_user_error(status, value, parameter))
            continue
        partial = state.partial_fault()
        if partial == "error":
            errors.append(_unavailable_error(value, parameter))
        if partial is not None:
            continue
        data.append(_served_user(user, shape))
        pinned_id = user.get("pinned_tweet_id")
        if shape.pinned and isinstance(pinned_id, str) and pinned_id:
            tweet = pinned_tweet(pinned_id, author_id=str(user["id"]), seed=state.config.seed)
            tweets.append({name: tweet[name] for name in shape.tweet_fields if name in tweet})
    body: dict[str, Any] = {}
    if data:
        body["data"] = data if parameter == "usernames" else data[0]
    if tweets:
        body["includes"] = {"tweets": tweets}
    if errors:
        body["errors"] = errors
    if state.config.quirks:
        body = _with_quirks(body, state.config.quirks, parameter)
    return _Reply(200, body, usernames=len(requested))


def _with_quirks(body: dict[str, Any], quirks: frozenset[str], parameter: str) -> dict[str, Any]:
    """``body`` reshaped by the payload ``quirks`` (see :data:`QUIRKS`)."""
    if "empty-answer" in quirks:
        return {"data": []}
    errors = list(body.get("errors", []))
    if "unknown-error-title" in quirks:
        errors = [
            {**e, "title": "Unexpected Lookup Error", "type": "about:blank"}
            if e.get("type") == _RESOURCE_NOT_FOUND and e.get("title") == "Not Found Error"
            else e
            for e in errors
        ]
    if "error-for-unasked-handle" in quirks:
        errors.append(_user_error("not_found", UNASKED_HANDLE, parameter))
    if "error-without-value" in quirks:
        errors = [{k: v for k, v in e.items() if k != "value"} for e in errors]
    if errors:
        body["errors"] = errors
    if "absent-pinned-post" in quirks:
        body.pop("includes", None)
    if "unrequested-user" in quirks and parameter == "usernames":
        body["data"] = [*body.get("data", []), dict(STRAY_USER)]
    if "empty-data" in quirks and "data" not in body:
        body["data"] = []
    return body


def _answer(state: _ApiState, endpoint: str, username: str | None, raw_query: str) -> _Reply:
    """The reply to a rate-admitted GET on an API endpoint (steps 4 and 5 of the module doc)."""
    query = parse_qs(raw_query, keep_blank_values=True)
    allowed_params = {"expansions", "tweet.fields", "user.fields"}
    if endpoint == ENDPOINT_USERS_BY:
        allowed_params.add("usernames")
    errors: list[dict[str, Any]] = []
    for name in query:
        if name not in allowed_params:
            errors.append(
                _parameter_error(
                    name,
                    ",".join(query[name]),
                    f"The query parameter [{name}] is not one of "
                    f"[{','.join(sorted(allowed_params))}]",
                )
            )
    user_fields = _list_values(query, "user.fields", USER_FIELDS, errors)
    expansions = _list_values(query, "expansions", EXPANSIONS, errors)
    tweet_fields = _list_values(query, "tweet.fields", TWEET_FIELDS, errors)

    if endpoint == ENDPOINT_USERS_BY:
        parameter = "usernames"
        raw = ",".join(query.get("usernames", []))
        requested = raw.split(",") if raw else []
        if not requested:
            errors.append(
                _parameter_error(parameter, raw, "The `usernames` query parameter can not be empty")
            )
        elif len(requested) > MAX_USERNAMES:
            errors.append(
                _parameter_error(
                    parameter,
                    raw,
                    f"The number of values in the `usernames` query parameter list "
                    f"[{len(requested)}] is not between 1 and {MAX_USERNAMES}",
                )
            )
        else:
            errors.extend(
                _handle_error(parameter, value)
                for value in requested
                if not HANDLE_PATTERN.match(value) or value.lower() in state.config.invalid_handles
            )
    else:
        parameter = "username"
        requested = [username or ""]
        if (
            not HANDLE_PATTERN.match(requested[0])
            or requested[0].lower() in state.config.invalid_handles
        ):
            errors.append(_handle_error(parameter, requested[0]))
    if errors:
        return _invalid(errors)

    shape = _Shape(
        user_fields=user_fields,
        pinned="pinned_tweet_id" in expansions,
        tweet_fields=DEFAULT_TWEET_FIELDS + tweet_fields,
    )
    return _lookup(state, requested, parameter, shape)


def _route(path: str) -> tuple[str, str | None]:
    if path == ENDPOINT_USERS_BY:
        return ENDPOINT_USERS_BY, None
    prefix = "/2/users/by/username/"
    if path.startswith(prefix) and "/" not in path[len(prefix) :]:
        return ENDPOINT_USER_BY_USERNAME, unquote(path[len(prefix) :])
    return ENDPOINT_OTHER, None


class _ApiHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # benchmarks open many connections at once; the default backlog of 5 would reset some
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, state: _ApiState):
        self.address_family = family
        self.state = state
        super().__init__(address, _ApiHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (getfqdn), which can stall
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the pipeline's client reuses connections
    server_version = "influx-api-sim"
    timeout = 30  # seconds an idle keep-alive connection may hold a handler thread
    # headers and body go out as two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per request on a kept-alive connection)
    disable_nagle_algorithm = True
    server: _ApiHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # only the request line and status reach the log, never a header (Authorization)
        logger.debug("%s %s", self.address_string(), mask_secrets(format % args))

    def _send(self, reply: _Reply, endpoint: str, headers: Mapping[str, str]) -> None:
        payload = (
            reply.raw
            if reply.raw is not None
            else json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        self.server.state.record(endpoint, reply.status, reply.usernames)
        try:
            self.send_response(reply.status, _REASONS.get(reply.status))
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in {**headers, **reply.headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # the client gave up first (an injected timeout): nobody is left to answer
            self.close_connection = True

    def _authorized(self) -> bool:
        expected = self.server.state.config.token
        if expected is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), expected.encode()
        )

    def do_GET(self) -> None:
        state = self.server.state
        config = state.config
        url = urlsplit(self.path)
        endpoint, username = _route(url.path)
        reply: _Reply
        fault = ("fail_first_n", 0) if state.take_failure() else state.draw_fault()
        if fault is not None:
            _, headers = state.rate_headers(endpoint, consume=False)
            reply = _injected(config, *fault)
        elif not self._authorized():
            _, headers = state.rate_headers(endpoint, consume=False)
            reply = _problem(401)
        else:
            allowed, headers = state.rate_headers(endpoint, consume=True)
            if not allowed:
                reply = _problem(429)
            elif endpoint == ENDPOINT_OTHER:
                reply = _problem(404, f"Sorry, that page does not exist: {url.path}")
            else:
                try:
                    reply = _answer(state, endpoint, username, url.query)
                except Exception:
                    # a bug here must look like a server error to the client, not a dropped socket
                    logger.exception("error answering %s", mask_secrets(url.path))
                    reply = _problem(500)
        delay = config.latency_s + config.per_user_latency_s * reply.usernames + reply.hold_s
        if delay > 0:
            time.sleep(delay)
        self._send(reply, endpoint, headers)

    def _not_allowed(self) -> None:
        self.close_connection = True  # an unread request body must not be parsed as a request
        _, headers = self.server.state.rate_headers(ENDPOINT_OTHER, consume=False)
        reply = _problem(405, f"{self.command} is not supported; the API answers GET")
        self._send(reply, ENDPOINT_OTHER, {**headers, "Allow": "GET", "Connection": "close"})

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # malformed requests (bad request line, oversized headers): a JSON body like any other
        self.close_connection = True
        _, headers = self.server.state.rate_headers(ENDPOINT_OTHER, consume=False)
        body = {"title": message or "Error", "detail": explain or message or "Error"}
        reply = _Reply(code, {**body, "type": "about:blank", "status": code})
        self._send(reply, ENDPOINT_OTHER, {**headers, "Connection": "close"})


class RunningServer:
    """A started server. Use as a context manager, or call :meth:`stop` (idempotent)."""

    def __init__(
        self,
        httpd: _ApiHTTPServer,
        thread: threading.Thread,
        config: ApiServerConfig,
    ) -> None:
        self._httpd = httpd
        self._thread = thread
        self._stopped = False
        self.config = config
        self.host = str(httpd.server_address[0])
        self.port = int(httpd.server_address[1])
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{netloc}:{self.port}"
        """``http://127.0.0.1:PORT`` with no trailing slash; the API paths start with ``/2/``."""

    @property
    def population_size(self) -> int:
        return len(self._httpd.state.population)

    def stats(self) -> ServerStats:
        return self._httpd.state.stats()

    @property
    def requests_served(self) -> int:
        return self.stats().requests

    @property
    def endpoint_counts(self) -> Mapping[str, int]:
        """Responses per endpoint: :data:`ENDPOINT_USERS_BY`, :data:`ENDPOINT_USER_BY_USERNAME`,
        :data:`ENDPOINT_OTHER`."""
        return self.stats().by_endpoint

    @property
    def status_counts(self) -> Mapping[int, int]:
        return self.stats().by_status

    def lookups_per_username(self) -> Mapping[str, int]:
        """How often each username (lower-cased) was asked in a served lookup since the start."""
        return self._httpd.state.asked()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        logger.debug("API server on %s stopped", self.base_url)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer({self.base_url})"


def _loaded_population(config: ApiServerConfig) -> Mapping[str, Mapping[str, Any]]:
    source = config.population
    if source is None:
        return {}
    if isinstance(source, Path | str):
        return load_population(source)
    return population_from_users(source.values())


class UserLookup:
    """The embedded server's answers without HTTP, for other front ends (e.g. an MCP server).

    ``document(usernames)`` is the ``/2/users/by`` document the server would send for a request
    with every user field and the pinned-post expansion (faults other than partial answers and
    the rate limit do not apply: they belong to HTTP).
    """

    def __init__(self, config: ApiServerConfig | None = None) -> None:
        self.config = config or ApiServerConfig()
        self._state = _ApiState(self.config, _loaded_population(self.config))

    def document(self, usernames: Sequence[str]) -> dict[str, Any]:
        shape = _Shape(
            user_fields=tuple(sorted(USER_FIELDS)),
            pinned=True,
            tweet_fields=(*DEFAULT_TWEET_FIELDS, "created_at", "public_metrics"),
        )
        return dict(_lookup(self._state, list(usernames), "usernames", shape).body)


def start_server(config: ApiServerConfig | None = None) -> RunningServer:
    """Load the population, bind the loopback port and serve on a daemon thread.

    Raises :class:`~influx_etl.errors.SourceError` when the population file cannot be read and
    :class:`~influx_etl.errors.ConfigError` when the port cannot be bound.
    """
    config = config or ApiServerConfig()
    population = _loaded_population(config)
    address = _loopback(config.host)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    state = _ApiState(config, population)
    try:
        httpd = _ApiHTTPServer((str(address), config.port), family, state)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {address}:{config.port}: {error.strerror or error} "
            "(use port 0 for any free port)"
        ) from error
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"influx-api-sim:{httpd.server_address[1]}",
        daemon=True,
    )
    thread.start()
    server = RunningServer(httpd, thread, config)
    logger.debug("API server listening on %s", server.base_url)
    return server
