"""Lookups on worker processes (``--backend loky``) or a Dask cluster (``--backend dask``), paced by
one rate budget for all of them.

What runs where:

* **workers** send the requests. Each worker process builds its own :class:`HttpSource` (client,
  connection pool, retries) from the picklable :class:`WorkerPlan` — settings, base URL, token as
  a :class:`~influx_etl.config.Secret` — once per run (:func:`fetch_on_worker` keeps it in a
  small per-process cache), and answers one batch per task with a
  :class:`~influx_etl.sources.RawBatch`.
* **the coordinator** (the process that runs the command) submits the batches through joblib
  (``loky``, or joblib's ``dask`` backend on a ``distributed.Client``) and receives every
  ``RawBatch`` as it completes; the pipeline commits it to DuckDB there. The store is never
  opened by a worker: one writer, crash safety and per-handle resume as with threads.
* **the budget** lives in one place: a :class:`BudgetService` holding the run's
  :class:`~influx_etl.sources.pacing.RateBudget` per endpoint — a Dask actor on one worker of the
  cluster
  (``dask``), or an object in a small ``multiprocessing`` manager process (``loky``). Workers
  ask it for a permit before every request (:class:`SharedBudget`) and report every response's
  rate-limit headers (and 429s) back to it. The ask never blocks the service: it admits the
  request or says how long to wait, and the worker sleeps on its own side and asks again. So the
  window's room is counted once, whatever the number of workers and threads: a request is sent
  only with a permit, and permits come from one counter.

A permit whose worker dies before reporting back would hold its place forever (and, while the
window's budget is unknown, stop every other request). Permits are therefore leases: one not
given back within :func:`lease_seconds` of the request timeout is counted as a request that used
the budget, and its late answer, if any, still teaches the budget.

A 401/403 seen by one worker is told to the service, which refuses every later permit: the other
workers stop before their next request, as threads sharing one client do.
"""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from multiprocessing.managers import BaseManager
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from joblib import Parallel, delayed, parallel_config

from influx_etl.config import LookupSettings
from influx_etl.errors import AuthError, ClusterError, ConfigError
from influx_etl.sources.base import DatasetKind, RawBatch
from influx_etl.sources.http import HttpSource, new_http_source
from influx_etl.sources.pacing import RECHECK_S, BudgetStats, Pacing, WaitObserver

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
"""How long to try to reach a ``--scheduler`` before giving up."""
WAIT_FOR_WORKERS_S = 30.0
"""How long a cluster may have no worker before the run stops."""
ANNOUNCE_POLL_S = 0.5
"""How often the coordinator asks the service for rate-limit waits to show."""
FIRST_POLL_S = 0.02
"""A worker waiting on requests in flight (not on the rate limit) asks again after this, then
twice as long each time up to :data:`~influx_etl.sources.pacing.RECHECK_S`: threads are woken by the
budget's condition, a remote worker has to ask."""
ACTOR_CALL_TIMEOUT_S = 30.0
"""Longest wait for the budget's actor to answer (it answers in milliseconds; a call to an actor
whose worker was lost may otherwise wait forever)."""
KEPT_SOURCES = 4
"""Worker-side sources kept per process (one per run; a long-lived cluster serves many runs)."""


def lease_seconds(timeout_s: float) -> float:
    """How long a permit may stay out before it is counted as a used request: longer than one
    request can take (pool, connect, write and read each wait up to ``timeout_s``)."""
    return 4 * timeout_s + 10.0


@dataclass(frozen=True)
class Grant:
    """The service's answer to a permit request: ``permit`` (go, then release it), ``refused``
    (a 401/403 ended the run) or a wait of ``delay_s`` (``until`` set for the rate limit)."""

    permit: int | None = None
    delay_s: float = 0.0
    until: float | None = None
    reason: str = ""
    refused: str | None = None
    refused_status: int = 0


