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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

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


@dataclass(frozen=True)
class Setting:
    """What a config field tells the command line: its flag, help text and range. The CLI
    builds its options from these (:mod:`influx_etl.cli.options`), so a default, a range or a
    help text is written once, here."""

    flag: str
    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    """The minimum itself is not allowed (``> min`` rather than ``>= min``)."""
    group: str = "Basics"
    """The section of ``--help`` the option is listed in."""
    metavar: str | None = None


def setting(default: Any, flag: str, help: str, **more: Any) -> Any:
    """A dataclass field with ``default`` and its :class:`Setting` (flag, help, range)."""
    return field(default=default, metadata={"setting": Setting(flag, help, **more)})


def settings_of(cls: type) -> dict[str, Setting]:
    """The :class:`Setting` of every field of the config dataclass ``cls`` that has one."""
    return {f.name: f.metadata["setting"] for f in fields(cls) if "setting" in f.metadata}


def checked_ranges(config: object) -> None:
    """Refuse a field outside its :class:`Setting` range, naming the field and its flag."""
    for name, spec in settings_of(type(config)).items():
        value = getattr(config, name)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        too_low = spec.min is not None and (
            value <= spec.min if spec.min_open else value < spec.min
        )
        too_high = spec.max is not None and value > spec.max
        if too_low or too_high:
            low = "" if spec.min is None else f"{'>' if spec.min_open else '>='} {spec.min:g}"
            high = "" if spec.max is None else f"<= {spec.max:g}"
            wanted = " and ".join(part for part in (low, high) if part)
            raise ConfigError(
                f"{type(config).__name__}.{name} ({spec.flag}) must be {wanted} (got {value})",
                field=name,
                flag=spec.flag,
            )


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

    min_followers: int = setting(
        50_000, "--min-followers", "Followers needed by any account.", min=0, group="Filters"
    )
    verified_min_followers: int = setting(
        30_000,
        "--verified-min-followers",
        "Followers needed by a verified account (blue, business, government or legacy).",
        min=0,
        group="Filters",
    )

    def __post_init__(self) -> None:
        checked_ranges(self)


@dataclass(frozen=True)
class LookupSettings:
    """How handles are looked up: which source, how many per request, how many in flight."""

    source: str = setting(
        "auto",
        "--source",
        "Where users are looked up: auto (x-api when a token is set, else sim), x-api (the X "
        "API), sim (the embedded server; alias: embedded), prefetched:FILE (saved user objects "
        "or API responses, JSONL), mcp (the Rube MCP route: see --mcp-url) or http://HOST:PORT "
        "(a running influx api-sim).",
    )
    base_url: str = setting(
        DEFAULT_BASE_URL,
        "--base-url",
        "X API base URL for --source x-api (https://api.twitter.com also works).",
        group="Lookup",
    )
    token: Secret | None = None
    batch_size: int = setting(
        75,
        "--batch-size",
        "Handles per /2/users/by request (the API allows at most 100).",
        min=1,
        max=MAX_BATCH_SIZE,
        group="Lookup",
    )
    parallel_batches: int = setting(
        3,
        "--parallel-batches",
        "Batches in flight at once (joblib workers: threads, loky processes, or tasks on the "
        "Dask cluster).",
        min=1,
        max=64,
        group="Lookup",
    )
    timeout_s: float = setting(
        30.0, "--timeout", "Seconds to wait for one response.", min=0, min_open=True,
        group="Lookup",
    )  # fmt: skip
    max_attempts: int = setting(
        4,
        "--max-attempts",
        "Tries of one request on 5xx, timeouts, connection errors and malformed bodies (429s "
        "wait for the rate-limit window and do not count).",
        min=1,
        max=50,
        group="Lookup",
    )
    max_retry_time_s: float = setting(
        300.0,
        "--max-retry-seconds",
        "Stop retrying one request this long after its first failure; its handles end as "
        "failed and a later run asks again.",
        min=0,
        group="Lookup",
    )
    backoff_base_s: float = 0.5
    """First backoff of a retry; each further one doubles (with jitter), up to 30 s."""
    rate_limit_margin_s: float = 1.0
    """Sent this long after the reset the server gave, against clocks that disagree a little."""
    endpoint: str = "bulk"
    """One of :data:`LOOKUP_ENDPOINTS`; HTTP sources only (the X API, the embedded server, an
    ``http://`` server). ``per-user`` still groups handles in batches of ``batch_size`` for
    storage, but sends one request per handle."""
    population: Path | None = setting(
        None,
        "--population",
        "For --source sim: JSONL of recorded API user objects the server answers from (other "
        "handles get deterministic synthetic profiles).",
        group="Lookup",
    )
    mcp_url: str | None = setting(
        None, "--mcp-url", "For --source mcp: the MCP server's streamable HTTP endpoint.",
        group="MCP",
    )  # fmt: skip
    mcp_tool: str = setting(
        "RUBE_MULTI_EXECUTE_TOOL",
        "--mcp-tool",
        "For --source mcp: call the lookup through Rube's multi-execute tool, or directly.",
        group="MCP",
    )
    mcp_auth_header: str = setting(
        "Authorization",
        "--mcp-auth-header",
        "For --source mcp: the header carrying the MCP server's credential, whose value comes "
        "from INFLUX_MCP_AUTH or --mcp-auth-file (e.g. 'Bearer ...').",
        group="MCP",
    )
    mcp_auth: Secret | None = None
    """The value of ``mcp_auth_header`` (e.g. ``Bearer ...``): a secret like the token."""
    backend: str = setting(
        "threading",
        "--backend",
        "Where the lookup workers run. threading is right for one token: the rate limit, not "
        "this machine, bounds lookups. loky runs them in worker processes here; dask on a Dask "
        "cluster (--scheduler, else a local one for the run), e.g. to send requests from other "
        "machines. Every backend paces by one rate budget, so none raises the token's request "
        "ceiling; the dataset is written by this process only. HTTP sources only.",
        group="Scale-out",
    )
    scheduler: str | None = setting(
        None,
        "--scheduler",
        "With --backend dask: the address of a running Dask scheduler (e.g. tcp://HOST:8786, "
        "started by `dask scheduler`, with workers from `dask worker ADDRESS`). Without it, a "
        "local cluster is started for the run.",
        group="Scale-out",
        metavar="ADDRESS",
    )

    def __post_init__(self) -> None:
        checked_ranges(self)
        if self.endpoint not in LOOKUP_ENDPOINTS:
            raise ConfigError(
                f"unknown lookup endpoint {self.endpoint!r}: expected one of "
                f"{', '.join(LOOKUP_ENDPOINTS)}"
            )
        if self.backoff_base_s < 0:
            raise ConfigError(f"backoff_base_s must be >= 0 (got {self.backoff_base_s})")
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

    data_dir: Path = setting(
        Path("data"),
        "--data-dir",
        "Holds influx.duckdb and latest/ (live lookups) and synthetic/ (profiles made up by "
        "the embedded server; never mixed with live ones).",
    )

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
"""Lines of a prefetched file per chunk: the largest that keeps ten million profiles under the
4 GB aim, hardly slower than larger chunks (docs/performance.md, "Streaming")."""

