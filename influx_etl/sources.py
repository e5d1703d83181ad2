"""Lookup sources behind one small interface.

A :class:`LookupSource` turns one batch of handles into one :class:`RawBatch`: the verbatim API
document (``{"data": [...], "errors": [...], "includes": {...}}``) plus what the transport saw. The
pipeline never knows whether the batch went to api.x.com, to the embedded server or to a prefetched
file: all of them answer in the API's own response format, and :mod:`influx_etl.lookup` normalises
that one format.

``open_source`` picks the source from :class:`~influx_etl.config.LookupSettings`:

* ``x-api`` — the X API at ``base_url`` with the bearer token (needs a token);
* ``embedded`` — starts the package's own X API server on a free loopback port (no token needed);
* ``auto`` — ``x-api`` when a token is configured, else ``embedded``;
* ``http://HOST:PORT`` — an API-compatible server already running (e.g. ``influx-api-sim``);
* ``prefetched:FILE`` — user objects saved earlier (JSONL, one a line, maybe ``{"data": ...}``).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import polars as pl
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from influx_etl.client import ApiResponse, XClient, utc_now_iso
from influx_etl.config import LookupSettings
from influx_etl.errors import (
    BadRequestError,
    ConfigError,
    LookupError_,
    RateLimitError,
    SourceError,
    TransportError,
)

log = logging.getLogger(__name__)

DatasetKind = Literal["live", "simulated"]
"""``simulated`` sources (the embedded server) write to the synthetic dataset, not the live one."""

MAX_RATE_LIMIT_WAIT_S = 16 * 60
"""Longest wait for a rate-limit window: the API's windows are 15 minutes."""


@dataclass(frozen=True)
class RawBatch:
    """What one batch lookup produced, kept verbatim for the raw-lookups table."""

    batch_id: int
    handles: tuple[str, ...]
    requested_at: str
    status: int | None
    body: str | None
    error: str | None = None
    attempts: int = 1
    elapsed_s: float = 0.0
    rate_limit: Mapping[str, str] = field(default_factory=dict)
    default_origin: str = "x-api-v2"
    """Origin of the users in ``body`` unless a user object says otherwise (``_influx_origin``)."""

    @property
    def ok(self) -> bool:
        return self.body is not None and self.error is None


class LookupSource(Protocol):
    """Anything that can look up one batch of handles. Must be safe to call from several threads."""

    name: str
    kind: DatasetKind

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch: ...


