"""An honest lookup benchmark: per-user, small-batch, bulk and parallel-bulk, against a ceiling.

Every method does the same real work: the whole pipeline (:func:`influx_etl.pipeline.run_harvest`:
seeds, lookup through :class:`~influx_etl.sources.xclient.XClient`, rules, scores, validation,
DuckDB,
export) on the same synthetic handles, against a fresh embedded X API server with the same
population and an explicit latency model, each into a temporary data folder of its own. The
methods differ only in the endpoint, the batch size and the workers:

=================  ================================  =====  =========================
method             endpoint                          batch  workers
=================  ================================  =====  =========================
``per-user``       ``GET /2/users/by/username/{u}``  1      1
``small-batch``    ``GET /2/users/by``               15     1
``bulk``           ``GET /2/users/by``               100    1
``parallel-bulk``  ``GET /2/users/by``               75     3
=================  ================================  =====  =========================

(``parallel-bulk``'s batch and workers are ``--batch-size`` and ``--parallel-batches``.)

After a scenario, every method's per-handle outcomes and exported records (fetch times and the
batch number in ``meta.sources[].evidence`` aside) must equal the first method's, and no handle
may have failed: a method that does less work cannot win (:class:`BenchmarkMismatch`).

**The ceiling.** The server sleeps ``L + n·u`` for a request of ``n`` usernames (``L`` per request,
``u`` per username) and, with a rate limit, admits ``R`` requests per endpoint per window of
``W`` seconds. A method sending ``b`` usernames per request over ``p`` workers can then look up at
most

    ``p · b / (L + b·u)`` handles/s, and at most ``R · b / W`` handles/s under a rate limit

(:func:`steady_ceiling`: the smaller of the two). For one scenario of ``N`` handles the ceiling is
``N`` over the least time the method's own schedule needs under that model
(:func:`least_lookup_seconds`: its batches in order on ``p`` workers, the last one smaller, the
``i``-th request no earlier than ``⌊i/R⌋·W``), which tends to the formula as ``N`` grows. It
counts only the server's modelled time: no client, HTTP, JSON, DuckDB or pipeline work, which is
why a measured figure stays below it. The *lookup phase* (from the first request to the last raw
document committed) is what the ceiling bounds; *end to end* adds everything else a run does.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import platform
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from influx_etl import pipeline
from influx_etl.apisim import ApiServerConfig, start_server, synthetic_handles
from influx_etl.config import (
    DEFAULT_SCHEMA,
    MAX_BATCH_SIZE,
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    RuleFiles,
)
from influx_etl.errors import BenchmarkMismatch, ConfigError
from influx_etl.sources import RawBatch
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.store import Store

BENCHMARK_FORMAT: Final = 1
"""Version of ``benchmark.json``'s layout."""
DEFAULT_SCENARIOS: Final = (50, 100, 200, 1000)
"""Handle counts of the original report's scenarios, and 1,000, where the methods part (the
default run stays short, per-user's 1,000 requests most of it: docs/performance.md); 10,000 via
``scenarios``."""
DEFAULT_LATENCY_S: Final = 0.05
DEFAULT_PER_USER_S: Final = 0.001
JSON_NAME: Final = "benchmark.json"
REPORT_NAME: Final = "report.md"
CHART_NAME: Final = "throughput.png"
WARM_UP_HANDLES: Final = 20

_BATCH_IN_EVIDENCE = re.compile(r" \(batch \d+\)")


