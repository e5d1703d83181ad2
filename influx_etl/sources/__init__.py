"""Where lookups go: the factory that opens the configured source.

``open_source`` picks the source from :class:`~influx_etl.config.LookupSettings`:

* ``x-api`` — the X API at ``base_url`` with the bearer token (needs a token);
* ``sim`` (alias ``embedded``) — starts the package's own X API server on a free loopback port;
* ``auto`` — ``x-api`` when a token is configured, else ``sim``;
* ``http://HOST:PORT`` — an API-compatible server already running (e.g. ``influx-api-sim``);
* ``prefetched:FILE`` — user objects saved earlier (JSONL: bare, ``{"data": {...}}`` or whole
  API responses);
* ``mcp`` — the Rube MCP route (:mod:`influx_etl.sources.mcp`).

The types and protocols live in :mod:`influx_etl.sources.base` (the API format's Polars types
in :mod:`~influx_etl.sources.response`); the retry / split engine in
:mod:`~influx_etl.sources.fetch`, the HTTP source in :mod:`~influx_etl.sources.http` (its client
in :mod:`~influx_etl.sources.xclient`, pacing in :mod:`~influx_etl.sources.pacing`), the
prefetched source and the one reader of prefetched users files in
:mod:`~influx_etl.sources.prefetched`, the MCP route in :mod:`~influx_etl.sources.mcp`, worker
processes and clusters in :mod:`~influx_etl.sources.workers`.
The factory sits above them all, so none of them imports it.

The prefetched names are imported on first use: their reader needs Polars and DuckDB, which the
other sources (and the worker processes that import them) do without.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from influx_etl.config import LookupSettings
from influx_etl.errors import ConfigError, LookupError_, SourceError
from influx_etl.sources.base import (
    BROKEN_LINE_DETAIL,
    ERROR_RULES,
    INPUT_DAMAGE_FIELD,
    NOT_IN_FILE_DETAIL,
    PROBLEM_INVALID,
    PROBLEM_NOT_FOUND,
    UNCLASSIFIED_OUTCOME,
    BulkLookupSource,
    DatasetKind,
    ErrorRule,
    LookupProgress,
    LookupSource,
    RawBatch,
    RawFile,
    WorkerLookupSource,
    broken_lines_detail,
    error_outcome,
)
from influx_etl.sources.fetch import RESPONSES_FIELD, BatchFetcher, RetryPolicy
from influx_etl.sources.http import HttpSource, new_http_source
from influx_etl.sources.pacing import Pacing, WaitObserver

if TYPE_CHECKING:
    from influx_etl.sources.prefetched import (
        USERNAME_IN_TEXT,
        PrefetchedAnswers,
        PrefetchedSource,
        prefetched_answers,
    )

_PREFETCHED = ("USERNAME_IN_TEXT", "PrefetchedAnswers", "PrefetchedSource", "prefetched_answers")

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
        from influx_etl.sources.prefetched import PrefetchedSource

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


SIM_SOURCES = ("sim", "embedded")
"""Names of the embedded server source (``embedded`` is the older name)."""


def resolved_spec(settings: LookupSettings) -> str:
    """``--source`` with ``auto`` resolved (``x-api`` with a token, else ``sim``) and the
    ``embedded`` alias spelled ``sim``."""
    if settings.source == "auto":
        return "x-api" if settings.token is not None else "sim"
    return "sim" if settings.source in SIM_SOURCES else settings.source


def source_kind(settings: LookupSettings) -> DatasetKind:
    """Which dataset the configured source's profiles belong to, without opening the source.

    The embedded server and any ``http://`` server given by address (normally ``influx-api-sim``)
    may serve made-up profiles, so their data goes to the synthetic dataset; so does a prefetched
    users file of the embedded server's marked users (``influx generate-profiles``).
    """
    spec = resolved_spec(settings)
    if spec == "sim" or spec.startswith(("http://", "https://")):
        return "simulated"
    if spec.startswith("prefetched:"):
        from influx_etl.sources.prefetched import prefetched_kind

        return prefetched_kind(Path(spec.removeprefix("prefetched:")))
    return "live"


def __getattr__(name: str) -> Any:
    if name in _PREFETCHED:
        return getattr(importlib.import_module("influx_etl.sources.prefetched"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BROKEN_LINE_DETAIL",
    "ERROR_RULES",
    "INPUT_DAMAGE_FIELD",
    "NOT_IN_FILE_DETAIL",
    "PROBLEM_INVALID",
    "PROBLEM_NOT_FOUND",
    "RESPONSES_FIELD",
    "SIM_SOURCES",
    "UNCLASSIFIED_OUTCOME",
    "USERNAME_IN_TEXT",
    "BatchFetcher",
    "BulkLookupSource",
    "DatasetKind",
    "ErrorRule",
    "HttpSource",
    "LookupError_",
    "LookupProgress",
    "LookupSource",
    "PrefetchedAnswers",
    "PrefetchedSource",
    "RawBatch",
    "RawFile",
    "RetryPolicy",
    "WorkerLookupSource",
    "broken_lines_detail",
    "error_outcome",
    "new_http_source",
    "open_source",
    "prefetched_answers",
    "resolved_spec",
    "source_kind",
]