DEFAULT_STORE_MEMORY: Final = "1GB"
"""DuckDB's memory limit on the dataset file. Its own default, 80 % of RAM, let a run of ten
million handles hold its table data in memory; past the limit DuckDB writes it out (to the
dataset file, or ``influx.duckdb.tmp/`` beside it) instead (docs/performance.md, "Streaming")."""

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
    price_per_user: float = setting(
        DEFAULT_PRICE_PER_USER,
        "--price-per-user",
        "USD per user read (pay-per-use); 0 turns the cost lines off.",
        min=0,
        group="Plan and cost",
    )
    price_per_list: float = setting(
        0.0,
        "--price-per-list",
        "USD per List object read (GET /2/lists/:id, list_memberships): not published, so 0 "
        "unless your plan states one. List members are user reads (--price-per-user).",
        min=0,
        group="Plan and cost",
    )
    max_requests: int | None = setting(
        None,
        "--max-requests",
        "Send no more requests than this; the rest stays pending, the run exits 6 and the same "
        "command continues.",
        min=0,
        group="Plan and cost",
    )
    max_cost: float | None = setting(
        None,
        "--max-cost",
        "Spend at most this (every handle looked up counted as a user read at "
        "--price-per-user); the rest stays pending, exit 6.",
        min=0,
        group="Plan and cost",
        metavar="USD",
    )

    def __post_init__(self) -> None:
        if self.rate_limit < 1 or self.rate_window_s <= 0:
            raise ConfigError(
                f"--rate-limit must be R/WINDOW with R >= 1 and WINDOW > 0 "
                f"(got {self.rate_limit}/{self.rate_window_s}s)"
            )
        checked_ranges(self)


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
    chunk_rows: int | None = setting(
        DEFAULT_CHUNK_ROWS,
        "--chunk-rows",
        "For --source prefetched:FILE: decide this many lines of the file at a time, so a file "
        "larger than memory streams through (peak memory grows with it, speed hardly does; "
        "docs/performance.md).",
        min=1,
        group="Scale-out",
    )
    store_memory: str | None = setting(
        DEFAULT_STORE_MEMORY,
        "--store-memory",
        "Memory DuckDB may use for the dataset file (e.g. 500MB, 2GB); past it, it writes to "
        "disk (influx.duckdb.tmp/ beside the file) instead of growing. 'none': DuckDB's own "
        "default, 80% of RAM.",
        group="Scale-out",
        metavar="SIZE",
    )
    plan: PlanSettings = field(default_factory=PlanSettings)
    """Freshness, the rate-limit and cost model and the caps (:mod:`influx_etl.plan`)."""

    def __post_init__(self) -> None:
        checked_ranges(self)
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