@dataclass(frozen=True)
class LatencyModel:
    """What the embedded server is told to cost: the figures every ceiling is computed from."""

    latency_s: float = DEFAULT_LATENCY_S
    """Slept once per request."""
    per_user_s: float = DEFAULT_PER_USER_S
    """Slept per username in a request."""
    rate_limit: int | None = None
    """Requests per endpoint per window (None: not enforced)."""
    window_s: float = 900.0

    def __post_init__(self) -> None:
        if self.latency_s < 0 or self.per_user_s < 0:
            raise ConfigError(
                f"latency and per-user cost must be >= 0 s (got {self.latency_s}, "
                f"{self.per_user_s})"
            )
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError(f"the rate limit must be >= 1 request (got {self.rate_limit})")
        if not self.window_s > 0:
            raise ConfigError(f"the rate-limit window must be > 0 s (got {self.window_s})")

    def server_config(self, population: Path | None = None, seed: int = 0) -> ApiServerConfig:
        return ApiServerConfig(
            population=population,
            seed=seed,
            latency_s=self.latency_s,
            per_user_latency_s=self.per_user_s,
            rate_limit=self.rate_limit,
            window_s=self.window_s,
        )

    def request_seconds(self, usernames: int) -> float:
        return self.latency_s + usernames * self.per_user_s


@dataclass(frozen=True)
class Method:
    """One way of looking handles up: endpoint, handles per batch, batches in flight."""

    name: str
    endpoint: str
    batch_size: int
    workers: int

    def __post_init__(self) -> None:
        # the same checks as the pipeline's own settings, with the same messages
        LookupSettings(
            endpoint=self.endpoint, batch_size=self.batch_size, parallel_batches=self.workers
        )

    @property
    def handles_per_request(self) -> int:
        return 1 if self.endpoint == "per-user" else self.batch_size

    def describe(self) -> str:
        path = "/2/users/by/username/{u}" if self.endpoint == "per-user" else "/2/users/by"
        flow = "sequential" if self.workers == 1 else f"{self.workers} workers"
        return f"GET {path}, batches of {self.batch_size}, {flow}"


def comparison_methods(batch_size: int = 75, parallel_batches: int = 3) -> tuple[Method, ...]:
    """The four methods of the comparison, the baseline (``per-user``) first."""
    return (
        Method("per-user", "per-user", 1, 1),
        Method("small-batch", "bulk", 15, 1),
        Method("bulk", "bulk", MAX_BATCH_SIZE, 1),
        Method("parallel-bulk", "bulk", batch_size, parallel_batches),
    )


def _bounds(method: Method, model: LatencyModel) -> tuple[float, float]:
    """Handles/s the latency allows (``p·b / (L + b·u)``) and the rate limit allows
    (``R·b / W``); infinite where the model sets no bound."""
    per_request = method.handles_per_request
    cost = model.request_seconds(per_request)
    latency = method.workers * per_request / cost if cost > 0 else math.inf
    rate = (
        model.rate_limit * per_request / model.window_s
        if model.rate_limit is not None
        else math.inf
    )
    return latency, rate


def steady_ceiling(method: Method, model: LatencyModel) -> float | None:
    """Handles/s the model allows the method in the long run: ``p·b / (L + b·u)``, capped at
    ``R·b / W`` under a rate limit (None: unbounded, a model that costs nothing)."""
    top = min(_bounds(method, model))
    return None if math.isinf(top) else top


def request_sizes(method: Method, handles: int) -> list[list[int]]:
    """Usernames of each request, per batch in the pipeline's order."""
    batches = [
        min(method.batch_size, handles - start) for start in range(0, handles, method.batch_size)
    ]
    step = method.handles_per_request
    return [[min(step, size - at) for at in range(0, size, step)] for size in batches]


