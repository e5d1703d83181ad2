"""Lookups on worker processes and on a real Dask ``LocalCluster``, against a rate-limited server.

The claim under test: however many workers there are, the requests go out under one budget (the
server never sees more than its limit in a window, so it never answers 429), and the dataset is
the one a single-process run makes.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from influx_etl.apisim import ENDPOINT_USERS_BY, ApiServerConfig, start_server, synthetic_handles
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles, Secret
from influx_etl.errors import AuthError, ClusterError, ConfigError, mask_secrets
from influx_etl.pipeline import RunReport, run_harvest
from influx_etl.sources import open_source
from influx_etl.sources import workers as cluster
from influx_etl.sources.workers import (
    ActorLink,
    BudgetService,
    ManagerLink,
    SharedBudget,
    WorkerPlan,
)
from tests.conftest import REPO_ROOT

distributed = pytest.importorskip("distributed", reason="needs the cluster extra")

TOKEN = "cluster-test-token-4e1f"
LIMIT, WINDOW_S = 4, 1.0
HANDLES = synthetic_handles(200, seed=3)
BATCH_SIZE = 10  # 20 batches: 5 windows of 4 requests
ENDPOINT = ENDPOINT_USERS_BY


# -- the budget service, without a cluster ------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def headers(remaining: int, reset: float) -> dict[str, str]:
    return {"x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(int(reset))}


def test_permits_come_from_one_count_however_many_workers_ask() -> None:
    clock = Clock()
    service = BudgetService(margin_s=0.0, clock=clock)
    first = service.try_acquire(ENDPOINT)
    assert first.permit is not None
    # the budget is unknown while the first request is out: everyone else waits on it
    assert service.try_acquire(ENDPOINT).permit is None
    service.release(first.permit, ENDPOINT, headers(2, clock.now + 60))
    granted = [service.try_acquire(ENDPOINT) for _ in range(5)]
    assert [g.permit is not None for g in granted] == [True, True, False, False, False]
    waiting = granted[2]
    assert waiting.until is None, "room may come back: the two in flight are not answered yet"
    for grant in granted[:2]:
        assert grant.permit is not None
        service.release(grant.permit, ENDPOINT, headers(0, clock.now + 60))
    spent = service.try_acquire(ENDPOINT)
    assert spent.permit is None and spent.until == clock.now + 60
    assert spent.reason == "rate-limit window used up"
    assert service.announcements() == [(clock.now + 60, "rate-limit window used up")]
    assert service.try_acquire(ENDPOINT).until == clock.now + 60
    assert len(service.announcements()) == 1, "a wait is announced once, not once per worker"
    clock.now += 61
    assert service.try_acquire(ENDPOINT).permit is not None, "the next window"
    assert service.stats(ENDPOINT).admitted == 4


def test_a_permit_never_given_back_expires_as_a_used_request() -> None:
    clock = Clock()
    service = BudgetService(margin_s=0.0, lease_s=30.0, clock=clock)
    lost = service.try_acquire(ENDPOINT).permit  # its worker dies mid-request
    assert lost is not None
    assert service.try_acquire(ENDPOINT).permit is None
    clock.now += 31
    probe = service.try_acquire(ENDPOINT).permit
    assert probe is not None and service.expired == 1
    service.release(probe, ENDPOINT, headers(3, clock.now + 60))
    out = [service.try_acquire(ENDPOINT).permit for _ in range(2)]
    assert all(p is not None for p in out) and service.in_flight() == 2
    # the lost request's answer comes late: it teaches the budget, but frees no one's place
    service.release(lost, ENDPOINT, headers(1, clock.now + 60))
    assert service.in_flight() == 2
    assert service.try_acquire(ENDPOINT).permit is None


def test_a_refused_token_stops_every_worker_before_its_next_request() -> None:
    service = BudgetService()
    budget = SharedBudget(service, ENDPOINT)  # the service is its own link in one process
    budget.acquire()
    budget.release(headers(10, time.time() + 60))
    service.refuse("HTTP 401 from /2/users/by: the bearer token is missing or invalid", 401)
    with pytest.raises(AuthError, match="HTTP 401") as refused:
        budget.acquire()
    assert refused.value.status == 401


def test_shared_budgets_in_threads_wait_for_the_window_then_go() -> None:
    service = BudgetService(margin_s=0.0)
    budgets = [SharedBudget(service, ENDPOINT) for _ in range(3)]  # three "workers"
    budgets[0].acquire()
    reset = math.floor(time.time()) + 1
    budgets[0].release(headers(0, reset))
    done: list[float] = []

    def worker(budget: SharedBudget) -> None:
        budget.acquire()
        done.append(time.time())
        budget.release(headers(5, reset + 60))

    threads = [threading.Thread(target=worker, args=(b,), daemon=True) for b in budgets[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(done) == 2 and min(done) >= reset
    assert service.announcements() == [(float(reset), "rate-limit window used up")]


def test_a_lost_budget_actor_is_a_cluster_error_naming_its_worker() -> None:
    class Unreachable:
        def result(self, timeout: float | None = None) -> Any:
            raise OSError("Unable to contact Actor's worker")

    class LostActor:
        _address = "tcp://10.0.0.9:40000"

        def try_acquire(self, *args: Any) -> Unreachable:
            return Unreachable()

    with pytest.raises(ClusterError, match=re.escape("tcp://10.0.0.9:40000")) as lost:
        ActorLink(LostActor()).try_acquire(ENDPOINT, None)
    assert "run the same command again to resume" in str(lost.value)
    assert str(pickle.loads(pickle.dumps(lost.value))) == str(lost.value)  # crosses processes


def test_a_worker_plan_pickles_with_a_usable_token_that_never_shows(tmp_path: Path) -> None:
    link = ManagerLink(("127.0.0.1", 1), b"secret-key-bytes", 1.0, 130.0)
    settings = LookupSettings(token=Secret(TOKEN), backend="loky")
    plan = WorkerPlan("run", settings, "http://127.0.0.1:1", "x", "simulated", link)
    copy = pickle.loads(pickle.dumps(plan))
    assert copy == plan and hash(copy) == hash(plan)
    assert copy.settings.token is not None and copy.settings.token.reveal() == TOKEN
    assert TOKEN not in repr(copy) and "secret-key-bytes" not in repr(copy)
    assert mask_secrets(f"Bearer {TOKEN}") == "Bearer ***"


# -- settings and sources --------------------------------------------------------------------------


def test_an_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="threading, loky, dask"):
        LookupSettings(backend="ray")


def test_a_scheduler_needs_the_dask_backend() -> None:
    with pytest.raises(ConfigError, match="--scheduler tcp://h:8786 needs --backend dask"):
        LookupSettings(scheduler="tcp://h:8786")
    assert LookupSettings(backend="dask", scheduler="tcp://h:8786").scheduler == "tcp://h:8786"


@pytest.mark.parametrize("source", ["prefetched:{file}", "mcp"])
def test_sources_without_http_workers_refuse_other_backends(tmp_path: Path, source: str) -> None:
    users = tmp_path / "users.jsonl"
    users.write_text('{"id": "1", "username": "a"}\n', encoding="utf-8")
    settings = LookupSettings(source=source.format(file=users), backend="dask")
    with pytest.raises(ConfigError, match="--backend dask applies to HTTP sources only"):
        open_source(settings).__enter__()


def test_an_unreachable_scheduler_is_a_cluster_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    settings = LookupSettings(source="http://127.0.0.1:9", backend="dask", scheduler=address)
    unreachable = re.escape(f"cannot reach the Dask scheduler at {address}")
    with pytest.raises(ClusterError, match=unreachable):
        open_source(settings).__enter__()


# -- real runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[Any]:
    """Two worker processes of two threads: four requests can be in flight from two processes."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    """The single-process (threading) run of the same seeds, on a server without a limit."""
    folder = tmp_path_factory.mktemp("threading")
    with start_server(ApiServerConfig(seed=3, required_token=TOKEN)) as server:
        return run_harvest(config(folder, server.base_url, backend="threading"))


def config(folder: Path, base_url: str, **lookup: Any) -> PipelineConfig:
    seed_file = folder / "seeds.txt"
    seed_file.write_text("\n".join(HANDLES) + "\n", encoding="utf-8")
    return PipelineConfig(
        seed_paths=(seed_file,),
        lookup=LookupSettings(
            **{
                "source": base_url,
                "token": Secret(TOKEN),
                "batch_size": BATCH_SIZE,
                "parallel_batches": 4,
                "rate_limit_margin_s": 0.05,
                "timeout_s": 10,
                **lookup,
            }
        ),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=folder / "data"),
    )


def stored(report: RunReport, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(report.dataset), read_only=True)
    try:
        return con.execute(query, [report.run_id]).fetchall()
    finally:
        con.close()


def exported(report: RunReport) -> list[dict[str, Any]]:
    records = [
        json.loads(line)
        for line in (report.export_dir / "latest.jsonl").read_text("utf-8").splitlines()
    ]
    for record in records:
        record["meta"].pop("last_refresh_at", None)
        for source in record["meta"]["sources"]:
            source.pop("fetched_at", None)
    return records


def requests_per_window(report: RunReport) -> Mapping[str, int]:
    """Stored batches per rate-limit window, by the reset the server stated for each answer."""
    rows = stored(report, "SELECT rate_limit FROM raw_lookups WHERE run_id = ?")
    return Counter(json.loads(rate_limit)["x-rate-limit-reset"] for (rate_limit,) in rows)


def assert_one_budget_and_the_same_dataset(
    run: RunReport, reference: RunReport, stats: Any
) -> None:
    batches = math.ceil(len(HANDLES) / BATCH_SIZE)
    assert run.funnel == reference.funnel and run.funnel["failed"] == 0
    assert stats.by_status == {200: batches}, "no request was sent into a spent window"
    assert stats.by_endpoint[ENDPOINT] == batches
    windows = requests_per_window(run)
    assert sum(windows.values()) == batches
    assert max(windows.values()) <= LIMIT, windows
    assert stats.windows[ENDPOINT] >= math.ceil(batches / LIMIT)
    outcomes = (
        "SELECT handle_key, outcome, decision FROM handle_outcomes WHERE run_id = ? ORDER BY 1"
    )
    assert stored(run, outcomes) == stored(reference, outcomes)
    assert exported(run) == exported(reference)


def test_dask_workers_share_one_budget_and_build_the_same_dataset(
    tmp_path: Path, local_cluster: Any, reference: RunReport
) -> None:
    limited = ApiServerConfig(seed=3, required_token=TOKEN, rate_limit=LIMIT, window_s=WINDOW_S)
    with start_server(limited) as server:
        settings = {"backend": "dask", "scheduler": local_cluster.scheduler_address}
        run = run_harvest(config(tmp_path, server.base_url, **settings))
        stats = server.stats()
        base_url = server.base_url
    assert_one_budget_and_the_same_dataset(run, reference, stats)
    args = stored(run, "SELECT args FROM runs WHERE run_id = ?")[0][0]
    assert json.loads(args)["backend"] == "dask"
    with distributed.Client(local_cluster, set_as_default=False) as client:
        # the requests were sent by both worker processes (four batches in flight, two threads
        # each), each through one source of its own for this run
        sources = client.run(lambda: [plan.base_url for plan in cluster._SOURCES])
        masked = client.run(lambda: mask_secrets(f"Bearer={TOKEN}"))
    assert len(sources) == 2
    assert all(urls.count(base_url) == 1 for urls in sources.values()), sources
    assert set(masked.values()) == {"Bearer=***"}, "workers mask the token they were sent"


def test_a_refused_token_stops_the_dask_run_with_an_auth_error(
    tmp_path: Path, local_cluster: Any
) -> None:
    with start_server(ApiServerConfig(required_token="the-right-token-91c2")) as server:
        settings = {"backend": "dask", "scheduler": local_cluster.scheduler_address}
        with pytest.raises(AuthError, match="HTTP 401") as refused:
            run_harvest(config(tmp_path, server.base_url, **settings))
        stats = server.stats()
    assert TOKEN not in str(refused.value)
    # the first 401 refuses every later permit: at most the requests already out get one too
    assert 1 <= stats.by_status[401] <= 4 and stats.requests == stats.by_status[401]


def test_loky_workers_share_one_budget_and_build_the_same_dataset(
    tmp_path: Path, reference: RunReport
) -> None:
    limited = ApiServerConfig(seed=3, required_token=TOKEN, rate_limit=LIMIT, window_s=WINDOW_S)
    with start_server(limited) as server:
        run = run_harvest(config(tmp_path, server.base_url, backend="loky", parallel_batches=3))
        stats = server.stats()
    assert_one_budget_and_the_same_dataset(run, reference, stats)


def test_a_run_begun_with_threads_is_finished_on_the_cluster(
    tmp_path: Path, local_cluster: Any, reference: RunReport
) -> None:
    # the first four requests fail for good (one attempt each): their handles end as failed
    failing = ApiServerConfig(seed=3, required_token=TOKEN, fail_first_n=4)
    with start_server(failing) as server:
        first = run_harvest(config(tmp_path, server.base_url, max_attempts=1))
        assert 0 < first.funnel["failed"] <= 4 * BATCH_SIZE
        before = server.stats().requests
        settings = {"backend": "dask", "scheduler": local_cluster.scheduler_address}
        resumed = run_harvest(config(tmp_path, server.base_url, **settings))
        asked_again = server.stats().requests - before
    # the handles the first run settled are fresh: the next run asks only for the failed ones
    assert asked_again == math.ceil(first.funnel["failed"] / BATCH_SIZE)
    assert resumed.funnel["failed"] == 0
    assert resumed.funnel["looked_up"] == first.funnel["failed"]
    assert resumed.funnel["reused"] == reference.funnel["looked_up"] - first.funnel["failed"]
    outcomes = "SELECT handle_key, outcome FROM handle_outcomes WHERE run_id = ? ORDER BY 1"
    assert stored(resumed, outcomes) == stored(reference, outcomes)
