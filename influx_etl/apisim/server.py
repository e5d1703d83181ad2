"""The embedded X API server: a loopback HTTP server speaking the API v2 user-lookup and Lists
contracts.

It answers ``GET /2/users/by?usernames=...`` and ``GET /2/users/by/username/{username}`` exactly as
the real API does (status codes, problem bodies, per-username ``errors``, ``includes.tweets``,
rate-limit headers), so the pipeline's client needs nothing but a different base URL and token;
and, over a deterministic synthetic List graph built at the first Lists request,
``GET /2/lists/{id}``, ``GET /2/lists/{id}/members`` and ``GET /2/users/{id}/list_memberships``.

This module is the HTTP side: routing, the handler and the server's life. What it answers is
decided by its neighbours: :mod:`~influx_etl.apisim.server_config` (the knobs),
:mod:`~influx_etl.apisim.faults` (faults and payload quirks), :mod:`~influx_etl.apisim.accounting`
(rate-limit windows and counters), :mod:`~influx_etl.apisim.answers` (the users and their
lookups), :mod:`~influx_etl.apisim.list_answers` and :mod:`~influx_etl.apisim.lists` (the Lists
endpoints and the List graph), :mod:`~influx_etl.apisim.contract` (the API's fields and bodies).

Order of checks for each request, which tests and benchmarks may rely on:

1. injected fault: the first ``fail_first_n`` requests get ``fail_status`` (default 503); then,
   drawn at random (seeded by ``seed``) per request: a 429 with ``retry-after``
   (``fault_429_rate``), a 500/502/503/504 (``fault_5xx_rate``), a response held for
   ``fault_hold_s`` before a 504 (``fault_timeout_rate``: longer than the client waits), or a 200
   whose body is not a usable document (``fault_malformed_rate``: truncated JSON, or an object
   with neither ``data`` nor ``errors``);
2. token: with ``required_token`` set, a missing or different bearer token gets 401;
3. rate limit: the request is counted in its endpoint's window (each endpoint has its own budget,
   as on the real API: ``/2/users/by``, ``/2/users/by/username/:username``, ``/2/lists/:id``,
   ``/2/lists/:id/members``, ``/2/users/:id/list_memberships``, and ``other`` for any path the
   API does not have, which is then a 404); past the endpoint's limit (its own in
   ``endpoint_rate_limits``, else ``rate_limit``) it gets 429;
4. parameters: invalid ones get 400 with the API's problem body, and so does a lookup naming
   one of ``invalid_handles`` (handles the API refuses although they look valid), a Lists path
   whose id is not decimal, a ``max_results`` outside 1-100 and a ``pagination_token`` not
   issued for that List or user;
5. answer: 200, after sleeping ``latency_s + per_user_latency_s * n`` (``n`` usernames asked,
   or List members served). A lookup: with ``fault_partial_rate``, that share of the found users
   is left out of the answer instead (half of them silently, half with a ``Service
   Unavailable`` entry in ``errors``); then the payload ``quirks``
   (:data:`~influx_etl.apisim.faults.QUIRKS`) reshape the answer the way odd real answers look.
   A Lists request (:mod:`~influx_etl.apisim.list_answers`): the List, a page of members or of
   memberships, or an ``errors`` entry for a List not found or private, or a user id not found.

Only steps 3-5 consume rate budget. Every response, errors included, carries ``x-rate-limit-limit``,
``x-rate-limit-remaining`` and ``x-rate-limit-reset`` (epoch seconds) of its own endpoint. Without
a limit for the endpoint the budget is not enforced and the headers report
:data:`~influx_etl.apisim.server_config.UNENFORCED_RATE_LIMIT`. Windows of a second or longer open
at a whole second, so the reset the headers state is exact.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from influx_etl.apisim.accounting import Accounting, ServerStats
from influx_etl.apisim.answers import Lookups, UserLookup, loaded_population
from influx_etl.apisim.contract import (
    DEFAULT_TWEET_FIELDS,
    DEFAULT_USER_FIELDS,
    ENDPOINT_LIST,
    ENDPOINT_LIST_MEMBERS,
    ENDPOINT_LIST_MEMBERSHIPS,
    ENDPOINT_OTHER,
    ENDPOINT_USER_BY_USERNAME,
    ENDPOINT_USERS_BY,
    EXPANSIONS,
    MAX_USERNAMES,
    REASONS,
    TWEET_FIELDS,
    USER_FIELDS,
    Reply,
    problem,
)
from influx_etl.apisim.faults import (
    INJECTABLE_STATUSES,
    QUIRKS,
    STRAY_USER,
    UNASKED_HANDLE,
    Faults,
    injected,
)
from influx_etl.apisim.list_answers import ListAnswers
from influx_etl.apisim.lists import ListGraph
from influx_etl.apisim.server_config import (
    UNENFORCED_RATE_LIMIT,
    ApiServerConfig,
    PopulationSource,
    loopback,
)
from influx_etl.errors import ConfigError, mask_secrets

# the names this module defined before it was split stay importable from it
__all__ = [
    "DEFAULT_TWEET_FIELDS",
    "DEFAULT_USER_FIELDS",
    "ENDPOINT_OTHER",
    "ENDPOINT_USERS_BY",
    "ENDPOINT_USER_BY_USERNAME",
    "EXPANSIONS",
    "INJECTABLE_STATUSES",
    "MAX_USERNAMES",
    "QUIRKS",
    "STRAY_USER",
    "TWEET_FIELDS",
    "UNASKED_HANDLE",
    "UNENFORCED_RATE_LIMIT",
    "USER_FIELDS",
    "ApiServerConfig",
    "PopulationSource",
    "RunningServer",
    "ServerStats",
    "UserLookup",
    "start_server",
]

logger = logging.getLogger(__name__)


class _ServerState:
    """What the request handlers of one server share."""

    def __init__(self, config: ApiServerConfig, population: Mapping[str, Mapping[str, Any]]):
        self.config = config
        self.faults = Faults(config)
        self.accounting = Accounting(config)
        self.lookups = Lookups(config, population, self.faults, self.accounting)
        self.lists = ListAnswers(self.lookups)

    def stats(self) -> ServerStats:
        return self.accounting.stats(self.faults.counts())


def _route(path: str) -> tuple[str, str | None]:
    """The endpoint of a path, and the username or id it names."""
    if path == ENDPOINT_USERS_BY:
        return ENDPOINT_USERS_BY, None
    prefix = "/2/users/by/username/"
    if path.startswith(prefix) and "/" not in path[len(prefix) :]:
        return ENDPOINT_USER_BY_USERNAME, unquote(path[len(prefix) :])
    parts = path.split("/")
    if len(parts) in (4, 5) and parts[:2] == ["", "2"]:
        resource_id = unquote(parts[3])
        if parts[2] == "lists" and len(parts) == 4:
            return ENDPOINT_LIST, resource_id
        if parts[2] == "lists" and parts[4:] == ["members"]:
            return ENDPOINT_LIST_MEMBERS, resource_id
        if parts[2] == "users" and parts[4:] == ["list_memberships"]:
            return ENDPOINT_LIST_MEMBERSHIPS, resource_id
    return ENDPOINT_OTHER, None


class _ApiHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # benchmarks open many connections at once; the default backlog of 5 would reset some
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, state: _ServerState):
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
    # delayed ACK (measured: docs/performance.md)
    disable_nagle_algorithm = True
    server: _ApiHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # only the request line and status reach the log, never a header (Authorization)
        logger.debug("%s %s", self.address_string(), mask_secrets(format % args))

    def _send(self, reply: Reply, endpoint: str, headers: Mapping[str, str]) -> None:
        payload = (
            reply.raw
            if reply.raw is not None
            else json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        self.server.state.accounting.record(endpoint, reply.status, reply.usernames)
        try:
            self.send_response(reply.status, REASONS.get(reply.status))
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
        reply: Reply
        faults = state.faults
        fault = ("fail_first_n", 0) if faults.take_failure() else faults.draw_fault()
        if fault is not None:
            _, headers = state.accounting.rate_headers(endpoint, consume=False)
            reply = injected(config, *fault)
        elif not self._authorized():
            _, headers = state.accounting.rate_headers(endpoint, consume=False)
            reply = problem(401)
        else:
            allowed, headers = state.accounting.rate_headers(endpoint, consume=True)
            if not allowed:
                reply = problem(429)
            elif endpoint == ENDPOINT_OTHER:
                reply = problem(404, f"Sorry, that page does not exist: {url.path}")
            else:
                try:
                    reply = (
                        state.lookups.answer(endpoint, username, url.query)
                        if endpoint in (ENDPOINT_USERS_BY, ENDPOINT_USER_BY_USERNAME)
                        else state.lists.answer(endpoint, username or "", url.query)
                    )
                except Exception:
                    # a bug here must look like a server error to the client, not a dropped socket
                    logger.exception("error answering %s", mask_secrets(url.path))
                    reply = problem(500)
        delay = config.latency_s + config.per_user_latency_s * reply.usernames + reply.hold_s
        if delay > 0:
            time.sleep(delay)
        self._send(reply, endpoint, headers)

    def _not_allowed(self) -> None:
        self.close_connection = True  # an unread request body must not be parsed as a request
        _, headers = self.server.state.accounting.rate_headers(ENDPOINT_OTHER, consume=False)
        reply = problem(405, f"{self.command} is not supported; the API answers GET")
        self._send(reply, ENDPOINT_OTHER, {**headers, "Allow": "GET", "Connection": "close"})

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # malformed requests (bad request line, oversized headers): a JSON body like any other
        self.close_connection = True
        _, headers = self.server.state.accounting.rate_headers(ENDPOINT_OTHER, consume=False)
        body = {"title": message or "Error", "detail": explain or message or "Error"}
        reply = Reply(code, {**body, "type": "about:blank", "status": code})
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
        return len(self._httpd.state.lookups.population)

    def stats(self) -> ServerStats:
        return self._httpd.state.stats()

    @property
    def list_graph(self) -> ListGraph:
        """The server's synthetic List graph (built now if no Lists request has built it yet)."""
        return self._httpd.state.lists.graph

    @property
    def list_graph_built(self) -> bool:
        """Whether the List graph has been built yet (it is, at the first Lists request)."""
        return self._httpd.state.lists.built

    @property
    def requests_served(self) -> int:
        return self.stats().requests

    @property
    def endpoint_counts(self) -> Mapping[str, int]:
        """Responses per endpoint: :data:`ENDPOINT_USERS_BY`, :data:`ENDPOINT_USER_BY_USERNAME`,
        the Lists endpoints (:data:`~influx_etl.apisim.contract.LIST_ENDPOINTS`),
        :data:`ENDPOINT_OTHER`."""
        return self.stats().by_endpoint

    @property
    def status_counts(self) -> Mapping[int, int]:
        return self.stats().by_status

    def lookups_per_username(self) -> Mapping[str, int]:
        """How often each username (lower-cased) was asked in a served lookup since the start."""
        return self._httpd.state.accounting.asked()

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


def start_server(config: ApiServerConfig | None = None) -> RunningServer:
    """Load the population, bind the loopback port and serve on a daemon thread.

    Raises :class:`~influx_etl.errors.SourceError` when the population file cannot be read and
    :class:`~influx_etl.errors.ConfigError` when the port cannot be bound.
    """
    config = config or ApiServerConfig()
    population = loaded_population(config)
    address = loopback(config.host)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    state = _ServerState(config, population)
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