def least_lookup_seconds(method: Method, handles: int, model: LatencyModel) -> float:
    """The least time the method's schedule needs for ``handles`` under the model alone.

    Batches go in order to whichever of the ``workers`` is free first; a batch's requests follow
    each other; the ``i``-th request (in sending order) starts no earlier than ``⌊i/R⌋·W``.
    """
    free_at = [0.0] * min(method.workers, max(1, handles))
    heapq.heapify(free_at)
    sent = 0
    finish = 0.0
    for batch in request_sizes(method, handles):
        clock = heapq.heappop(free_at)
        for usernames in batch:
            if model.rate_limit is not None:
                clock = max(clock, (sent // model.rate_limit) * model.window_s)
            clock += model.request_seconds(usernames)
            sent += 1
        finish = max(finish, clock)
        heapq.heappush(free_at, clock)
    return finish


@dataclass(frozen=True)
class Ceiling:
    """The most a method could do in one scenario under the latency model."""

    handles_per_s: float | None
    """``handles / least_lookup_s`` (None: the model costs nothing, no ceiling)."""
    least_lookup_s: float
    steady_handles_per_s: float | None
    """:func:`steady_ceiling`, the long-run figure this one tends to."""
    bound: str
    """What binds in the long run: ``latency``, ``rate limit`` or ``none``."""


def ceiling(method: Method, handles: int, model: LatencyModel) -> Ceiling:
    least = least_lookup_seconds(method, handles, model)
    latency, rate = _bounds(method, model)
    steady = steady_ceiling(method, model)
    bound = "none" if steady is None else "rate limit" if rate < latency else "latency"
    return Ceiling(handles / least if least > 0 else None, least, steady, bound)


@dataclass(frozen=True)
class MethodRun:
    """What one method measured in one scenario (``benchmark.json``'s ``results`` rows)."""

    scenario: int
    method: str
    endpoint: str
    batch_size: int
    workers: int
    handles: int
    batches: int
    requests: int
    """Requests the server counted (its own counters, all endpoints, errors included)."""
    requests_by_endpoint: dict[str, int]
    wall_s: float
    """The whole ``run_harvest`` call."""
    lookup_s: float
    """From the first request to the last raw document committed."""
    rate_limit_waits: int
    outcomes: dict[str, int]
    kept: int
    exported: int
    ceiling_handles_per_s: float | None
    ceiling_least_lookup_s: float
    steady_ceiling_handles_per_s: float | None
    ceiling_bound: str
    speedup_vs_per_user: float | None = None
    """``per-user``'s wall time over this method's, in the same scenario."""
    wall_s_each: tuple[float, ...] = ()
    """Every repeat's wall time; the run reported is the one with the median (low) wall time."""

    @property
    def handles_per_s(self) -> float:
        return self.handles / self.wall_s

    @property
    def lookup_handles_per_s(self) -> float:
        return self.handles / self.lookup_s if self.lookup_s > 0 else math.inf

    @property
    def authors_per_hour(self) -> float:
        """Handles looked up (found or not) per hour, end to end."""
        return self.handles_per_s * 3600

    @property
    def fraction_of_ceiling(self) -> float | None:
        """Lookup-phase handles/s over the ceiling."""
        if self.ceiling_handles_per_s is None:
            return None
        return self.lookup_handles_per_s / self.ceiling_handles_per_s

    @property
    def end_to_end_fraction_of_ceiling(self) -> float | None:
        if self.ceiling_handles_per_s is None:
            return None
        return self.handles_per_s / self.ceiling_handles_per_s

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "handles_per_s": self.handles_per_s,
            "lookup_handles_per_s": self.lookup_handles_per_s,
            "authors_per_hour": self.authors_per_hour,
            "fraction_of_ceiling": self.fraction_of_ceiling,
            "end_to_end_fraction_of_ceiling": self.end_to_end_fraction_of_ceiling,
        }


@dataclass(frozen=True)
class MethodOutput:
    """What a method produced, compared across methods (not written to ``benchmark.json``)."""

    outcomes: dict[str, str]
    """Handle key → outcome (found, not_found, suspended, invalid, failed)."""
    records: list[dict[str, Any]]
    """Exported records without fetch times and batch numbers."""


@dataclass(frozen=True)
class BenchmarkSettings:
    scenarios: tuple[int, ...] = DEFAULT_SCENARIOS
    methods: tuple[Method, ...] = field(default_factory=comparison_methods)
    model: LatencyModel = field(default_factory=LatencyModel)
    seed: int = 0
    """Seed of the synthetic handles and of the server's synthetic profiles."""
    population: Path | None = None
    rules: RuleFiles = field(default_factory=RuleFiles)
    schema_path: Path = DEFAULT_SCHEMA
    headline_handles: int | None = None
    """The scenario the summary speaks of (``--test-handles``); default the largest."""
    repeats: int = 1
    """Runs of each method per scenario, interleaved (every method once, then again); each
    figure is the run with the median wall time, and every repeat must do the same work."""
    warm_up: bool = True
    """Run the pipeline once on a few handles first, untimed, so the first method measured
    does not pay for imports, compiled rules and the first DuckDB file."""
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.scenarios or any(n < 1 for n in self.scenarios):
            raise ConfigError(f"scenarios must be handle counts >= 1 (got {self.scenarios})")
        if not self.methods:
            raise ConfigError("at least one method is needed")
        if self.repeats < 1:
            raise ConfigError(f"repeats must be >= 1 (got {self.repeats})")
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ConfigError(f"method names must differ (got {', '.join(names)})")
        if self.headline_handles is not None and self.headline_handles not in self.scenarios:
            raise ConfigError(
                f"the headline scenario {self.headline_handles} is not one of the scenarios "
                f"{', '.join(map(str, self.scenarios))}"
            )


@dataclass(frozen=True)
class BenchmarkResult:
    settings: BenchmarkSettings
    started_at: str
    finished_at: str
    server: list[str]
    """The server's own description of its latency model, rate limit and population."""
    runs: list[MethodRun]
    compared_records: dict[int, int]
    """Scenario → exported records every method produced identically."""
    command: str = ""
    load_average: tuple[float, float] | None = None
    """The machine's 1-minute load average at the start and at the end (other work on the
    machine slows the client and the pipeline, not the modelled server time)."""

    def run(self, scenario: int, method: str) -> MethodRun | None:
        return next((r for r in self.runs if r.scenario == scenario and r.method == method), None)

    @property
    def headline_scenario(self) -> int:
        return self.settings.headline_handles or max(self.settings.scenarios)

    def as_json(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "format": BENCHMARK_FORMAT,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "command": self.command,
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_start_end": self.load_average,
            },
            "latency_model": asdict(settings.model),
            "server": self.server,
            "ceiling_formula": CEILING_FORMULA,
            "seed": settings.seed,
            "population": str(settings.population) if settings.population else None,
            "scenarios": list(settings.scenarios),
            "headline_scenario": self.headline_scenario,
            "methods": [asdict(m) | {"describe": m.describe()} for m in settings.methods],
            "same_work": {
                "checked": True,
                "records_compared": {str(k): v for k, v in self.compared_records.items()},
            },
            "results": [r.as_json() for r in self.runs],
        }


