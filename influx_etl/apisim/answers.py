"""The user lookups' answers: parameters checked, users found and shaped as the API sends them.

Users come from a recorded population (real API objects) first, then, unless disabled, from the
deterministic synthetic generator. Every served user object carries the non-API field
``"_influx_origin"`` (``"recorded"`` or ``"synthetic"``) whatever ``user.fields`` asked for.
:class:`Lookups` answers for the HTTP server; :class:`UserLookup` gives the same answers without
HTTP, to other front ends.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from influx_etl.apisim.accounting import Accounting
from influx_etl.apisim.contract import (
    DEFAULT_TWEET_FIELDS,
    DEFAULT_USER_FIELDS,
    ENDPOINT_USERS_BY,
    EXPANSIONS,
    MAX_USERNAMES,
    TWEET_FIELDS,
    USER_FIELDS,
    Reply,
    handle_error,
    invalid,
    parameter_error,
    user_error,
)
from influx_etl.apisim.faults import Faults, unavailable_error, with_quirks
from influx_etl.apisim.population import load_population, population_from_users
from influx_etl.apisim.server_config import ApiServerConfig
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

_SYNTHETIC_CACHE_SIZE: Final = 200_000


@dataclass(frozen=True)
class Shape:
    """What a lookup asked to see: user fields, the pinned-post expansion, post fields."""

    user_fields: tuple[str, ...]
    pinned: bool
    tweet_fields: tuple[str, ...]


def served_user(user: Mapping[str, Any], shape: Shape) -> dict[str, Any]:
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


def shaped_pinned_tweet(user: Mapping[str, Any], shape: Shape, seed: int) -> dict[str, Any] | None:
    """The ``includes.tweets`` entry of a served user's pinned post, when the shape expands it."""
    pinned_id = user.get("pinned_tweet_id")
    if not (shape.pinned and isinstance(pinned_id, str) and pinned_id):
        return None
    tweet = pinned_tweet(pinned_id, author_id=str(user["id"]), seed=seed)
    return {name: tweet[name] for name in shape.tweet_fields if name in tweet}


def unknown_parameters(
    query: Mapping[str, list[str]], allowed: set[str], errors: list[dict[str, Any]]
) -> None:
    """Add an ``errors`` entry for each query parameter the endpoint does not take."""
    for name in query:
        if name not in allowed:
            errors.append(
                parameter_error(
                    name,
                    ",".join(query[name]),
                    f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]",
                )
            )


def field_values(
    query: Mapping[str, list[str]], name: str, allowed: frozenset[str], errors: list[dict[str, Any]]
) -> tuple[str, ...]:
    """The comma-separated values of a ``*.fields`` or ``expansions`` parameter; an ``errors``
    entry for each one not in ``allowed``."""
    values = tuple(item for raw in query.get(name, []) for item in raw.split(",") if item)
    for value in values:
        if value not in allowed:
            errors.append(
                parameter_error(
                    name,
                    value,
                    f"The `{name}` query parameter value [{value}] is not one of "
                    f"[{','.join(sorted(allowed))}]",
                )
            )
    return values


def loaded_population(config: ApiServerConfig) -> Mapping[str, Mapping[str, Any]]:
    """The recorded users of ``config.population``, by lower-cased username."""
    source = config.population
    if source is None:
        return {}
    if isinstance(source, Path | str):
        return load_population(source)
    return population_from_users(source.values())


