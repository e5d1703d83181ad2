"""The X Lists endpoints as pages: a List's metadata, its members, a user's List memberships.

Each call sends one request through the retry engine (:func:`~influx_etl.sources.fetch.retried`)
on its endpoint's own rate budget (:class:`~influx_etl.sources.pacing.Pacing` keys budgets by
endpoint) and returns a :class:`Page`: the answer verbatim, its ``next_token`` and how many
requests it took. Storing pages and paging on is the caller's business
(:mod:`influx_etl.list_reads`): every page is stored before the next is asked, so a killed read
resumes at its last token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from influx_etl.config import LookupSettings
from influx_etl.errors import ConfigError, SourceError
from influx_etl.sources.base import DatasetKind
from influx_etl.sources.fetch import RetryPolicy, retried
from influx_etl.sources.pacing import Pacing, WaitObserver
from influx_etl.sources.xclient import (
    ENDPOINT_LIST,
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    ApiResponse,
    XClient,
)

log = logging.getLogger(__name__)

_LIST_REFERENCE = re.compile(
    r"\s*(?:(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/i/lists/)?(\d{1,19})/?"
    r"(?:[?#].*)?\s*"
)


def list_id(reference: str) -> str:
    """The numeric id of a List given as an id or a URL (``https://x.com/i/lists/ID``, also
    ``twitter.com``); :class:`ConfigError` naming the reference otherwise."""
    match = _LIST_REFERENCE.fullmatch(reference)
    if match is None:
        raise ConfigError(
            f"--list {reference!r}: expected a List id (digits) or URL such as "
            "https://x.com/i/lists/1234567890"
        )
    return match[1]


@dataclass(frozen=True)
class Page:
    """One answered request of a Lists endpoint."""

    endpoint: str
    resource_id: str
    pagination_token: str | None
    response: ApiResponse
    requests: int
    """Requests it took (retries included; a 429's wait is not a request)."""

    @property
    def document(self) -> dict[str, Any]:
        value = json.loads(self.response.body)
        return value if isinstance(value, dict) else {}

    @property
    def next_token(self) -> str | None:
        meta = self.document.get("meta")
        token = meta.get("next_token") if isinstance(meta, dict) else None
        return str(token) if token else None


def resource_outcome(page: Page) -> str:
    """``ok``, ``not_found`` or ``forbidden`` for a page's resource (a List or a user): a 404 or
    a ``Not Found Error`` entry, a 403 or a ``Forbidden`` / authorization entry, else ok."""
    status = page.response.status
    document = page.document
    if status == 404:
        return "not_found"
    if status == 403:
        return "forbidden"
    if "data" in document or "meta" in document:
        return "ok"
    for error in document.get("errors") or []:
        if not isinstance(error, dict):
            continue
        words = f"{error.get('title', '')} {error.get('type', '')}".lower()
        if "not found" in words or "resource-not-found" in words:
            return "not_found"
        if "forbidden" in words or "authoriz" in words or "not-authorized" in words:
            return "forbidden"
    return "ok"


def resource_detail(page: Page) -> str | None:
    """The API's own words for a resource that is not ``ok``."""
    document = page.document
    errors = document.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else document
    if isinstance(first, dict):
        text = first.get("detail") or first.get("title")
        return str(text) if text else None
    return None


class ListsApi:
    """The Lists endpoints of one API (the X API or one speaking its contract)."""

    def __init__(
        self, client: XClient, policy: RetryPolicy, *, name: str, kind: DatasetKind
    ) -> None:
        self.client = client
        self.policy = policy
        self.name = name
        self.kind = kind

    def __repr__(self) -> str:
        return f"ListsApi(name={self.name!r}, kind={self.kind!r})"

    def list_info(self, list_id: str) -> Page:
        return self._page(ENDPOINT_LIST, list_id, None, lambda: self.client.list_by_id(list_id))

    def members_page(self, list_id: str, token: str | None) -> Page:
        return self._page(
            ENDPOINT_LIST_MEMBERS, list_id, token, lambda: self.client.list_members(list_id, token)
        )

    def memberships_page(self, user_id: str, token: str | None) -> Page:
        return self._page(
            ENDPOINT_LIST_MEMBERSHIPS,
            user_id,
            token,
            lambda: self.client.list_memberships(user_id, token),
        )

    def _page(self, endpoint: str, resource_id: str, token: str | None, call: Any) -> Page:
        requests = 0

        def send() -> ApiResponse:
            nonlocal requests
            requests += 1
            response: ApiResponse = call()
            return response

        response = retried(
            send,
            self.policy,
            paced=self.client.pacing is not None,
            label=f"{endpoint} {resource_id}",
        )
        return Page(endpoint, resource_id, token, response, requests)


@contextmanager
def open_lists_api(
    settings: LookupSettings,
    observer: WaitObserver | None = None,
    *,
    world_handles: Sequence[str] = (),
) -> Iterator[ListsApi]:
    """The Lists endpoints of the configured source (``x-api``, ``sim``, ``http://``).

    ``world_handles`` are part of the embedded server's synthetic world (the project's seed
    handles): its Lists may hold them, so a demo dataset sits on Lists. A prefetched file or the
    MCP route has no Lists: :class:`ConfigError`.
    """
    from influx_etl.sources import resolved_spec

    spec = resolved_spec(settings)
    policy = RetryPolicy.from_settings(settings)
    pacing = Pacing(margin_s=settings.rate_limit_margin_s, observer=observer)
    if spec == "x-api":
        if settings.token is None:
            raise ConfigError(
                "--source x-api needs a bearer token: set X_BEARER_TOKEN (or TWITTER_BEARER_TOKEN)"
                " or use --token-file, or use --source sim to run on the local X API server"
            )
        with XClient(
            settings.base_url, settings.token, timeout_s=settings.timeout_s, pacing=pacing
        ) as client:
            yield ListsApi(client, policy, name="x-api", kind="live")
        return
    if spec == "sim":
        from influx_etl.apisim import ApiServerConfig, start_server

        config = ApiServerConfig(
            population=settings.population, list_extra_handles=tuple(world_handles)
        )
        with start_server(config) as server:
            log.info("embedded X API server on %s", server.base_url)
            with XClient(
                server.base_url, None, timeout_s=settings.timeout_s, pacing=pacing
            ) as client:
                yield ListsApi(client, policy, name="sim", kind="simulated")
        return
    if spec.startswith(("http://", "https://")):
        with XClient(spec, settings.token, timeout_s=settings.timeout_s, pacing=pacing) as client:
            yield ListsApi(client, policy, name=spec, kind="simulated")
        return
    raise SourceError(
        f"--source {spec}: X Lists are read from an API (x-api, sim, http://HOST:PORT); a "
        "prefetched file or the MCP route has no Lists endpoints"
    )