CEILING_FORMULA: Final = (
    "p·b / (L + b·u) handles/s for b usernames per request over p workers (L per request, u per "
    "username), capped at R·b / W under a rate limit of R requests per W s; per scenario: "
    "N / (least time of the method's schedule of N handles under the model)"
)

Progress = Callable[[str], None]


class _LookupClock:
    """A pipeline progress callback that times the lookup phase and counts rate-limit waits."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.last: float | None = None
        self.waits = 0

    def lookup_started(self, batches: int, handles: int) -> None:
        self.started = time.perf_counter()

    def __call__(self, batch: RawBatch, done: int, total: int) -> None:
        self.last = time.perf_counter()

    def waiting(self, until: float, reason: str) -> None:
        self.waits += 1

    @property
    def seconds(self) -> float:
        if self.started is None or self.last is None:
            return 0.0
        return self.last - self.started


def run_method(
    method: Method,
    handles: Sequence[str],
    settings: BenchmarkSettings,
    workdir: Path,
) -> tuple[MethodRun, MethodOutput]:
    """One method over ``handles``: the real pipeline against a fresh server, in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=False)
    seed_file = workdir / "handles.txt"
    seed_file.write_text("\n".join(handles) + "\n", encoding="utf-8")
    model = settings.model
    with start_server(model.server_config(settings.population, settings.seed)) as server:
        config = PipelineConfig(
            seed_paths=(seed_file,),
            lookup=LookupSettings(
                source=server.base_url,
                endpoint=method.endpoint,
                batch_size=method.batch_size,
                parallel_batches=method.workers,
                timeout_s=settings.timeout_s,
            ),
            rules=settings.rules,
            outputs=OutputPaths(data_dir=workdir / "data"),
            schema_path=settings.schema_path,
        )
        clock = _LookupClock()
        started = time.perf_counter()
        report = pipeline.run_harvest(config, progress=clock, resume=False)
        wall = time.perf_counter() - started
        stats = server.stats()
    with Store.open_existing(report.dataset) as store:
        rows = store.handle_outcomes(report.run_id).select("handle_key", "outcome").rows()
    outcomes = {str(key): str(outcome) for key, outcome in rows}
    records = comparable_records(report.export_dir / "latest.jsonl")
    top = ceiling(method, len(handles), model)
    counts = Counter(outcomes.values())
    run = MethodRun(
        scenario=len(handles),
        method=method.name,
        endpoint=method.endpoint,
        batch_size=method.batch_size,
        workers=method.workers,
        handles=len(handles),
        batches=report.batches,
        requests=stats.requests,
        requests_by_endpoint=dict(stats.by_endpoint),
        wall_s=wall,
        lookup_s=clock.seconds,
        rate_limit_waits=clock.waits,
        outcomes=dict(sorted(counts.items())),
        kept=report.funnel["kept"],
        exported=report.manifest.count,
        ceiling_handles_per_s=top.handles_per_s,
        ceiling_least_lookup_s=top.least_lookup_s,
        steady_ceiling_handles_per_s=top.steady_handles_per_s,
        ceiling_bound=top.bound,
    )
    return run, MethodOutput(outcomes, records)


