"""Where lookups go: the factory that opens the configured source.

``open_source`` picks the source from :class:`~influx_etl.config.LookupSettings`:

* ``x-api`` — the X API at ``base_url`` with the bearer token (needs a token);
* ``sim`` (alias ``embedded``) — starts the package's own X API server on a free loopback port;
* ``auto`` — ``x-api`` when a token is configured, else ``sim``;
* ``http://HOST:PORT`` — an API-compatible server already running (e.g. ``influx-api-sim``);
* ``prefetched:FILE`` — user objects saved earlier (JSONL: bare, ``{"data": {...}}`` or whole
  API responses);
* ``mcp`` — the Rube MCP route (:mod:`influx_etl.sources.mcp`).

The types and the batch engine live in :mod:`influx_etl.sources.base`; the HTTP client in
:mod:`~influx_etl.sources.xclient`, pacing in :mod:`~influx_etl.sources.pacing`, the MCP route in
:mod:`~influx_etl.sources.mcp`, worker processes and clusters in :mod:`~influx_etl.sources.workers`.
The factory sits above them all, so none of them imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from influx_etl.config import LookupSettings
from influx_etl.errors import ConfigError, LookupError_, SourceError
from influx_etl.sources.base import (
    BROKEN_LINE_DETAIL,
    INPUT_DAMAGE_FIELD,
    NOT_IN_FILE_DETAIL,
    PROBLEM_INVALID,
    PROBLEM_NOT_FOUND,
    USERNAME_IN_TEXT,
    BatchFetcher,
    BulkLookupSource,
    DatasetKind,
    HttpSource,
    LookupProgress,
    LookupSource,
    PrefetchedSource,
    RawBatch,
    RawFile,
    RetryPolicy,
    WorkerLookupSource,
    broken_lines_detail,
    error_outcome,
    new_http_source,
    resolved_spec,
    source_kind,
)
from influx_etl.sources.pacing import Pacing, WaitObserver

log = logging.getLogger(__name__)


@contextmanager
def open_source(
    settings: LookupSettings, observer: WaitObserver | None = None
) -> Iterator[LookupSource]:
    """The configured source, with whatever it needs (a client, an embedded server) opened.

    ``observer`` is told about rate-limit waits (the progress display shows them).
    """
    spec = resolved_spec(settings)
    if settings.endpoint != "bulk" and (spec.startswith("prefetched:") or spec == "mcp"):
        raise ConfigError(
            f"the {settings.endpoint} endpoint applies to HTTP sources only (x-api, sim, "
            f"http://HOST:PORT), not to --source {spec}"
        )
    if settings.backend != "threading" and (spec.startswith("prefetched:") or spec == "mcp"):
        raise ConfigError(
            f"--backend {settings.backend} applies to HTTP sources only (x-api, sim, "
            f"http://HOST:PORT), not to --source {spec}: "
            + (
                "a prefetched file sends no request at all"
                if spec != "mcp"
                else "the MCP route calls one MCP server from this process"
            )
            + "; leave --backend at threading"
        )
    if spec.startswith("prefetched:"):
        path = Path(spec.removeprefix("prefetched:"))
        if not path.is_file():
            raise SourceError(f"prefetched users file not found: {path}")
        yield PrefetchedSource(path)
        return
    if spec == "x-api":
        if settings.token is None:
            raise ConfigError(
                "--source x-api needs a bearer token: set X_BEARER_TOKEN (or TWITTER_BEARER_TOKEN)"
                " or use --token-file, or use --source sim to run on the local X API server"
            )
        with _http_source(settings, settings.base_url, "x-api", "live", observer) as source:
            yield source
        return
    if spec == "sim":
        from influx_etl.apisim import ApiServerConfig, start_server

        with start_server(ApiServerConfig(population=settings.population)) as server:
            log.info("embedded X API server on %s", server.base_url)
            with _http_source(settings, server.base_url, "sim", "simulated", observer) as source:
                yield source
        return
    if spec == "mcp":
        from influx_etl.sources.mcp import McpSource

        yield McpSource.from_settings(settings)
        return
    if spec.startswith(("http://", "https://")):
        with _http_source(settings, spec, spec, "simulated", observer) as source:
            yield source
        return
    raise ConfigError(
        f"unknown --source {spec!r}: expected one of auto, x-api, sim (or embedded), "
        "prefetched:FILE, mcp, http://HOST:PORT"
    )


@contextmanager
def _http_source(
    settings: LookupSettings,
    base_url: str,
    name: str,
    kind: DatasetKind,
    observer: WaitObserver | None,
) -> Iterator[LookupSource]:
    if settings.backend != "threading":
        # imported here: the cluster module (and dask, for that backend) only when asked for
        from influx_etl.sources.workers import worker_source

        with worker_source(settings, base_url, name, kind, observer) as remote:
            yield remote
        return
    pacing = Pacing(margin_s=settings.rate_limit_margin_s, observer=observer)
    source = new_http_source(settings, base_url, name, kind, pacing)
    with source.client:
        yield source


__all__ = [
    "BROKEN_LINE_DETAIL",
    "INPUT_DAMAGE_FIELD",
    "NOT_IN_FILE_DETAIL",
    "PROBLEM_INVALID",
    "PROBLEM_NOT_FOUND",
    "USERNAME_IN_TEXT",
    "BatchFetcher",
    "BulkLookupSource",
    "DatasetKind",
    "HttpSource",
    "LookupError_",
    "LookupProgress",
    "LookupSource",
    "PrefetchedSource",
    "RawBatch",
    "RawFile",
    "RetryPolicy",
    "WorkerLookupSource",
    "broken_lines_detail",
    "error_outcome",
    "new_http_source",
    "open_source",
    "resolved_spec",
    "source_kind",
]
