"""The plan stage: the seeds of a run → what is reused, what is looked up, in which batches, at
what cost, and what a cap leaves for the next run.

Every command that looks handles up (``influx-harvest run|bulk``, ``influx-batch-harvest``,
``influx-batch-automation run``) plans through :func:`lookup_plan`: the distinct handles of all
its seed files (case-insensitive) lose those whose last settled outcome is still *fresh* (see
:class:`Freshness`); the rest are packed into full batches. A fresh handle's stored outcome (and
author) is recorded for the new seed file instead of being paid for again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl
import yaml

from influx_etl import batching, lookup, seeds
from influx_etl.config import PlanSettings
from influx_etl.errors import ConfigError
from influx_etl.frames import OUTCOMES
from influx_etl.yaml_files import UniqueKeyLoader

FOREVER: Final = "forever"
"""A window that never closes: the outcome stays fresh until the handle string changes."""
DEFAULT_WINDOWS: Final[dict[str, float | None]] = {
    "found": 7.0,
    "not_found": 30.0,
    "suspended": 30.0,
    "invalid": None,
    "failed": 0.0,
}
"""Days each outcome class stays fresh (``lists/freshness.yml`` says why each)."""
_FILE_KEYS: Final = ("version", "windows")


@dataclass(frozen=True)
class Freshness:
    """Days each outcome class stays fresh (``None``: for ever; 0: never)."""

    windows: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))

    def frame(self) -> pl.DataFrame:
        """``outcome``, ``window_days`` (null: for ever) and ``forever``."""
        return pl.DataFrame(
            {
                "outcome": list(self.windows),
                "window_days": [w if w is not None else 0.0 for w in self.windows.values()],
                "forever": [w is None for w in self.windows.values()],
            },
            schema={"outcome": pl.String, "window_days": pl.Float64, "forever": pl.Boolean},
        )


def window_days(value: Any, where: str) -> float | None:
    """A window as written (days >= 0, or ``forever``) -> days (``None`` for ever)."""
    if value == FOREVER:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: expected a number of days >= 0 or {FOREVER!r}, got {value!r}")
    return float(value)


def load_freshness(path: Path, overrides: dict[str, float | None] | None = None) -> Freshness:
    """Read and check a freshness file (the structure of ``lists/freshness.yml``), then apply
    ``overrides`` (``--max-age``). A class left out keeps its default; an unknown key, a repeated
    key or a bad value raises :class:`ConfigError` naming the file and the key."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the freshness file ({error})") from error
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: not a valid YAML freshness file: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(_FILE_KEYS)}")
    unknown = sorted(set(map(str, document)) - set(_FILE_KEYS))
    if unknown:
        raise ConfigError(f"{path} [{unknown[0]}]: unknown key: expected {', '.join(_FILE_KEYS)}")
    given = document.get("windows") or {}
    if not isinstance(given, dict):
        raise ConfigError(f"{path} [windows]: expected a mapping of outcome class to days")
    windows = dict(DEFAULT_WINDOWS)
    for name, value in given.items():
        if name not in DEFAULT_WINDOWS:
            raise ConfigError(
                f"{path} [windows.{name}]: unknown outcome class: expected one of "
                f"{', '.join(OUTCOMES)}"
            )
        windows[str(name)] = window_days(value, f"{path} [windows.{name}]")
    for name, value in (overrides or {}).items():
        if name not in DEFAULT_WINDOWS:
            raise ConfigError(
                f"--max-age {name}=DAYS: unknown outcome class: expected one of "
                f"{', '.join(OUTCOMES)}"
            )
        windows[name] = value
    if windows["failed"] != 0:
        raise ConfigError(f"{path} [windows.failed]: a failed lookup learned nothing: must be 0")
    return Freshness(windows)


