"""The one typed configuration object that flows through the pipeline.

Environment variables are read in exactly one place, :func:`token_from_environment`, called by the
command line; nothing deeper in the package looks at ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from influx_etl.errors import ConfigError, register_secret

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SCHEMA = PACKAGE_DIR / "data" / "bigv.schema.json"

MAX_BATCH_SIZE = 100
"""The API refuses more than 100 usernames in one ``/2/users/by`` request."""

DEFAULT_BASE_URL = "https://api.x.com"
TOKEN_VARIABLES = ("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN")


class Secret:
    """A string that never shows itself in ``repr``/``str``, logs or pickles of the config."""

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


def token_from_environment(environ: Mapping[str, str] | None = None) -> Secret | None:
    """The bearer token from ``X_BEARER_TOKEN`` (or ``TWITTER_BEARER_TOKEN``), if one is set."""
    env = os.environ if environ is None else environ
    for name in TOKEN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return Secret(value)
    return None


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
    """``auto`` (X API when a token is set, else the embedded server), ``x-api``, ``embedded``,
    ``prefetched:FILE`` or ``http://HOST:PORT`` (an API-compatible server already running)."""
    base_url: str = DEFAULT_BASE_URL
    token: Secret | None = None
    batch_size: int = 75
    parallel_batches: int = 3
    timeout_s: float = 30.0
    max_attempts: int = 4
    population: Path | None = None
    """Population file for the embedded server (recorded API user objects, JSONL)."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(
                f"--batch-size must be between 1 and {MAX_BATCH_SIZE} (got {self.batch_size}): "
                "the API refuses larger requests"
            )
        if self.parallel_batches < 1:
            raise ConfigError(f"--parallel-batches must be >= 1 (got {self.parallel_batches})")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1 (got {self.max_attempts})")


@dataclass(frozen=True)
class RuleFiles:
    brand: Path = Path("lists/rules/brand_heuristics.yml")
    risk: Path = Path("lists/rules/risk_terms.yml")
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


@dataclass(frozen=True)
class PipelineConfig:
    seed_paths: tuple[Path, ...] = ()
    lookup: LookupSettings = field(default_factory=LookupSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    rules: RuleFiles = field(default_factory=RuleFiles)
    outputs: OutputPaths = field(default_factory=OutputPaths)
    schema_path: Path = DEFAULT_SCHEMA
    extra_out: Path | None = None
    """``--out FILE.jsonl``: an extra copy of the exported records (the seed CLI's flag)."""
