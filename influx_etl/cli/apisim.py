"""``influx-api-sim``: run the embedded X API server in the foreground until SIGINT or SIGTERM.

The first line on stdout is ``influx-api-sim listening on http://HOST:PORT`` (flushed at once, so a
parent process can read the URL even with ``--port 0``); the latency model and limits follow.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from influx_etl.apisim.server import (
    INJECTABLE_STATUSES,
    QUIRKS,
    ApiServerConfig,
    start_server,
)
from influx_etl.config import token_from_environment
from influx_etl.errors import ConfigError, InfluxError

DEFAULT_PORT = 8787


def _loopback_host(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        ApiServerConfig(host=value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from error
    return value


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: influx-api-sim --port 0 --population users.jsonl --latency-ms 80 "
    "--per-user-latency-ms 1 --rate-limit 300",
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
@click.option("-v", "--verbose", is_flag=True, help="Log every request (never its headers).")
def main(
    host: str,
    port: int,
    population: Path | None,
    synthetic: bool,
    latency_ms: float,
    per_user_latency_ms: float,
    rate_limit: int | None,
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
    verbose: bool,
) -> None:
    """Serve the X API v2 user lookup (GET /2/users/by, GET /2/users/by/username/NAME) on a
    loopback port until interrupted (SIGINT or SIGTERM; exits 0).

    Every served user object carries the non-API field "_influx_origin": "recorded" (from the
    population) or "synthetic" (generated).
    """
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