def comparable_records(path: Path) -> list[dict[str, Any]]:
    """Exported records as JSON, without what legitimately differs between methods: when they
    were fetched and which batch number carried them."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record: dict[str, Any] = json.loads(line)
        meta = record.get("meta", {})
        meta.pop("last_refresh_at", None)
        for source in meta.get("sources", []):
            source.pop("fetched_at", None)
            if isinstance(source.get("evidence"), str):
                source["evidence"] = _BATCH_IN_EVIDENCE.sub("", source["evidence"])
        records.append(record)
    return records


def check_same_work(scenario: int, outputs: Mapping[str, MethodOutput]) -> int:
    """Raise :class:`BenchmarkMismatch` unless every method settled every handle and produced
    the first method's outcomes and records; return how many records were compared."""
    names = list(outputs)
    reference_name = names[0]
    reference = outputs[reference_name]
    problems: list[str] = []
    for name in names:
        failed = sorted(h for h, o in outputs[name].outcomes.items() if o == "failed")
        if failed:
            problems.append(
                f"{name}: {len(failed)} handle(s) failed to be looked up: {_sample(failed)}"
            )
    for name in names[1:]:
        output = outputs[name]
        missing = sorted(set(reference.outcomes) - set(output.outcomes))
        extra = sorted(set(output.outcomes) - set(reference.outcomes))
        changed = sorted(
            h
            for h in set(reference.outcomes) & set(output.outcomes)
            if reference.outcomes[h] != output.outcomes[h]
        )
        if missing:
            problems.append(f"{name}: no outcome for {len(missing)} handle(s): {_sample(missing)}")
        if extra:
            problems.append(f"{name}: outcomes for {len(extra)} handle(s) never asked for")
        if changed:
            problems.append(
                f"{name}: {len(changed)} outcome(s) differ from {reference_name}'s: "
                + ", ".join(
                    f"@{h} {output.outcomes[h]} vs {reference.outcomes[h]}" for h in changed[:5]
                )
            )
        if output.records != reference.records:
            ours = {str(r.get("handle")): r for r in output.records}
            theirs = {str(r.get("handle")): r for r in reference.records}
            missing_records = sorted(theirs.keys() - ours.keys())
            extra_records = sorted(ours.keys() - theirs.keys())
            different = sorted(h for h in ours.keys() & theirs.keys() if ours[h] != theirs[h])
            problems.append(
                f"{name}: exported {len(output.records)} record(s), {reference_name} "
                f"{len(reference.records)}"
                + (f"; missing {_sample(missing_records)}" if missing_records else "")
                + (f"; not in {reference_name}'s {_sample(extra_records)}" if extra_records else "")
                + (f"; same author, different content: {_sample(different)}" if different else "")
            )
    if problems:
        raise BenchmarkMismatch(
            f"scenario of {scenario} handles: the methods did not do the same work, so their "
            "timings cannot be compared:\n  " + "\n  ".join(problems),
            scenario=scenario,
            methods=tuple(names),
        )
    return len(reference.records)