class BudgetService:
    """The run's rate budgets, one per endpoint, in one place; answers without blocking.

    Hosted as a Dask actor (``--backend dask``) or by a ``multiprocessing`` manager (``loky``);
    its methods are called remotely and take and return picklable values only. The decision
    logic is :class:`~influx_etl.sources.pacing.RateBudget`'s own (:meth:`RateBudget.try_acquire`).
    """

    def __init__(
        self,
        margin_s: float = 1.0,
        lease_s: float = lease_seconds(30.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._lease_s = lease_s
        self._pacing = Pacing(margin_s=margin_s, clock=clock)
        self._lock = threading.Lock()
        self._permits = itertools.count(1)
        self._leases: dict[int, tuple[str, float]] = {}
        self._announced: list[tuple[float, str]] = []
        self._refused: tuple[str, int] | None = None
        self.expired = 0
        """Permits never given back in time (a worker lost mid-request)."""

    def __repr__(self) -> str:
        return f"BudgetService(in_flight={len(self._leases)}, expired={self.expired})"

    def try_acquire(self, endpoint: str, waited_s: float | None = None) -> Grant:
        """A permit for one request on ``endpoint`` now, or how long to wait (see
        :meth:`RateBudget.try_acquire` for ``waited_s``)."""
        with self._lock:
            if self._refused is not None:
                return Grant(refused=self._refused[0], refused_status=self._refused[1])
            now = self._clock()
            self._expire(now)
            admission = self._pacing.budget(endpoint).try_acquire(waited_s)
            if admission.admitted:
                permit = next(self._permits)
                self._leases[permit] = (endpoint, now)
                return Grant(permit=permit)
            if admission.announce and admission.until is not None:
                self._announced.append((admission.until, admission.reason))
            return Grant(delay_s=admission.delay_s, until=admission.until, reason=admission.reason)

    def release(
        self,
        permit: int,
        endpoint: str,
        headers: Mapping[str, str] | None,
        rate_limited: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        """The request of ``permit`` ended with these response headers (None: no response)."""
        with self._lock:
            budget = self._pacing.budget(endpoint)
            if self._leases.pop(permit, None) is not None:
                budget.release(headers, rate_limited=rate_limited, retry_after_s=retry_after_s)
            else:
                # its lease expired: already counted as a used request, only learn from it
                budget.observe(headers, rate_limited=rate_limited, retry_after_s=retry_after_s)

    def refuse(self, message: str, status: int) -> None:
        """The API refused the token (401/403): no further permit is given."""
        with self._lock:
            if self._refused is None:
                self._refused = (message, status)

    def announcements(self, since: int = 0) -> list[tuple[float, str]]:
        """Rate-limit waits begun (``(until, reason)``), from the ``since``-th on."""
        with self._lock:
            return self._announced[since:]

    def stats(self, endpoint: str) -> BudgetStats:
        with self._lock:
            return self._pacing.budget(endpoint).stats()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._leases)

    def _expire(self, now: float) -> None:
        for permit, (endpoint, granted_at) in list(self._leases.items()):
            if now - granted_at > self._lease_s:
                del self._leases[permit]
                self.expired += 1
                log.warning(
                    "a permit for %s was not given back in %.0f s (a worker lost mid-request?): "
                    "counted as a used request",
                    endpoint,
                    self._lease_s,
                )
                self._pacing.budget(endpoint).release(None)


class BudgetLink(Protocol):
    """How a process reaches the :class:`BudgetService` (picklable: it travels to workers)."""

    def try_acquire(self, endpoint: str, waited_s: float | None) -> Grant: ...

    def release(
        self,
        permit: int,
        endpoint: str,
        headers: Mapping[str, str] | None,
        rate_limited: bool,
        retry_after_s: float | None,
    ) -> None: ...

    def refuse(self, message: str, status: int) -> None: ...

    def announcements(self, since: int) -> list[tuple[float, str]]: ...


class _ForwardingLink:
    """A :class:`BudgetLink` that forwards each call to the service through :meth:`_call`."""

    def _call(self, method: str, *args: Any) -> Any:
        raise NotImplementedError

    def try_acquire(self, endpoint: str, waited_s: float | None) -> Grant:
        grant: Grant = self._call("try_acquire", endpoint, waited_s)
        return grant

    def release(
        self,
        permit: int,
        endpoint: str,
        headers: Mapping[str, str] | None,
        rate_limited: bool,
        retry_after_s: float | None,
    ) -> None:
        headers = dict(headers) if headers is not None else None
        self._call("release", permit, endpoint, headers, rate_limited, retry_after_s)

    def refuse(self, message: str, status: int) -> None:
        self._call("refuse", message, status)

    def announcements(self, since: int) -> list[tuple[float, str]]:
        news: list[tuple[float, str]] = self._call("announcements", since)
        return news


class ActorLink(_ForwardingLink):
    """The service as a Dask actor: each call is one message to the worker that holds it."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor

    def __repr__(self) -> str:
        return f"ActorLink({self._actor!r})"

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._actor, method)(*args).result(timeout=ACTOR_CALL_TIMEOUT_S)
        except (OSError, RuntimeError) as exc:
            # the worker holding the budget is gone (distributed does not move an actor): no
            # request may go out unpaced, so the run stops here and resumes when started again
            where = getattr(self._actor, "_address", "a worker")
            raise ClusterError(
                f"the run's rate budget (a Dask actor on {where}) cannot be "
                f"reached ({type(exc).__name__}: {str(exc).rstrip('.')}): its worker was "
                "probably lost. The batches stored so far are kept: run the same command again "
                "to resume"
            ) from None


_HOSTED: BudgetService | None = None
_HOSTED_LOCK = threading.Lock()


def _hosted_service(margin_s: float, lease_s: float) -> BudgetService:
    """The manager process's one service (every connection asks for it by this function)."""
    global _HOSTED
    with _HOSTED_LOCK:
        if _HOSTED is None:
            _HOSTED = BudgetService(margin_s, lease_s)
        return _HOSTED


class _BudgetManager(BaseManager):
    """Serves the :class:`BudgetService` of a ``loky`` run from a process of its own."""


_BudgetManager.register("service", callable=_hosted_service)


class ManagerLink(_ForwardingLink):
    """The service behind a ``multiprocessing`` manager on this machine (``--backend loky``).

    Each process connects on first use; the address and key travel with the tasks, the
    connection does not.
    """

    def __init__(
        self, address: tuple[str, int], authkey: bytes, margin_s: float, lease_s: float
    ) -> None:
        self.address = address
        self._authkey = authkey
        self._margin_s = margin_s
        self._lease_s = lease_s
        self._proxy: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ManagerLink({self.address!r})"  # never the key

    def __getstate__(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "authkey": self._authkey,
            "margin_s": self._margin_s,
            "lease_s": self._lease_s,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.address = (str(state["address"][0]), int(state["address"][1]))
        self._authkey = state["authkey"]
        self._margin_s = state["margin_s"]
        self._lease_s = state["lease_s"]
        self._proxy = None
        self._lock = threading.Lock()

    def _service(self) -> Any:
        with self._lock:
            if self._proxy is None:
                manager = _BudgetManager(address=self.address, authkey=self._authkey)
                manager.connect()
                self._proxy = manager.service(self._margin_s, self._lease_s)  # type: ignore[attr-defined]
            return self._proxy

    def _call(self, method: str, *args: Any) -> Any:
        return getattr(self._service(), method)(*args)


class SharedBudget:
    """A worker's handle on one endpoint's budget in the service: what
    :class:`~influx_etl.sources.xclient.XClient` acquires and releases (a
    :class:`~influx_etl.sources.pacing.RequestBudget`). Waits are slept here, never in the
    service."""

    def __init__(self, link: BudgetLink, endpoint: str) -> None:
        self.link = link
        self.endpoint = endpoint
        # acquire and release of one request run on the same thread (XClient._get): the permit
        # waits for its release in that thread's stack
        self._held = threading.local()

    def __repr__(self) -> str:
        return f"SharedBudget({self.endpoint!r}, {self.link!r})"

    def acquire(self) -> None:
        started: float | None = None
        poll = FIRST_POLL_S
        while True:
            waited = None if started is None else time.monotonic() - started
            grant = self.link.try_acquire(self.endpoint, waited)
            if grant.refused is not None:
                raise AuthError(grant.refused, status=grant.refused_status)
            if grant.permit is not None:
                self._permits().append(grant.permit)
                return
            if grant.until is not None:
                # the rate limit: sleep towards the reset, looking again now and then (a newer
                # window stated by another worker's answer may open earlier)
                if started is None:
                    started = time.monotonic()
                time.sleep(max(0.0, min(grant.delay_s, RECHECK_S)))
            else:
                time.sleep(min(grant.delay_s, poll))
                poll = min(RECHECK_S, poll * 2)

    def release(
        self,
        headers: Mapping[str, str] | None,
        *,
        rate_limited: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        permit = self._permits().pop()
        self.link.release(permit, self.endpoint, headers, rate_limited, retry_after_s)

    def _permits(self) -> list[int]:
        permits: list[int] | None = getattr(self._held, "permits", None)
        if permits is None:
            permits = self._held.permits = []
        return permits


class SharedPacing:
    """A worker's :class:`~influx_etl.sources.pacing.EndpointBudgets`: one :class:`SharedBudget` per
    endpoint, all asking the same service."""

    def __init__(self, link: BudgetLink) -> None:
        self.link = link
        self._budgets: dict[str, SharedBudget] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedPacing({self.link!r})"

    def budget(self, endpoint: str) -> SharedBudget:
        with self._lock:
            budget = self._budgets.get(endpoint)
            if budget is None:
                budget = self._budgets[endpoint] = SharedBudget(self.link, endpoint)
            return budget


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker needs to look batches up for one run. Picklable: the token is a
    :class:`~influx_etl.config.Secret`, which keeps its value through a pickle (workers must
    send it) and masks it in every ``repr``, log line and error message of the worker."""

    run: str
    """Unique per run: the key of the worker's cached source."""
    settings: LookupSettings
    base_url: str
    name: str
    kind: DatasetKind
    link: BudgetLink = field(compare=False)


_SOURCES: OrderedDict[WorkerPlan, HttpSource] = OrderedDict()
_SOURCES_LOCK = threading.Lock()


def _worker_http_source(plan: WorkerPlan) -> HttpSource:
    """This process's source for the plan's run: one client and connection pool per process,
    shared by the worker's threads (like the coordinator's threads share one)."""
    with _SOURCES_LOCK:
        source = _SOURCES.get(plan)
        if source is not None:
            _SOURCES.move_to_end(plan)
            return source
        source = new_http_source(
            plan.settings, plan.base_url, plan.name, plan.kind, SharedPacing(plan.link)
        )
        _SOURCES[plan] = source
        while len(_SOURCES) > KEPT_SOURCES:
            _, oldest = _SOURCES.popitem(last=False)
            oldest.client.close()
        return source


def fetch_on_worker(plan: WorkerPlan, batch_id: int, handles: Sequence[str]) -> RawBatch:
    """One batch, looked up in whatever process runs this (the task every worker runs)."""
    source = _worker_http_source(plan)
    try:
        return source.fetch_batch(batch_id, handles)
    except AuthError as refused:
        # stop the other workers before their next request, as threads sharing a client stop
        message = str(refused).removeprefix(f"batch {refused.batch_id}: ")
        plan.link.refuse(message, refused.status)
        raise


class WorkerSource:
    """The coordinator's side of a ``loky`` or ``dask`` run: a
    :class:`~influx_etl.sources.WorkerLookupSource` (and a plain ``LookupSource``) whose batches
    run as :func:`fetch_on_worker` tasks and come back here as they complete."""

    def __init__(
        self, plan: WorkerPlan, backend: str, where: str, client: Client | None = None
    ) -> None:
        self.plan = plan
        self.name = plan.name
        self.kind = plan.kind
        self.backend = backend
        self.where = where
        self._client = client

    def __repr__(self) -> str:
        return f"WorkerSource(name={self.name!r}, backend={self.backend!r}, where={self.where!r})"

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        (batch,) = self.batches([(batch_id, handles)], 1)
        return batch

    def batches(
        self, work: Sequence[tuple[int, Sequence[str]]], parallel_batches: int
    ) -> Iterator[RawBatch]:
        """Every batch, ``parallel_batches`` at a time, yielded as each completes."""
        if not work:
            return
        tasks = (
            delayed(fetch_on_worker)(self.plan, batch_id, list(handles))
            for batch_id, handles in work
        )
        in_flight = min(parallel_batches, len(work))
        try:
            if self.backend == "loky":
                results = Parallel(
                    n_jobs=in_flight, backend="loky", return_as="generator_unordered"
                )(tasks)
            else:
                with parallel_config(
                    backend="dask",
                    client=self._client,
                    wait_for_workers_timeout=WAIT_FOR_WORKERS_S,
                ):
                    # joblib's dask backend uses every thread of the cluster; pre_dispatch
                    # with one call per task keeps --parallel-batches batches in flight
                    results = Parallel(
                        n_jobs=-1,
                        batch_size=1,
                        pre_dispatch=in_flight,
                        return_as="generator_unordered",
                    )(tasks)
            yield from results
        except _cluster_failures() as exc:
            raise ClusterError(
                f"the {self.backend} workers ({self.where}) failed: {type(exc).__name__}: {exc}. "
                "The batches stored so far are kept: run the same command again to resume"
            ) from None


def _cluster_failures() -> tuple[type[BaseException], ...]:
    """What a lost worker, scheduler or budget service raises in the coordinator (never an
    :class:`~influx_etl.errors.InfluxError`: those pass through as they are)."""
    from concurrent.futures import CancelledError
    from concurrent.futures.process import BrokenProcessPool

    failures: list[type[BaseException]] = [OSError, EOFError, CancelledError, BrokenProcessPool]
    try:
        from distributed import KilledWorker
    except ImportError:
        pass
    else:
        failures.append(KilledWorker)
    return tuple(failures)


def _distributed() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "--backend dask needs dask.distributed, which is not installed: "
            "pip install -e '.[cluster]' (or pip install 'dask[distributed]')"
        ) from None
    if not log.isEnabledFor(logging.DEBUG):
        # distributed logs every connection, worker and client at INFO (its own default level),
        # which would bury the run's own log lines; -vv shows them
        logging.getLogger("distributed").setLevel(logging.WARNING)
    return distributed


@contextmanager
def worker_source(
    settings: LookupSettings,
    base_url: str,
    name: str,
    kind: DatasetKind,
    observer: WaitObserver | None = None,
) -> Iterator[WorkerSource]:
    """The source of a ``loky`` or ``dask`` run on ``base_url``, with its budget service (and,
    for ``dask`` without a scheduler, a local cluster) up until the end of the run."""
    if settings.backend == "loky":
        with _manager_service(settings) as link:
            plan = WorkerPlan(uuid.uuid4().hex, settings, base_url, name, kind, link)
            with _announcing(link, observer):
                yield WorkerSource(plan, "loky", "worker processes on this machine")
        return
    if settings.backend != "dask":
        raise ConfigError(f"no worker source for --backend {settings.backend}")
    distributed = _distributed()
    with _dask_client(distributed, settings) as (client, where):
        _warn_if_unreachable(base_url, client)
        with _actor_service(client, settings, where) as link:
            plan = WorkerPlan(uuid.uuid4().hex, settings, base_url, name, kind, link)
            with _announcing(link, observer):
                yield WorkerSource(plan, "dask", where, client)


@contextmanager
def _manager_service(settings: LookupSettings) -> Iterator[ManagerLink]:
    """A manager process holding the run's :class:`BudgetService`, on a loopback port with a
    random key; stopped at the end."""
    authkey = secrets.token_bytes(32)
    # spawn, not fork: this process has threads (the progress display, the embedded server)
    manager = _BudgetManager(
        address=("127.0.0.1", 0), authkey=authkey, ctx=multiprocessing.get_context("spawn")
    )
    manager.start()
    try:
        address = manager.address
        assert isinstance(address, tuple)
        yield ManagerLink(
            (str(address[0]), int(address[1])),
            authkey,
            settings.rate_limit_margin_s,
            lease_seconds(settings.timeout_s),
        )
    finally:
        manager.shutdown()


@contextmanager
def _dask_client(distributed: ModuleType, settings: LookupSettings) -> Iterator[tuple[Any, str]]:
    """A client of ``settings.scheduler``, or of a local cluster started (and closed) here."""
    if settings.scheduler is None:
        workers = max(1, min(settings.parallel_batches, os.cpu_count() or 1))
        threads = math.ceil(settings.parallel_batches / workers)
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,  # no dashboard: it would take port 8787 (influx-api-sim's)
        )
        try:
            where = f"local cluster {cluster.scheduler_address}"
            log.info(
                "no --scheduler: started a local Dask cluster at %s (%d worker processes x %d "
                "threads) for this run; it is closed when the run ends",
                cluster.scheduler_address,
                workers,
                threads,
            )
            client = distributed.Client(cluster, set_as_default=False)
            try:
                yield client, where
            finally:
                client.close()
        finally:
            cluster.close()
        return
    address = settings.scheduler
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"--scheduler {address} is not a Dask scheduler address (e.g. tcp://HOST:8786): {exc}"
        ) from None
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:g} s "
            f"({exc}); start it with `dask scheduler` and check the address and firewall"
        ) from None
    try:
        log.info("using the Dask scheduler at %s", address)
        yield client, f"scheduler {address}"
    finally:
        client.close()