class Lookups:
    """The lookups a server answers, with the users, faults and counts its requests share."""

    def __init__(
        self,
        config: ApiServerConfig,
        population: Mapping[str, Mapping[str, Any]],
        faults: Faults,
        accounting: Accounting,
    ) -> None:
        self.config = config
        self.population = population
        self.faults = faults
        self.accounting = accounting

        @functools.lru_cache(maxsize=_SYNTHETIC_CACHE_SIZE)
        def cached_synthetic_user(key: str) -> Mapping[str, Any]:
            return synthetic_user(key, config.seed)

        self.synthetic_user = cached_synthetic_user

    def resolve(self, key: str) -> tuple[HandleStatus, Mapping[str, Any] | None]:
        recorded = self.population.get(key)
        if recorded is not None:
            return "active", recorded
        if not self.config.synthetic:
            return "not_found", None
        status = handle_status(key, self.config.seed)
        return status, (self.synthetic_user(key) if status == "active" else None)

    def lookup(self, requested: list[str], parameter: str, shape: Shape) -> Reply:
        """The 200 answer to a lookup of ``requested`` (step 5 of the server's order of checks)."""
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        tweets: list[dict[str, Any]] = []
        seen: set[str] = set()
        self.accounting.count_asked([value.lower() for value in requested])
        for value in requested:
            key = value.lower()
            if key in seen:
                continue
            seen.add(key)
            status, user = self.resolve(key)
            if user is None:
                errors.append(user_error(status, value, parameter))
                continue
            partial = self.faults.partial_fault()
            if partial == "error":
                errors.append(unavailable_error(value, parameter))
            if partial is not None:
                continue
            data.append(served_user(user, shape))
            tweet = shaped_pinned_tweet(user, shape, self.config.seed)
            if tweet is not None:
                tweets.append(tweet)
        body: dict[str, Any] = {}
        if data:
            body["data"] = data if parameter == "usernames" else data[0]
        if tweets:
            body["includes"] = {"tweets": tweets}
        if errors:
            body["errors"] = errors
        if self.config.quirks:
            body = with_quirks(body, self.config.quirks, parameter)
        return Reply(200, body, usernames=len(requested))

    def answer(self, endpoint: str, username: str | None, raw_query: str) -> Reply:
        """The reply to a rate-admitted GET on an API endpoint (steps 4 and 5 of the order of
        checks in :mod:`influx_etl.apisim.server`)."""
        query = parse_qs(raw_query, keep_blank_values=True)
        allowed_params = {"expansions", "tweet.fields", "user.fields"}
        if endpoint == ENDPOINT_USERS_BY:
            allowed_params.add("usernames")
        errors: list[dict[str, Any]] = []
        unknown_parameters(query, allowed_params, errors)
        user_fields = field_values(query, "user.fields", USER_FIELDS, errors)
        expansions = field_values(query, "expansions", EXPANSIONS, errors)
        tweet_fields = field_values(query, "tweet.fields", TWEET_FIELDS, errors)

        if endpoint == ENDPOINT_USERS_BY:
            parameter = "usernames"
            raw = ",".join(query.get("usernames", []))
            requested = raw.split(",") if raw else []
            if not requested:
                errors.append(
                    parameter_error(
                        parameter, raw, "The `usernames` query parameter can not be empty"
                    )
                )
            elif len(requested) > MAX_USERNAMES:
                errors.append(
                    parameter_error(
                        parameter,
                        raw,
                        f"The number of values in the `usernames` query parameter list "
                        f"[{len(requested)}] is not between 1 and {MAX_USERNAMES}",
                    )
                )
            else:
                errors.extend(
                    handle_error(parameter, value)
                    for value in requested
                    if not HANDLE_PATTERN.match(value)
                    or value.lower() in self.config.invalid_handles
                )
        else:
            parameter = "username"
            requested = [username or ""]
            if (
                not HANDLE_PATTERN.match(requested[0])
                or requested[0].lower() in self.config.invalid_handles
            ):
                errors.append(handle_error(parameter, requested[0]))
        if errors:
            return invalid(errors)

        shape = Shape(
            user_fields=user_fields,
            pinned="pinned_tweet_id" in expansions,
            tweet_fields=DEFAULT_TWEET_FIELDS + tweet_fields,
        )
        return self.lookup(requested, parameter, shape)


class UserLookup:
    """The embedded server's answers without HTTP, for other front ends (e.g. an MCP server).

    ``document(usernames)`` is the ``/2/users/by`` document the server would send for a request
    with every user field and the pinned-post expansion (faults other than partial answers and
    the rate limit do not apply: they belong to HTTP).
    """

    def __init__(self, config: ApiServerConfig | None = None) -> None:
        self.config = config or ApiServerConfig()
        self._lookups = Lookups(
            self.config,
            loaded_population(self.config),
            Faults(self.config),
            Accounting(self.config),
        )

    def document(self, usernames: Sequence[str]) -> dict[str, Any]:
        shape = Shape(
            user_fields=tuple(sorted(USER_FIELDS)),
            pinned=True,
            tweet_fields=(*DEFAULT_TWEET_FIELDS, "created_at", "public_metrics"),
        )
        return dict(self._lookups.lookup(list(usernames), "usernames", shape).body)
