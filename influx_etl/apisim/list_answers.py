"""The Lists endpoints' answers: parameters checked, Lists and members found and shaped as the API
sends them, over the synthetic List graph of :mod:`~influx_etl.apisim.lists`.

* ``GET /2/lists/:id``: the List (``list.fields``; ``expansions=owner_id`` puts its owner in
  ``includes.users`` when the owner is an account of the graph);
* ``GET /2/lists/:id/members``: a page of the members as the user objects the lookup serves for
  them with the same ``user.fields`` / ``expansions`` / ``tweet.fields``;
* ``GET /2/users/:id/list_memberships``: a page of the public Lists the user is a member of.

A path id that is not decimal, an unknown parameter or field, a ``max_results`` outside 1-100 or a
``pagination_token`` not issued for this List or user is a 400 with the API's problem body; a List
not in the graph, a private one, or a user id the graph does not know is a 200 with an ``errors``
entry (``Not Found Error`` / ``Forbidden``). The lookup's payload quirks and partial faults do not
apply here.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from influx_etl.apisim.answers import (
    Lookups,
    Shape,
    field_values,
    served_user,
    shaped_pinned_tweet,
    unknown_parameters,
)
from influx_etl.apisim.contract import (
    DEFAULT_LIST_FIELDS,
    DEFAULT_TWEET_FIELDS,
    ENDPOINT_LIST,
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    EXPANSIONS,
    ID_PATTERN,
    LIST_EXPANSIONS,
    LIST_FIELDS,
    MAX_RESULTS,
    TWEET_FIELDS,
    USER_FIELDS,
    Reply,
    id_error,
    invalid,
    parameter_error,
    resource_error,
)
from influx_etl.apisim.lists import ListGraph, SyntheticList, list_graph, page_token, token_offset

_PAGED = {"max_results", "pagination_token"}
_PARAMETERS: Mapping[str, set[str]] = {
    ENDPOINT_LIST: {"list.fields", "expansions", "user.fields"},
    ENDPOINT_LIST_MEMBERS: {*_PAGED, "user.fields", "expansions", "tweet.fields"},
}
_MEMBERSHIP_PARAMETERS = {*_PAGED, "list.fields", "expansions", "user.fields"}


def _max_results(query: Mapping[str, list[str]], errors: list[dict[str, Any]]) -> int:
    values = query.get("max_results")
    if not values:
        return MAX_RESULTS
    raw = values[0]
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_RESULTS:
        return int(raw)
    errors.append(
        parameter_error(
            "max_results",
            raw,
            f"The `max_results` query parameter value [{raw}] is not between 1 and {MAX_RESULTS}",
        )
    )
    return MAX_RESULTS


def _token_error(token: str) -> dict[str, Any]:
    return parameter_error(
        "pagination_token",
        token,
        f"The `pagination_token` query parameter value [{token}] is not valid for this request",
    )


class ListAnswers:
    """The Lists endpoints a server answers; the graph is built at the first request that needs
    it, once, whatever the number of requests arriving together."""

    def __init__(self, lookups: Lookups) -> None:
        self.config = lookups.config
        self.lookups = lookups
        self._graph: ListGraph | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the graph has been built (by a Lists request, or by :attr:`graph`)."""
        with self._lock:
            return self._graph is not None

    @property
    def graph(self) -> ListGraph:
        with self._lock:
            if self._graph is None:
                self._graph = list_graph(self.config, self.lookups.population)
            return self._graph

    def answer(self, endpoint: str, resource_id: str, raw_query: str) -> Reply:
        """The reply to a rate-admitted GET on a Lists endpoint (steps 4 and 5 of the order of
        checks in :mod:`influx_etl.apisim.server`)."""
        query = parse_qs(raw_query, keep_blank_values=True)
        errors: list[dict[str, Any]] = []
        if not ID_PATTERN.match(resource_id):
            errors.append(id_error(resource_id))
        unknown_parameters(query, _PARAMETERS.get(endpoint, _MEMBERSHIP_PARAMETERS), errors)
        user_fields = field_values(query, "user.fields", USER_FIELDS, errors)
        members = endpoint == ENDPOINT_LIST_MEMBERS
        expansions = field_values(
            query, "expansions", EXPANSIONS if members else LIST_EXPANSIONS, errors
        )
        tweet_fields = field_values(query, "tweet.fields", TWEET_FIELDS, errors)
        list_fields = field_values(query, "list.fields", LIST_FIELDS, errors)
        max_results = _max_results(query, errors)
        token = query["pagination_token"][0] if "pagination_token" in query else None
        offset = 0
        if token is not None:
            token_at = token_offset(token, endpoint, resource_id, self.config.seed)
            if token_at is None:
                errors.append(_token_error(token))
            offset = token_at or 0
        if errors:
            return invalid(errors)
        page = _Page(endpoint, resource_id, token, offset, max_results, self.config.seed)

        shape = Shape(
            user_fields=user_fields,
            pinned="pinned_tweet_id" in expansions,
            tweet_fields=DEFAULT_TWEET_FIELDS + tweet_fields,
        )
        owners = "owner_id" in expansions
        if endpoint == ENDPOINT_LIST_MEMBERSHIPS:
            return self._memberships(resource_id, page, list_fields, owners, shape)
        found = self.graph.get(resource_id)
        if found is None or found.private:
            error = resource_error("list", resource_id, forbidden=found is not None)
            return Reply(200, {"errors": [error]})
        if members:
            return self._members(self.graph.members(found.id), page, shape)
        body = {"data": _shaped_list(found, list_fields)}
        return Reply(200, self._with_owners(body, [found], owners, shape))

    def _memberships(
        self, user_id: str, page: _Page, list_fields: tuple[str, ...], owners: bool, shape: Shape
    ) -> Reply:
        graph = self.graph
        if graph.handle_of(user_id) is None:
            return Reply(200, {"errors": [resource_error("user", user_id)]})
        # the API shows the Lists the caller may see: a private List of someone else is not one
        visible = [
            item
            for item in map(graph.get, graph.memberships(user_id))
            if item is not None and not item.private
        ]
        if not page.fits(len(visible)):
            return invalid([_token_error(str(page.token))])
        lists = visible[page.offset : page.offset + page.size]
        body: dict[str, Any] = {}
        if lists:
            body["data"] = [_shaped_list(item, list_fields) for item in lists]
            body = self._with_owners(body, lists, owners, shape)
        body["meta"] = page.meta(len(lists), len(visible))
        return Reply(200, body)

    def _with_owners(
        self, body: dict[str, Any], lists: Sequence[SyntheticList], owners: bool, shape: Shape
    ) -> dict[str, Any]:
        """``body`` with the Lists' owners in ``includes.users`` (``expansions=owner_id``)."""
        if not owners:
            return body
        users: dict[str, dict[str, Any]] = {}
        owner_shape = Shape(shape.user_fields, pinned=False, tweet_fields=())
        for item in lists:
            key = self.graph.handle_of(item.owner_id)
            user = self.lookups.resolve(key)[1] if key is not None else None
            if user is not None and item.owner_id not in users:
                users[item.owner_id] = served_user(user, owner_shape)
        if users:
            body["includes"] = {"users": list(users.values())}
        return body

    def _members(self, keys: Sequence[str], page: _Page, shape: Shape) -> Reply:
        if not page.fits(len(keys)):
            return invalid([_token_error(str(page.token))])
        data: list[dict[str, Any]] = []
        tweets: list[dict[str, Any]] = []
        for key in keys[page.offset : page.offset + page.size]:
            user = self.lookups.resolve(key)[1]
            if user is None:
                continue
            data.append(served_user(user, shape))
            tweet = shaped_pinned_tweet(user, shape, self.config.seed)
            if tweet is not None:
                tweets.append(tweet)
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if tweets:
            body["includes"] = {"tweets": tweets}
        body["meta"] = page.meta(len(data), len(keys))
        return Reply(200, body, usernames=len(data))


@dataclass(frozen=True)
class _Page:
    """Which page of a paged resource a request asks for."""

    endpoint: str
    resource_id: str
    token: str | None
    offset: int
    size: int
    seed: int

    def fits(self, total: int) -> bool:
        """Whether the page starts within ``total`` items (a token is issued for no other)."""
        return self.offset == 0 or self.offset < total

    def meta(self, count: int, total: int) -> dict[str, Any]:
        meta: dict[str, Any] = {"result_count": count}
        if self.offset > 0:
            meta["previous_token"] = self._token(max(self.offset - self.size, 0))
        if self.offset + self.size < total:
            meta["next_token"] = self._token(self.offset + self.size)
        return meta

    def _token(self, offset: int) -> str:
        return page_token(self.endpoint, self.resource_id, offset, self.seed)


def _shaped_list(item: SyntheticList, list_fields: tuple[str, ...]) -> dict[str, Any]:
    fields = item.fields()
    shaped = {name: fields[name] for name in DEFAULT_LIST_FIELDS}
    for name in list_fields:
        shaped[name] = fields[name]
    return shaped