@contextmanager
def _actor_service(client: Any, settings: LookupSettings, where: str) -> Iterator[ActorLink]:
    """The run's :class:`BudgetService` as an actor on one worker of the cluster."""
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"the Dask cluster ({where}) has no worker after {WAIT_FOR_WORKERS_S:g} s ({exc}); "
            "start one with `dask worker SCHEDULER_ADDRESS`"
        ) from None
    # the future holds the actor: dropped, the scheduler would let the actor go mid-run
    future = client.submit(
        BudgetService,
        settings.rate_limit_margin_s,
        lease_seconds(settings.timeout_s),
        actor=True,
    )
    try:
        # bound to this client (the coordinator reads the waits from it); workers that unpickle
        # the handle bind it to themselves
        with client.as_current():
            actor = future.result(timeout=WAIT_FOR_WORKERS_S)
    except (OSError, TimeoutError, ImportError) as exc:
        raise ClusterError(
            f"the Dask cluster ({where}) could not start the rate budget on a worker "
            f"({type(exc).__name__}: {exc}); every worker needs influx_etl installed"
        ) from None
    try:
        yield ActorLink(actor)
    finally:
        future.release()


def _warn_if_unreachable(base_url: str, client: Any) -> None:
    """Warn when the API address is this machine's loopback but workers run elsewhere."""
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return
    if not loopback:
        return
    remote = sorted(
        {
            urlsplit(address).hostname or address
            for address in client.scheduler_info().get("workers", {})
        }
        - {"127.0.0.1", "localhost", "::1"}
    )
    if remote:
        log.warning(
            "the API is at %s, on this machine's loopback, but Dask workers run on %s: unless "
            "they are this machine, their requests will fail (the embedded server and "
            "influx-api-sim listen on loopback only; a cluster of other machines needs "
            "--source x-api)",
            base_url,
            ", ".join(remote),
        )


@contextmanager
def _announcing(link: BudgetLink, observer: WaitObserver | None) -> Iterator[None]:
    """Forward the service's rate-limit waits to ``observer`` (the progress display) from a
    thread of the coordinator: the waits happen on the workers."""
    if observer is None:
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        seen = 0
        while not stop.wait(ANNOUNCE_POLL_S):
            try:
                news = link.announcements(seen)
            except (OSError, EOFError, ClusterError) as exc:  # gone: the run reports it
                log.debug("cannot read the rate-limit waits: %s", exc)
                return
            seen += len(news)
            for until, reason in news:
                log.debug("rate limit: %s; waiting until %.0f", reason, until)
                observer.waiting(until, reason)

    thread = threading.Thread(target=watch, name="influx-budget-waits", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


__all__ = [
    "ActorLink",
    "BudgetLink",
    "BudgetService",
    "Grant",
    "ManagerLink",
    "SharedBudget",
    "SharedPacing",
    "WorkerPlan",
    "WorkerSource",
    "fetch_on_worker",
    "lease_seconds",
    "worker_source",
]