class HttpSource:
    """The X API (or any server speaking its contract) through :class:`XClient`, with retries.

    Transient faults (5xx, timeouts, connection errors, malformed bodies) are retried with
    exponential backoff and jitter up to ``max_attempts``; a 429 waits for the window's reset.
    A batch that still fails becomes a ``RawBatch`` with ``error`` set (its handles end as
    ``failed``), so one bad batch never stops the run. 401/403 (:class:`AuthError`) do stop it.
    """

    def __init__(
        self,
        client: XClient,
        *,
        name: str,
        kind: DatasetKind,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.client = client
        self.name = name
        self.kind = kind
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        retrying = Retrying(
            retry=retry_if_exception_type((TransportError, RateLimitError)),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            reraise=True,
        )
        attempts = 0
        requested_at = utc_now_iso()
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    response: ApiResponse = self.client.users_by_usernames(
                        handles, batch_id=batch_id
                    )
        except (TransportError, RateLimitError, BadRequestError) as exc:
            log.warning("batch %d failed after %d attempt(s): %s", batch_id, attempts, exc)
            return RawBatch(
                batch_id=batch_id,
                handles=tuple(handles),
                requested_at=requested_at,
                status=None,
                body=None,
                error=str(exc),
                attempts=attempts,
            )
        return RawBatch(
            batch_id=batch_id,
            handles=tuple(handles),
            requested_at=response.requested_at,
            status=response.status,
            body=response.body,
            attempts=attempts,
            elapsed_s=response.elapsed_s,
            rate_limit=response.rate_limit,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError) and exc.reset_at is not None:
            wait = max(0.0, exc.reset_at - time.time()) + 0.5
            log.warning("rate limited: waiting %.0f s for the window to reset", wait)
            return min(wait, MAX_RATE_LIMIT_WAIT_S)
        exponential: float = self.backoff_base_s * 2.0 ** (state.attempt_number - 1)
        return min(self.backoff_max_s, exponential) * random.uniform(0.5, 1.0)


class PrefetchedSource:
    """User objects saved to a JSONL file earlier (the Rube MCP route's output, or an export).

    Lines may hold the bare user object or wrap it as ``{"data": {...}}``. Lines that are not JSON
    objects with ``id`` and ``username`` are reported with file and line and skipped.
    """

    kind: DatasetKind = "live"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"prefetched:{path}"
        self._users = _prefetched_users(path)

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        requested_at = utc_now_iso()
        found: list[str] = []
        errors: list[dict[str, str]] = []
        for handle in handles:
            user = self._users.get(handle.lower())
            if user is None:
                errors.append(_not_found_error(handle))
            else:
                found.append(user)
        parts = []
        if found:
            parts.append('"data":[' + ",".join(found) + "]")
        if errors:
            parts.append('"errors":' + json.dumps(errors))
        return RawBatch(
            batch_id=batch_id,
            handles=tuple(handles),
            requested_at=requested_at,
            status=200,
            body="{" + ",".join(parts) + "}",
            default_origin="prefetched",
        )


def _prefetched_users(path: Path) -> dict[str, str]:
    """Lower-case username -> the user object's JSON text, read with Polars' JSON path matcher."""
    try:
        lines = pl.read_csv(
            path,
            has_header=False,
            new_columns=["text"],
            separator="\x1f",
            quote_char=None,
            schema_overrides={"text": pl.String},
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SourceError(f"cannot read prefetched users file {path}: {exc}") from None
    parsed = lines.with_row_index("line", offset=1).select(
        "line",
        pl.coalesce(
            pl.col("text").str.json_path_match("$.data.username"),
            pl.col("text").str.json_path_match("$.username"),
        ).alias("username"),
        pl.coalesce(
            pl.col("text").str.json_path_match("$.data.id"),
            pl.col("text").str.json_path_match("$.id"),
        ).alias("id"),
        pl.when(pl.col("text").str.json_path_match("$.data.username").is_not_null())
        .then(pl.col("text").str.json_path_match("$.data"))
        .otherwise(pl.col("text"))
        .alias("user"),
    )
    bad = parsed.filter(pl.col("username").is_null() | pl.col("id").is_null())
    for line in bad["line"].to_list():
        log.warning("%s:%d: skipped: not a user object with 'id' and 'username'", path, line)
    good = parsed.filter(pl.col("username").is_not_null() & pl.col("id").is_not_null())
    good = good.unique(pl.col("username").str.to_lowercase(), keep="last", maintain_order=True)
    return dict(
        zip(good["username"].str.to_lowercase().to_list(), good["user"].to_list(), strict=True)
    )


def _not_found_error(handle: str) -> dict[str, str]:
    return {
        "value": handle,
        "detail": f"Could not find user with usernames: [{handle}].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": "usernames",
        "resource_id": handle,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


def resolved_spec(settings: LookupSettings) -> str:
    """``--source`` with ``auto`` resolved: ``x-api`` with a token configured, else ``embedded``."""
    if settings.source == "auto":
        return "x-api" if settings.token is not None else "embedded"
    return settings.source


def source_kind(settings: LookupSettings) -> DatasetKind:
    """Which dataset the configured source's profiles belong to, without opening the source.

    The embedded server and any ``http://`` server given by address (normally ``influx-api-sim``)
    may serve made-up profiles, so their data goes to the synthetic dataset.
    """
    spec = resolved_spec(settings)
    if spec == "embedded" or spec.startswith(("http://", "https://")):
        return "simulated"
    return "live"


@contextmanager
def open_source(settings: LookupSettings) -> Iterator[LookupSource]:
    """The configured source, with whatever it needs (a client, an embedded server) opened."""
    spec = resolved_spec(settings)
    if spec.startswith("prefetched:"):
        path = Path(spec.removeprefix("prefetched:"))
        if not path.is_file():
            raise SourceError(f"prefetched users file not found: {path}")
        yield PrefetchedSource(path)
        return
    if spec == "x-api":
        if settings.token is None:
            raise ConfigError(
                "--source x-api needs a bearer token: set X_BEARER_TOKEN (or TWITTER_BEARER_TOKEN),"
                " or use --source embedded to run on the local X API server"
            )
        with _http_source(settings, settings.base_url, name="x-api", kind="live") as source:
            yield source
        return
    if spec == "embedded":
        from influx_etl.apisim import ApiServerConfig, start_server

        with start_server(ApiServerConfig(population=settings.population)) as server:
            log.info("embedded X API server on %s", server.base_url)
            with _http_source(
                settings, server.base_url, name="embedded", kind="simulated"
            ) as source:
                yield source
        return
    if spec.startswith(("http://", "https://")):
        with _http_source(settings, spec, name=spec, kind="simulated") as source:
            yield source
        return
    raise ConfigError(
        f"unknown --source {spec!r}: expected one of auto, x-api, embedded, "
        "prefetched:FILE, http://HOST:PORT"
    )


@contextmanager
def _http_source(
    settings: LookupSettings, base_url: str, *, name: str, kind: DatasetKind
) -> Iterator[HttpSource]:
    with XClient(base_url, settings.token, timeout_s=settings.timeout_s) as client:
        yield HttpSource(client, name=name, kind=kind, max_attempts=settings.max_attempts)


__all__ = [
    "DatasetKind",
    "HttpSource",
    "LookupError_",
    "LookupSource",
    "PrefetchedSource",
    "RawBatch",
    "open_source",
    "resolved_spec",
    "source_kind",
]