def fresh_since(settings: PlanSettings, outcome: str, now: datetime) -> str | None:
    """The oldest ISO time at which an answer of ``outcome`` is still fresh (None: forever)."""
    freshness = load_freshness(settings.freshness_path, dict(settings.max_age))
    days = freshness.windows.get(outcome)
    if days is None:
        return None
    return (now - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def combined_seeds(parts: list[seeds.SeedLoad]) -> seeds.SeedLoad:
    """Several seed loads (at least one: pending files, the refresh set) as one: one row per
    distinct handle, the first part's row winning, its files and categories joined with the
    later parts'."""
    joined = pl.concat([part.frame for part in parts], how="vertical")
    lists = joined.group_by("handle_key", maintain_order=True).agg(
        pl.col("seed_files").explode().drop_nulls().unique().sort(),
        pl.col("categories").explode().drop_nulls().unique().sort(),
    )
    frame = (
        joined.unique("handle_key", keep="first", maintain_order=True)
        .drop("seed_files", "categories")
        .join(lists, on="handle_key", how="left", maintain_order="left")
        .select(joined.columns)
    )
    return seeds.SeedLoad(
        frame=frame,
        rejects=pl.concat([part.rejects for part in parts]),
        rows_read=sum(part.rows_read for part in parts),
        files=pl.concat([part.files for part in parts]),
    )


def planned_seeds(
    seed_frame: pl.DataFrame,
    checks: pl.DataFrame,
    freshness: Freshness,
    now: datetime,
    *,
    refresh: bool = False,
    forced_keys: pl.Series | None = None,
) -> pl.DataFrame:
    """The seeds with ``reuse``: whether the handle's last settled outcome (``checks``:
    ``handle_key``, ``outcome``, ``checked_at``) is younger than its class's window. ``refresh``
    reuses nothing; ``forced_keys`` (the refresh set) are always looked up."""
    now_utc = pl.lit(now).cast(pl.Datetime("us", "UTC"))
    checked_at = pl.col("checked_at").str.to_datetime(time_zone="UTC", strict=False)
    age_days = (now_utc - checked_at).dt.total_microseconds() / 86_400e6
    fresh = (
        checks.select("handle_key", "outcome", "checked_at")
        .join(freshness.frame(), on="outcome", how="inner")
        .filter(pl.col("forever") | (age_days < pl.col("window_days")))
        .select("handle_key")
    )
    reuse = pl.col("handle_key").is_in(fresh["handle_key"].implode())
    if refresh:
        reuse = pl.lit(False)
    if forced_keys is not None:
        reuse = reuse & ~pl.col("handle_key").is_in(forced_keys.implode())
    return seed_frame.with_columns(reuse.alias("reuse"))


def settled_handles(raw: pl.DataFrame) -> pl.Series:
    """Handle keys the stored raw documents answer definitively (any outcome but ``failed``):
    what a resumed run does not look up again."""
    return lookup.profiles(raw).filter(pl.col("outcome") != "failed")["handle_key"]


def requests_per_batch(endpoint: str) -> pl.Expr:
    """Requests one batch (its ``handles`` count) costs: one, or one per handle (per-user)."""
    return pl.col("handles") if endpoint == "per-user" else pl.lit(1, pl.Int64)


def capped_batches(
    batches: pl.DataFrame, settings: PlanSettings, endpoint: str = "bulk"
) -> pl.DataFrame:
    """The batches (``batch_id``, ``handle``...) with ``deferred``: whether the batch lies beyond
    ``max_requests`` or ``max_cost`` (every handle counted as a user read, so the cap holds
    whatever the API answers). Batches are taken in order; a deferred batch waits for a later
    run."""
    per_batch = (
        batches.group_by("batch_id", maintain_order=True)
        .len("handles")
        .with_columns(requests_per_batch(endpoint).alias("requests"))
        .with_columns(
            pl.col("requests").cum_sum().alias("requests_so_far"),
            (pl.col("handles").cum_sum() * settings.price_per_user).alias("cost_so_far"),
        )
    )
    within = pl.lit(True)
    if settings.max_requests is not None:
        within = within & (pl.col("requests_so_far") <= settings.max_requests)
    if settings.max_cost is not None:
        # a cent's rounding must not defer a batch the cap pays for exactly
        within = within & (pl.col("cost_so_far") <= settings.max_cost + 1e-9)
    deferred = per_batch.filter(~within)["batch_id"]
    return batches.with_columns(pl.col("batch_id").is_in(deferred.implode()).alias("deferred"))


@dataclass(frozen=True)
class LookupPlan:
    """What a run will do before it sends anything (printed by ``--plan``)."""

    seed_rows: int
    invalid_rows: int
    distinct: int
    reused: int
    to_look_up: int
    requests: int
    """Requests the whole plan needs."""
    sent_requests: int
    """Requests this run sends (fewer than ``requests`` under a cap)."""
    sent_handles: int
    settings: PlanSettings
    pending_files: tuple[str, ...] = ()
    from_lists: int = 0
    """Handles answered by List member objects read before (no request)."""

    @property
    def capped(self) -> bool:
        return self.sent_requests < self.requests

    @property
    def left_requests(self) -> int:
        return self.requests - self.sent_requests

    @property
    def left_handles(self) -> int:
        return self.to_look_up - self.sent_handles

    def windows(self, requests: int | None = None) -> int:
        """Rate-limit windows ``requests`` (default: this run's) occupy at the configured limit."""
        count = self.sent_requests if requests is None else requests
        return math.ceil(count / self.settings.rate_limit)

    def least_time_s(self, requests: int | None = None) -> float:
        """The least time the requests take at the limit: every full window waited out."""
        return max(0, self.windows(requests) - 1) * self.settings.rate_window_s

    def cost(self, handles: int | None = None) -> float:
        """Estimated USD: every handle looked up counted as one user read (at most)."""
        count = self.sent_handles if handles is None else handles
        return count * self.settings.price_per_user


@dataclass(frozen=True)
class LookupWork:
    """A planned run: its seeds split into reused and looked up, the batches, and the plan."""

    reused: pl.DataFrame
    """Seed rows (SEEDS_SCHEMA) whose stored outcome is reused."""
    batches: pl.DataFrame
    """Seed rows to look up with ``batch_id`` and ``deferred`` (beyond a cap)."""
    plan: LookupPlan
    answers: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Stored List member objects that answer the ``from_lists`` batches
    (:data:`~influx_etl.store.lists.MEMBER_ANSWERS_SCHEMA`)."""


def lookup_work(
    seed_load: seeds.SeedLoad,
    checks: pl.DataFrame,
    settings: PlanSettings,
    batch_size: int,
    now: datetime,
    *,
    endpoint: str = "bulk",
    forced_keys: pl.Series | None = None,
    answers: pl.DataFrame | None = None,
) -> LookupWork:
    """The whole plan of a run from its seeds and the stored checks of their handles.

    A handle not reused that one of ``answers`` (stored List member objects) holds is answered
    by it: its batches come first, flagged ``from_lists``, and cost no request."""
    freshness = load_freshness(settings.freshness_path, dict(settings.max_age))
    planned = planned_seeds(
        seed_load.frame,
        checks,
        freshness,
        now,
        refresh=settings.refresh,
        forced_keys=forced_keys,
    )
    reused = planned.filter(pl.col("reuse")).drop("reuse")
    answered = (
        pl.lit(False)
        if answers is None or answers.is_empty()
        else pl.col("handle_key").is_in(answers["handle_key"].implode())
    )
    to_answer = (
        planned.filter(~pl.col("reuse")).drop("reuse").with_columns(answered.alias("from_lists"))
    )
    stored = batching.batched(to_answer.filter(pl.col("from_lists")), batch_size)
    first_id = -(-stored.height // batch_size)  # the stored batches come first
    looked_up = capped_batches(
        batching.batched(to_answer.filter(~pl.col("from_lists")), batch_size, first_id),
        settings,
        endpoint,
    )
    batches = pl.concat(
        [stored.with_columns(pl.lit(False).alias("deferred")), looked_up], how="vertical"
    )
    per_batch = looked_up.group_by("batch_id").agg(
        pl.len().alias("handles"), pl.col("deferred").first()
    )
    requests = per_batch.select(requests_per_batch(endpoint).alias("r"), "deferred")
    sent = requests.filter(~pl.col("deferred"))
    plan = LookupPlan(
        seed_rows=seed_load.rows_read,
        invalid_rows=seed_load.rejects.height,
        distinct=planned.height,
        reused=reused.height,
        to_look_up=looked_up.height,
        requests=int(requests["r"].sum()),
        sent_requests=int(sent["r"].sum()),
        sent_handles=int(per_batch.filter(~pl.col("deferred"))["handles"].sum()),
        settings=settings,
        from_lists=stored.height,
    )
    kept_answers = (
        answers.filter(pl.col("handle_key").is_in(stored["handle_key"].implode()))
        if answers is not None and stored.height
        else pl.DataFrame()
    )
    return LookupWork(reused=reused, batches=batches, plan=plan, answers=kept_answers)


def duration_text(seconds: float) -> str:
    """``2 h 15 min``, ``24 h``, ``45 min``, ``0 min`` (the plan's least time)."""
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
