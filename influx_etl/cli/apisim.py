"""``influx-api-sim``: run the embedded X API server in the foreground until SIGINT or SIGTERM.

The first line on stdout is ``influx-api-sim listening on http://HOST:PORT`` (flushed at once, so a
parent process can read the URL even with ``--port 0``); the latency model and limits follow.
``influx-api-sim lists`` prints the Lists of the server's synthetic List graph instead (an id to
try with ``influx-harvest x-lists --list ID``).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import click

from influx_etl.apisim.contract import API_ENDPOINTS, DOCUMENTED_RATE_LIMITS
from influx_etl.apisim.list_topics import TOPICS
from influx_etl.apisim.lists import list_graph
from influx_etl.apisim.server import (
    INJECTABLE_STATUSES,
    QUIRKS,
    ApiServerConfig,
    start_server,
)
from influx_etl.config import token_from_environment
from influx_etl.errors import ConfigError, InfluxError

DEFAULT_PORT = 8787
_DEFAULTS = ApiServerConfig()


def _loopback_host(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        ApiServerConfig(host=value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from error
    return value


def _endpoint_limits(
    _ctx: click.Context, _param: click.Parameter, values: Sequence[str]
) -> dict[str, int]:
    limits: dict[str, int] = {}
    for value in values:
        path, _, number = value.rpartition("=")
        if path not in API_ENDPOINTS or not number.isdigit() or int(number) < 1:
            raise click.BadParameter(
                f"expected PATH=N with N >= 1 and PATH one of {', '.join(API_ENDPOINTS)}; "
                f"got {value!r}"
            )
        limits[path] = int(number)
    return limits


def _extra_handles(path: Path | None) -> tuple[str, ...]:
    """The handles of a file, one per line (an ``@`` and blank lines or ``#`` comments skipped)."""
    if path is None:
        return ()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise click.BadParameter(f"cannot read {path}: {error}") from error
    stripped = (line.split("#", 1)[0].strip().lstrip("@") for line in lines)
    return tuple(handle for handle in stripped if handle)


_list_options = (
    click.option(
        "--list-universe",
        type=click.IntRange(min=0),
        default=_DEFAULTS.list_universe,
        show_default=True,
        help="Synthetic accounts the List graph's members are drawn from (the first N active "
        "synthetic handles), beside the population and --list-extra-handles.",
    ),
    click.option(
        "--list-count",
        type=click.IntRange(min=0),
        default=_DEFAULTS.list_count,
        show_default=True,
        help="Lists in the synthetic List graph.",
    ),
    click.option(
        "--list-extra-handles",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="File of more handles (one per line) that belong to the List graph, e.g. a seed "
        "list, so that they sit on Lists too.",
    ),
)


def list_options(function: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_list_options):
        function = option(function)
    return function


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: influx-api-sim --port 0 --population users.jsonl --latency-ms 80 "
    "--per-user-latency-ms 1 --rate-limit 300. List the synthetic Lists: influx-api-sim lists "
    "--top 20.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=_loopback_host,
    help="Loopback address to bind (127.x.x.x, ::1 or localhost); anything else is refused.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port; 0 picks a free one (read it from the first line printed).",
)
@click.option(
    "--population",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSONL file of recorded API user objects (one per line, optionally wrapped as "
    '{"data": {...}}); these handles are answered from it. Bad lines are reported and skipped.',
)
@click.option(
    "--synthetic/--no-synthetic",
    default=True,
    show_default=True,
    help="Answer handles outside the population with deterministic synthetic profiles "
    "(~5% not found, ~2% suspended); with --no-synthetic they are not found.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Latency added to every request (models the network and API round trip).",
)
@click.option(
    "--per-user-latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Latency added per username in a request (models server work per user).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Requests allowed per window per endpoint; past it, 429. Default: not enforced "
    "(the real app budget is 300 per 15 minutes).",
)
@click.option(
    "--endpoint-rate-limit",
    "endpoint_rate_limits",
    multiple=True,
    metavar="PATH=N",
    callback=_endpoint_limits,
    help="Requests allowed per window on one endpoint, instead of --rate-limit (repeat for "
    f"several); PATH is one of {', '.join(API_ENDPOINTS)}.",
)
@click.option(
    "--documented-rate-limits",
    is_flag=True,
    help="Enforce each endpoint's documented app limit per window: "
    + ", ".join(f"{path} {limit}" for path, limit in DOCUMENTED_RATE_LIMITS.items())
    + " (use with the default 900 s window; --endpoint-rate-limit overrides one).",
)
@click.option(
    "--window-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    help="Length of the rate-limit window in seconds.",
)
@click.option(
    "--require-token",
    is_flag=True,
    help="Demand 'Authorization: Bearer <token>' with the token from X_BEARER_TOKEN "
    "(or TWITTER_BEARER_TOKEN); other requests get 401. The token is never printed.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the synthetic profiles: the same seed gives the same profile per handle.",
)
@click.option(
    "--fail-first-n",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Fault injection: answer the first N requests with --fail-status.",
)
@click.option(
    "--fail-status",
    type=click.Choice([str(status) for status in INJECTABLE_STATUSES]),
    default="503",
    show_default=True,
    help="HTTP status of the injected faults.",
)
@click.option(
    "--fault-429-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fault injection: share of requests answered 429 with retry-after (seeded by --seed).",
)
@click.option(
    "--fault-5xx-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fault injection: share of requests answered 500, 502, 503 or 504.",
)
@click.option(
    "--fault-timeout-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fault injection: share of requests held for --fault-hold-seconds, then 504.",
)
@click.option(
    "--fault-malformed-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fault injection: share of requests answered 200 with a body that is not a lookup "
    "document (truncated JSON, or neither data nor errors).",
)
@click.option(
    "--fault-partial-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fault injection: share of found users left out of an answer (silently, or with a "
    "Service Unavailable entry in errors).",
)
@click.option(
    "--fault-hold-seconds",
    type=click.FloatRange(min=0),
    default=35.0,
    show_default=True,
    help="How long an injected timeout holds the response (the harvester waits 30 s).",
)
@click.option(
    "--fault-retry-after",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="retry-after (seconds) of the injected 429s.",
)
@click.option(
    "--invalid-handle",
    "invalid_handles",
    multiple=True,
    metavar="HANDLE",
    help="Answer any request naming HANDLE with 400, as the API does for handles it refuses "
    "(repeat for several).",
)
@click.option(
    "--quirk",
    "quirks",
    multiple=True,
    type=click.Choice(list(QUIRKS)),
    metavar="NAME",
    help="Payload quirk of every 200 lookup answer, as odd real answers look (repeat for "
    "several): " + "; ".join(f"{name}: {what}" for name, what in QUIRKS.items()) + ".",
)
@list_options
@click.option("-v", "--verbose", is_flag=True, help="Log every request (never its headers).")
@click.pass_context
def main(
    ctx: click.Context,
    host: str,
    port: int,
    population: Path | None,
    synthetic: bool,
    latency_ms: float,
    per_user_latency_ms: float,
    rate_limit: int | None,
    endpoint_rate_limits: dict[str, int],
    documented_rate_limits: bool,
    window_seconds: float,
    require_token: bool,
    seed: int,
    fail_first_n: int,
    fail_status: str,
    fault_429_rate: float,
    fault_5xx_rate: float,
    fault_timeout_rate: float,
    fault_malformed_rate: float,
    fault_partial_rate: float,
    fault_hold_seconds: float,
    fault_retry_after: int,
    invalid_handles: tuple[str, ...],
    quirks: tuple[str, ...],
    list_universe: int,
    list_count: int,
    list_extra_handles: Path | None,
    verbose: bool,
) -> None:
    """Serve the X API v2 user lookup (GET /2/users/by, GET /2/users/by/username/NAME) and Lists
    (GET /2/lists/ID, /2/lists/ID/members, /2/users/ID/list_memberships) on a loopback port
    until interrupted (SIGINT or SIGTERM; exits 0).

    Every served user object carries the non-API field "_influx_origin": "recorded" (from the
    population) or "synthetic" (generated). The Lists are a deterministic synthetic graph over
    synthetic accounts, the population and --list-extra-handles (see `influx-api-sim lists`).
    """
    if ctx.invoked_subcommand is not None:
        return  # the subcommand takes its own options; nothing is served
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    token = token_from_environment() if require_token else None
    if require_token and token is None:
        raise click.UsageError("--require-token needs the expected token in X_BEARER_TOKEN")

    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        config = ApiServerConfig(
            population=population,
            synthetic=synthetic,
            seed=seed,
            host=host,
            port=port,
            latency_s=latency_ms / 1000,
            per_user_latency_s=per_user_latency_ms / 1000,
            rate_limit=rate_limit,
            window_s=window_seconds,
            required_token=token,
            fail_first_n=fail_first_n,
            fail_status=int(fail_status),
            fault_429_rate=fault_429_rate,
            fault_5xx_rate=fault_5xx_rate,
            fault_timeout_rate=fault_timeout_rate,
            fault_malformed_rate=fault_malformed_rate,
            fault_partial_rate=fault_partial_rate,
            fault_hold_s=fault_hold_seconds,
            fault_retry_after_s=fault_retry_after,
            invalid_handles=frozenset(invalid_handles),
            quirks=frozenset(quirks),
            endpoint_rate_limits={
                **(DOCUMENTED_RATE_LIMITS if documented_rate_limits else {}),
                **endpoint_rate_limits,
            },
            list_universe=list_universe,
            list_count=list_count,
            list_extra_handles=_extra_handles(list_extra_handles),
        )
        server = start_server(config)
    except InfluxError as error:
        raise click.ClickException(str(error)) from error

    with server:
        click.echo(f"influx-api-sim listening on {server.base_url}")
        for line in config.describe(population_size=server.population_size):
            click.echo(line)
        sys.stdout.flush()
        while not stop.wait(timeout=1.0):
            pass
    logging.getLogger(__name__).info("stopped after %d requests", server.requests_served)


@main.command(
    "lists",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: influx-api-sim lists --topic ai_research --top 10",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the server whose Lists to print (List ids depend on it and --list-count only).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    help="Print only the N Lists with the most members.",
)
@click.option(
    "--topic",
    type=click.Choice(list(TOPICS)),
    default=None,
    help="Print only the Lists of one topic.",
)
@click.option(
    "--population",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The population file the server is given (its users are members too).",
)
@click.option(
    "--synthetic/--no-synthetic",
    default=True,
    show_default=True,
    help="As the server's --synthetic/--no-synthetic.",
)
@list_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per List, not a table.")
def lists_command(
    seed: int,
    top: int | None,
    topic: str | None,
    population: Path | None,
    synthetic: bool,
    list_universe: int,
    list_count: int,
    list_extra_handles: Path | None,
    as_json: bool,
) -> None:
    """Print the Lists of the server's synthetic List graph: id, name, topic, members, private.

    The same options give the same Lists as a server started with them; a private List answers
    Forbidden, so pick a public one to try.
    """
    try:
        config = ApiServerConfig(
            population=population,
            synthetic=synthetic,
            seed=seed,
            list_universe=list_universe,
            list_count=list_count,
            list_extra_handles=_extra_handles(list_extra_handles),
        )
        graph = list_graph(config)
    except InfluxError as error:
        raise click.ClickException(str(error)) from error
    chosen = [item for item in graph.lists() if topic is None or item.topic == topic]
    if top is not None:
        chosen = sorted(chosen, key=lambda item: -item.member_count)[:top]
    if as_json:
        for item in chosen:
            row = {**item.fields(), "topic": item.topic, "kind": item.kind}
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    click.echo(f"{'id':<19}  {'members':>7}  {'private':<7}  {'topic':<16}  name")
    for item in chosen:
        private = "yes" if item.private else ""
        click.echo(
            f"{item.id:<19}  {item.member_count:>7}  {private:<7}  {item.topic:<16}  {item.name}"
        )
