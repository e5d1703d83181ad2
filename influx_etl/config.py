"""The one typed configuration object that flows through the pipeline.

Environment variables are read in exactly one place, :func:`token_from_environment`, called by the
command line; nothing deeper in the package looks at ``os.environ``.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from influx_etl import project
from influx_etl.errors import ConfigError, register_secret

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SCHEMA = project.packaged_path(project.SCHEMA)
DEFAULT_SCORING = project.packaged_path(project.SCORING)
"""The packaged composite score weights (a project's ``lists/scoring.yml`` overrides them)."""
DEFAULT_FRESHNESS = project.packaged_path(project.FRESHNESS)
"""How long each lookup outcome stays fresh (a project's ``lists/freshness.yml`` overrides it)."""

MAX_BATCH_SIZE = 100
"""The API refuses more than 100 usernames in one ``/2/users/by`` request."""

LOOKUP_ENDPOINTS = ("bulk", "per-user")
"""``bulk``: ``GET /2/users/by`` (up to 100 usernames a request); ``per-user``:
``GET /2/users/by/username/{u}``, one request per handle (what bulk lookup replaces; the
benchmark's baseline)."""

LOOKUP_BACKENDS = ("threading", "loky", "dask")
"""Where the lookup workers run: ``threading`` (threads of this process; the default), ``loky``
(worker processes on this machine) or ``dask`` (a Dask cluster: ``scheduler``, else a local one
for the run). Every backend paces by one rate budget (see :mod:`influx_etl.sources.workers`)."""

DEFAULT_BASE_URL = "https://api.x.com"
TOKEN_VARIABLES = ("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN")
MCP_AUTH_VARIABLES = ("INFLUX_MCP_AUTH",)
"""The value of the MCP server's auth header (``--source mcp``), e.g. ``Bearer ...``."""


class Secret:
    """A string that never shows itself in ``repr``/``str``, logs or error messages.

    A pickle does carry it (:meth:`__reduce__`): that is how the token reaches loky processes and
    Dask workers, which look batches up themselves. Unpickled, it registers itself again, so the
    worker's log records mask it too."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


def token_from_environment(
    environ: Mapping[str, str] | None = None, variables: tuple[str, ...] = TOKEN_VARIABLES
) -> Secret | None:
    """The bearer token from ``X_BEARER_TOKEN`` (or ``TWITTER_BEARER_TOKEN``), if one is set.

    ``variables`` names other secrets' variables (e.g. :data:`MCP_AUTH_VARIABLES`), first wins.
    """
    env = os.environ if environ is None else environ
    for name in variables:
        value = env.get(name, "").strip()
        if value:
            return Secret(value)
    return None


def repository_root(start: Path) -> Path | None:
    """The work tree (a folder holding ``.git``) that contains ``start``, if any."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def secret_from_file(path: Path, *, repositories: tuple[Path, ...] = (), what: str) -> Secret:
    """A secret read from ``path`` (surrounding whitespace dropped).

    A file inside one of ``repositories`` (work trees) is refused: a token there is one
    ``git add`` away from being published. A file others may read is used, with a warning.
    """
    resolved = path.expanduser().resolve()
    for root in repositories:
        if resolved.is_relative_to(root.resolve()):
            raise ConfigError(
                f"{what} {path} is inside the repository {root}: keep it outside any checkout "
                "(e.g. ~/.config/influx/token, mode 600) so it can never be committed"
            )
    try:
        text = resolved.read_text(encoding="utf-8").strip()
        mode = resolved.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    if not text:
        raise ConfigError(f"{what} {path} is empty: expected the secret on one line")
    if mode & 0o077:
        logging.getLogger(__name__).warning(
            "%s %s can be read by other users (mode %o): chmod 600 it", what, path, mode & 0o777
        )
    return Secret(text)


@dataclass(frozen=True)
class Thresholds:
    """Entry threshold: ``(verified AND followers >= verified_min) OR followers >= min``."""

    min_followers: int = 50_000
    verified_min_followers: int = 30_000

    def __post_init__(self) -> None:
        if self.min_followers < 0 or self.verified_min_followers < 0:
            raise ConfigError("follower thresholds must be >= 0")


@dataclass(frozen=True)
class LookupSettings:
    """How handles are looked up: which source, how many per request, how many in flight."""

    source: str = "auto"
    """``auto`` (X API when a token is set, else the embedded server), ``x-api``, ``sim`` (the
    embedded server; ``embedded`` is an alias), ``prefetched:FILE``, ``mcp`` (the Rube MCP route)
    or ``http://HOST:PORT`` (an API-compatible server already running)."""
    base_url: str = DEFAULT_BASE_URL
    token: Secret | None = None
    batch_size: int = 75
    parallel_batches: int = 3
    timeout_s: float = 30.0
    max_attempts: int = 4
    """Tries of one request on 5xx, timeouts, connection errors and malformed bodies (429 waits
    for the window and does not count)."""
    max_retry_time_s: float = 300.0
    """Longest time one request keeps being retried after its first transient failure."""
    backoff_base_s: float = 0.5
    """First backoff of a retry; each further one doubles (with jitter), up to 30 s."""
    rate_limit_margin_s: float = 1.0
    """Sent this long after the reset the server gave, against clocks that disagree a little."""
    endpoint: str = "bulk"
    """One of :data:`LOOKUP_ENDPOINTS`; HTTP sources only (the X API, the embedded server, an
    ``http://`` server). ``per-user`` still groups handles in batches of ``batch_size`` for
    storage, but sends one request per handle."""
    population: Path | None = None
    """Population file for the embedded server (recorded API user objects, JSONL)."""
    mcp_url: str | None = None
    """``--source mcp``: the MCP server's streamable HTTP endpoint (e.g. Rube's ``.../mcp``)."""
    mcp_tool: str = "RUBE_MULTI_EXECUTE_TOOL"
    """``RUBE_MULTI_EXECUTE_TOOL`` (wrapping ``TWITTER_USER_LOOKUP_BY_USERNAMES``) or that tool."""
    mcp_auth_header: str = "Authorization"
    mcp_auth: Secret | None = None
    """The value of ``mcp_auth_header`` (e.g. ``Bearer ...``): a secret like the token."""
    backend: str = "threading"
    """One of :data:`LOOKUP_BACKENDS`: where ``parallel_batches`` batches are looked up at once
    (HTTP sources only)."""
    scheduler: str | None = None
    """``backend="dask"``: the address of a running Dask scheduler (``tcp://HOST:8786``); None
    starts a local cluster for the run."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(
                f"--batch-size must be between 1 and {MAX_BATCH_SIZE} (got {self.batch_size}): "
                "the API refuses larger requests"
            )
        if self.parallel_batches < 1:
            raise ConfigError(f"--parallel-batches must be >= 1 (got {self.parallel_batches})")
        if self.endpoint not in LOOKUP_ENDPOINTS:
            raise ConfigError(
                f"unknown lookup endpoint {self.endpoint!r}: expected one of "
                f"{', '.join(LOOKUP_ENDPOINTS)}"
            )
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1 (got {self.max_attempts})")
        if self.timeout_s <= 0 or self.max_retry_time_s < 0 or self.backoff_base_s < 0:
            raise ConfigError(
                "timeout_s must be > 0, max_retry_time_s and backoff_base_s >= 0 "
                f"(got {self.timeout_s}, {self.max_retry_time_s}, {self.backoff_base_s})"
            )
        if self.rate_limit_margin_s < 0:
            raise ConfigError(f"rate_limit_margin_s must be >= 0 (got {self.rate_limit_margin_s})")
        if self.backend not in LOOKUP_BACKENDS:
            raise ConfigError(
                f"unknown --backend {self.backend!r}: expected one of {', '.join(LOOKUP_BACKENDS)}"
            )
        if self.scheduler is not None:
            if self.backend != "dask":
                raise ConfigError(
                    f"--scheduler {self.scheduler} needs --backend dask (got --backend "
                    f"{self.backend}): only a Dask cluster has a scheduler"
                )
            if not self.scheduler.strip():
                raise ConfigError(
                    "--scheduler must be a Dask scheduler address such as tcp://HOST:8786"
                )


@dataclass(frozen=True)
class RuleFiles:
    # the project folder's copy when it has one, else the packaged default (see influx_etl.project)
    brand: Path = field(default_factory=lambda: project.resolved(project.BRAND_RULES))
    risk: Path = field(default_factory=lambda: project.resolved(project.RISK_RULES))
    allow_brands: bool = False
    allow_risk: frozenset[str] = frozenset()
    """Risk flag names that do not exclude an author (``--allow-risk political,controversy``)."""


@dataclass(frozen=True)
class OutputPaths:
    """Where the datasets live. Synthetic profiles never share a file with looked-up ones."""

    data_dir: Path = Path("data")

    @property
    def dataset(self) -> Path:
        return self.data_dir / "influx.duckdb"

    @property
    def synthetic_dataset(self) -> Path:
        return self.data_dir / "synthetic" / "influx.duckdb"

    @property
    def export_dir(self) -> Path:
        return self.data_dir / "latest"

    @property
    def synthetic_export_dir(self) -> Path:
        return self.data_dir / "synthetic" / "latest"


DEFAULT_CHUNK_ROWS: Final = 250_000
"""Lines of a prefetched file per chunk; chosen by measurement (README, "Streaming"): at ten
million profiles 250,000 peaked at 3.6 GB and 500,000 at 4.3 GB (over the 4 GB aim); at a
million, 250,000 took 0.5 s longer than 500,000."""

DEFAULT_STORE_MEMORY: Final = "1GB"
"""DuckDB's memory limit on the dataset file. Its own default, 80 % of RAM, let a run of ten
million handles hold 1.2 GB of table data in memory; past the limit DuckDB writes it out (to the
dataset file, or ``influx.duckdb.tmp/`` beside it) instead (README, "Streaming")."""

_MEMORY_SIZE: Final = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B)$", re.IGNORECASE)


DEFAULT_RATE_LIMIT: Final = (300, 900.0)
"""App-only auth on ``GET /2/users/by``: 300 requests per 15 minutes."""
DEFAULT_PRICE_PER_USER: Final = 0.010
"""Pay-per-use price of one user read, in USD (a full 100-user request costs 1.00)."""


@dataclass(frozen=True)
class PlanSettings:
    """What a run may reuse and spend: freshness windows, the rate-limit model, price and caps."""

    freshness_path: Path = DEFAULT_FRESHNESS
    """Days each outcome class stays fresh (YAML, see :func:`influx_etl.plan.load_freshness`)."""
    max_age: Mapping[str, float | None] = field(default_factory=dict)
    """``--max-age CLASS=DAYS`` overrides of the file's windows (``None``: fresh for ever)."""
    refresh: bool = False
    """Look every handle up, fresh or not (``--refresh``)."""
    rate_limit: int = DEFAULT_RATE_LIMIT[0]
    rate_window_s: float = DEFAULT_RATE_LIMIT[1]
    price_per_user: float = DEFAULT_PRICE_PER_USER
    """USD per user read; 0 turns the cost lines off."""
    max_requests: int | None = None
    """Send no request beyond this many (``--max-requests``); the rest stays pending."""
    max_cost: float | None = None
    """Spend no more than this many USD at ``price_per_user`` (``--max-cost``)."""

    def __post_init__(self) -> None:
        if self.rate_limit < 1 or self.rate_window_s <= 0:
            raise ConfigError(
                f"--rate-limit must be R/WINDOW with R >= 1 and WINDOW > 0 "
                f"(got {self.rate_limit}/{self.rate_window_s}s)"
            )
        if self.price_per_user < 0:
            raise ConfigError(f"--price-per-user must be >= 0 (got {self.price_per_user})")
        if self.max_requests is not None and self.max_requests < 0:
            raise ConfigError(f"--max-requests must be >= 0 (got {self.max_requests})")
        if self.max_cost is not None and self.max_cost < 0:
            raise ConfigError(f"--max-cost must be >= 0 (got {self.max_cost})")


@dataclass(frozen=True)
class PipelineConfig:
    seed_paths: tuple[Path, ...] = ()
    lookup: LookupSettings = field(default_factory=LookupSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    rules: RuleFiles = field(default_factory=RuleFiles)
    outputs: OutputPaths = field(default_factory=OutputPaths)
    schema_path: Path = DEFAULT_SCHEMA
    scoring_path: Path = field(default_factory=lambda: project.resolved(project.SCORING))
    """Composite score weights (YAML, see :func:`influx_etl.score.load_scoring`)."""
    extra_out: Path | None = None
    """``--out FILE.jsonl``: an extra copy of the exported records (the seed CLI's flag)."""
    operator: str | None = None
    """Who ran it, recorded with the run (the command line fills in the login name)."""
    chunk_rows: int | None = DEFAULT_CHUNK_ROWS
    """Lines of a prefetched users file decided at a time (``None``: the whole file at once).
    Memory grows with it, time hardly does (see :data:`DEFAULT_CHUNK_ROWS`)."""
    store_memory: str | None = DEFAULT_STORE_MEMORY
    """DuckDB's ``memory_limit`` on the dataset file (``None``: DuckDB's default)."""
    plan: PlanSettings = field(default_factory=PlanSettings)
    """Freshness, the rate-limit and cost model and the caps (:mod:`influx_etl.plan`)."""

    def __post_init__(self) -> None:
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise ConfigError(f"--chunk-rows must be >= 1 (got {self.chunk_rows})")
        if self.store_memory is not None and not _MEMORY_SIZE.match(self.store_memory):
            raise ConfigError(
                f"--store-memory must be a size such as 500MB, 1GB or 2GiB "
                f"(got {self.store_memory!r})"
            )


def current_operator() -> str | None:
    """The login name of whoever runs the command, for the runs table."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None
