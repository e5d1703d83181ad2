"""Pacing from the rate-limit headers: a real server on 127.0.0.1 with a limit scaled to 1 s."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from influx_etl.apisim import ENDPOINT_USERS_BY, ApiServerConfig, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles
from influx_etl.pipeline import run_harvest
from influx_etl.sources import LookupProgress, RawBatch
from influx_etl.sources.pacing import RateBudget
from tests.conftest import REPO_ROOT


class Recorder:
    """A LookupProgress that remembers what it was told, and when."""

    def __init__(self) -> None:
        self.started_at = 0.0
        self.finished_at = 0.0
        self.batches = 0
        self.waits: list[tuple[float, str]] = []

    def lookup_started(self, batches: int, handles: int) -> None:
        self.started_at = time.monotonic()

    def __call__(self, batch: RawBatch, done: int, total: int) -> None:
        self.batches = done
        self.finished_at = time.monotonic()

    def waiting(self, until: float, reason: str) -> None:
        self.waits.append((until, reason))


def test_a_known_limit_is_never_exceeded_and_every_window_is_used(tmp_path: Path) -> None:
    limit, window_s, batch_size, batches = 4, 1.0, 2, 14
    handles = [f"paced_{i:03d}" for i in range(batch_size * batches)]
    seed_file = tmp_path / "seeds.txt"
    seed_file.write_text("\n".join(handles) + "\n", encoding="utf-8")
    config = PipelineConfig(
        seed_paths=(seed_file,),
        lookup=LookupSettings(
            batch_size=batch_size, parallel_batches=3, rate_limit_margin_s=0.05, timeout_s=5
        ),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )
    recorder = Recorder()
    assert isinstance(recorder, LookupProgress)
    with start_server(ApiServerConfig(rate_limit=limit, window_s=window_s)) as server:
        config = PipelineConfig(
            seed_paths=config.seed_paths,
            lookup=LookupSettings(**{**config.lookup.__dict__, "source": server.base_url}),
            rules=config.rules,
            outputs=config.outputs,
        )
        report = run_harvest(config, progress=recorder)
        stats = server.stats()
    windows_needed = math.ceil(batches / limit)
    assert report.funnel["failed"] == 0 and recorder.batches == batches
    assert stats.by_status.get(429, 0) == 0, "no request was sent into a spent window"
    assert stats.by_endpoint[ENDPOINT_USERS_BY] == batches
    assert stats.windows[ENDPOINT_USERS_BY] == windows_needed, "every window was filled"
    assert len(recorder.waits) >= windows_needed - 1  # each wait was shown to the person
    # the ceiling: the last window opens (windows_needed - 1) windows after the first
    ceiling_s = (windows_needed - 1) * window_s
    assert recorder.finished_at - recorder.started_at <= ceiling_s + window_s


def test_a_spent_window_holds_workers_until_its_reset() -> None:
    waits: list[tuple[float, str]] = []

    class Observer:
        def waiting(self, until: float, reason: str) -> None:
            waits.append((until, reason))

    budget = RateBudget("test", margin_s=0.0, observer=Observer())
    budget.acquire()
    reset = math.floor(time.time()) + 1
    budget.release({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    worker = threading.Thread(target=budget.acquire)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert waits == [(float(reset), "rate-limit window used up")]
    assert time.time() >= reset
    assert budget.stats().waits == 1


def test_an_older_answer_never_raises_the_budget() -> None:
    budget = RateBudget("test", margin_s=0.0)
    reset = str(math.floor(time.time()) + 60)
    budget.acquire()
    budget.release({"x-rate-limit-remaining": "2", "x-rate-limit-reset": reset})
    budget.acquire()
    budget.acquire()
    budget.release({"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset})
    budget.release({"x-rate-limit-remaining": "1", "x-rate-limit-reset": reset})  # overtaken
    blocked = threading.Thread(target=budget.acquire, daemon=True)
    blocked.start()
    blocked.join(timeout=0.5)
    assert blocked.is_alive(), "the window has no room left"
    budget.release({"x-rate-limit-remaining": "3", "x-rate-limit-reset": str(int(reset) + 60)})
    blocked.join(timeout=5)
    assert not blocked.is_alive(), "a newer window lets it go"


def test_a_server_without_rate_headers_is_not_paced() -> None:
    budget = RateBudget("test")
    budget.acquire()
    budget.release({})
    for _ in range(5):
        budget.acquire()  # would block on the first-request probe if it were paced
    assert budget.stats().admitted == 6