def _sample(handles: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f"@{h}" for h in handles[:limit])
    return shown + (f" and {len(handles) - limit} more" if len(handles) > limit else "")


def run_benchmark(
    settings: BenchmarkSettings, *, progress: Progress | None = None, command: str = ""
) -> BenchmarkResult:
    """Every method over every scenario, checked to have done the same work."""
    say = progress or (lambda _line: None)
    load_at_start = _load_average()
    model = settings.model
    describe = model.server_config(settings.population, settings.seed).describe()
    started_at = utc_now_iso()
    handles = synthetic_handles(max(settings.scenarios), settings.seed)
    runs: list[MethodRun] = []
    compared: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="influx-benchmark-") as scratch:
        root = Path(scratch)
        if settings.warm_up:
            warm = Method("warm-up", "bulk", MAX_BATCH_SIZE, 1)
            warm_settings = _without_latency(settings)
            run_method(warm, handles[:WARM_UP_HANDLES], warm_settings, root / "warm-up")
        for scenario in sorted(set(settings.scenarios)):
            outputs: dict[str, MethodOutput] = {}
            measured: dict[str, list[MethodRun]] = {m.name: [] for m in settings.methods}
            # interleaved, so that a busy moment of the machine falls on every method alike
            for repeat in range(1, settings.repeats + 1):
                for method in settings.methods:
                    label = method.name if repeat == 1 else f"{method.name} (repeat {repeat})"
                    run, output = run_method(
                        method,
                        handles[:scenario],
                        settings,
                        root / f"{scenario}-{method.name}-{repeat}",
                    )
                    say(
                        f"{scenario:>6} handles  {label:<26} {run.wall_s:8.2f} s  "
                        f"{run.requests:>6} requests  {run.handles_per_s:8.1f} handles/s"
                    )
                    outputs[label] = output
                    measured[method.name].append(run)
            compared[scenario] = check_same_work(scenario, outputs)
            runs += _with_speedups([_median_run(each) for each in measured.values()])
    return BenchmarkResult(
        settings=settings,
        started_at=started_at,
        finished_at=utc_now_iso(),
        server=describe,
        runs=runs,
        compared_records=compared,
        command=command,
        load_average=(
            None
            if load_at_start is None or (load_at_end := _load_average()) is None
            else (load_at_start, load_at_end)
        ),
    )


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # not every platform has one
        return None


def _median_run(runs: list[MethodRun]) -> MethodRun:
    walls = tuple(r.wall_s for r in runs)
    middle = statistics.median_low(walls)
    chosen = next(r for r in runs if r.wall_s == middle)
    return replace(chosen, wall_s_each=walls)


def _without_latency(settings: BenchmarkSettings) -> BenchmarkSettings:
    return replace(settings, model=LatencyModel(latency_s=0.0, per_user_s=0.0))


def _with_speedups(runs: list[MethodRun]) -> list[MethodRun]:
    baseline = next((r for r in runs if r.method == "per-user"), None)
    if baseline is None:
        return runs
    return [replace(r, speedup_vs_per_user=baseline.wall_s / r.wall_s) for r in runs]
