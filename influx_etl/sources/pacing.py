"""Pacing from the rate-limit headers, shared by every worker of a run.

The API states its budget on every response (``x-rate-limit-remaining`` requests left in the window
that resets at ``x-rate-limit-reset``, epoch seconds). A :class:`RateBudget` keeps the freshest of
those figures for one endpoint and admits a request only when the window still has room for it
after the requests already in flight, so a run with a known limit sends no request that must fail.
When nothing is known (the first request, or after a window ended) one request goes alone and its
answer tells the others the new budget. A server that sends no rate-limit headers is not paced.

A 429 that comes anyway (a limit shared with another app, a clock that runs ahead of the server's)
holds every worker until the reset the server gave, or for ``retry-after`` seconds.

Waits are reported to an optional :class:`WaitObserver` (the progress display shows them with a
countdown); the budget itself never touches a terminal.

Workers in other processes (``--backend loky`` or ``dask``) cannot share this object's lock: there
one :class:`RateBudget` lives in one place and is asked through :meth:`RateBudget.try_acquire`,
which never blocks (see :mod:`influx_etl.sources.workers`), so the budget is still one budget.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

MAX_WAIT_S = 16 * 60
"""Longest single wait: the API's windows are 15 minutes; a later reset is a skewed clock."""
RECHECK_S = 1.0
"""Waiting workers look at the budget again at least this often."""


class WaitObserver(Protocol):
    """Told when workers must wait for the rate limit (``until`` is an epoch second)."""

    def waiting(self, until: float, reason: str) -> None: ...


@dataclass(frozen=True)
class Admission:
    """What :meth:`RateBudget.try_acquire` decided for one request."""

    admitted: bool
    """Go now: the request counts as in flight until released."""
    delay_s: float = 0.0
    """Otherwise: ask again after this long."""
    until: float | None = None
    """Set for waits on the rate limit itself (epoch second), unset for waits on requests in
    flight."""
    reason: str = ""
    announce: bool = False
    """The first caller told of this wait: the person should be shown it."""


class RequestBudget(Protocol):
    """What :class:`~influx_etl.sources.xclient.XClient` needs of a budget: :class:`RateBudget` in
    this
    process, or a worker's handle on a budget shared by a cluster
    (:class:`influx_etl.sources.workers.SharedBudget`)."""

    def acquire(self) -> None: ...

    def release(
        self,
        headers: Mapping[str, str] | None,
        *,
        rate_limited: bool = False,
        retry_after_s: float | None = None,
    ) -> None: ...


class EndpointBudgets(Protocol):
    """One budget per endpoint: :class:`Pacing`, or its cluster-wide counterpart."""

    def budget(self, endpoint: str) -> RequestBudget: ...


@dataclass(frozen=True)
class BudgetStats:
    """What a budget did: requests admitted, waits for the limit and their total length."""

    admitted: int
    waits: int
    waited_s: float
    rate_limited: int


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class RateBudget:
    """The request budget of one endpoint, as the server last stated it. Thread-safe."""

    def __init__(
        self,
        name: str,
        *,
        margin_s: float = 1.0,
        observer: WaitObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.margin_s = margin_s
        self.observer = observer
        self._clock = clock
        self._cond = threading.Condition()
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._paced = True
        self._in_flight = 0
        self._blocked_until = 0.0
        self._consecutive_429 = 0
        self._reported_until = 0.0
        self._admitted = 0
        self._waits = 0
        self._waited_s = 0.0
        self._rate_limited = 0

    def __repr__(self) -> str:
        return f"RateBudget({self.name!r}, remaining={self._remaining}, reset_at={self._reset_at})"

    def stats(self) -> BudgetStats:
        with self._cond:
            return BudgetStats(self._admitted, self._waits, self._waited_s, self._rate_limited)

    def acquire(self) -> None:
        """Block until one more request may be sent, then count it as in flight."""
        started: float | None = None
        while True:
            with self._cond:
                now = self._clock()
                admission = self._admission(now, None if started is None else now - started)
                if admission.admitted:
                    return
                if admission.until is not None and started is None:
                    started = now
                if not admission.announce:
                    self._cond.wait(timeout=min(admission.delay_s, RECHECK_S))
                    continue
            # outside the lock: the observer may take its own locks
            until = admission.until if admission.until is not None else now
            log.debug("%s: %s; waiting %.0f s", self.name, admission.reason, max(0.0, until - now))
            if self.observer is not None:
                self.observer.waiting(until, admission.reason)

    def try_acquire(self, waited_s: float | None = None) -> Admission:
        """Never blocks: admit one request now (counted in flight until :meth:`release`), or say
        how long to wait before asking again.

        For callers that cannot wait on this object's lock: workers in other processes asking a
        budget held in one place (:mod:`influx_etl.sources.workers`). ``waited_s`` is how long the
        caller
        has been waiting on the rate limit so far (None before its first such wait), for
        :meth:`stats`. The observer is not called: ``announce`` tells the caller to report it.
        """
        with self._cond:
            return self._admission(self._clock(), waited_s)

    def _admission(self, now: float, waited_s: float | None) -> Admission:
        """The decision for one caller, with the counters updated (the lock is held)."""
        delay, until, reason = self._decision(now)
        if delay <= 0:
            self._in_flight += 1
            self._admitted += 1
            if waited_s is not None:
                self._waited_s += waited_s
            return Admission(admitted=True)
        if until is not None and waited_s is None:
            self._waits += 1
        announce = until is not None and until > self._reported_until
        if announce and until is not None:
            self._reported_until = until
        return Admission(False, delay, until, reason, announce)

    def _decision(self, now: float) -> tuple[float, float | None, str]:
        """``(delay, until, reason)``: go when ``delay <= 0``; ``until`` is set for waits on the
        rate limit itself (reported), unset for waits on requests in flight."""
        if now < self._blocked_until:
            return self._blocked_until - now, self._blocked_until, "the server answered 429"
        if not self._paced:
            return 0.0, None, ""
        if self._remaining is not None and self._reset_at is not None:
            if now >= self._reset_at + self.margin_s:
                self._remaining = None  # the window is over: its successor's budget is unknown
            elif self._remaining <= 0:
                until = min(self._reset_at + self.margin_s, now + MAX_WAIT_S)
                return until - now, until, "rate-limit window used up"
        if self._remaining is None:
            # learn the budget from one request before sending more
            return (0.0 if self._in_flight == 0 else RECHECK_S), None, ""
        if self._remaining - self._in_flight > 0:
            return 0.0, None, ""
        return RECHECK_S, None, ""

    def release(
        self,
        headers: Mapping[str, str] | None,
        *,
        rate_limited: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        """The request admitted by :meth:`acquire` ended; ``headers`` are its response's (None
        when no response came: it is counted as having used the budget)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._learn(headers, rate_limited, retry_after_s)

    def observe(
        self,
        headers: Mapping[str, str] | None,
        *,
        rate_limited: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        """Learn from a response whose request is no longer counted in flight (a remote
        worker's permit that expired before its answer came back: see
        :class:`influx_etl.sources.workers.BudgetService`). A missing response says nothing."""
        if headers is None and not rate_limited:
            return
        with self._cond:
            self._learn(headers, rate_limited, retry_after_s, used=False)

    def _learn(
        self,
        headers: Mapping[str, str] | None,
        rate_limited: bool,
        retry_after_s: float | None,
        *,
        used: bool = True,
    ) -> None:
        now = self._clock()
        if headers is None:
            if used and self._remaining is not None:
                self._remaining = max(0, self._remaining - 1)
        else:
            self._observe(headers)
        if rate_limited:
            self._rate_limited += 1
            self._consecutive_429 += 1
            self._on_429(now, retry_after_s)
        elif headers is not None:
            self._consecutive_429 = 0
        self._cond.notify_all()

    def _observe(self, headers: Mapping[str, str]) -> None:
        remaining = _int_header(headers, "x-rate-limit-remaining")
        reset_at = _int_header(headers, "x-rate-limit-reset")
        if remaining is None or reset_at is None:
            self._paced = False  # the server states no budget: nothing to pace by
            return
        self._paced = True
        if self._reset_at is None or reset_at > self._reset_at:
            self._remaining, self._reset_at = remaining, float(reset_at)
        elif reset_at == self._reset_at and self._remaining is not None:
            # answers overtake each other: the lowest figure of a window is the latest
            self._remaining = min(self._remaining, remaining)
        # an older window's figure (or one for a window already over) says nothing new

    def _on_429(self, now: float, retry_after_s: float | None) -> None:
        if retry_after_s is not None:
            self._blocked_until = max(self._blocked_until, now + min(retry_after_s, MAX_WAIT_S))
            return
        self._remaining = 0
        if self._reset_at is None or self._reset_at + self.margin_s <= now:
            # no reset, or one already past by our clock: back off, doubling per 429 in a row
            backoff = min(60.0, 2.0 ** (self._consecutive_429 - 1))
            self._blocked_until = max(self._blocked_until, now + backoff)


class Pacing:
    """One :class:`RateBudget` per endpoint (each has its own budget on the API)."""

    def __init__(
        self,
        *,
        margin_s: float = 1.0,
        observer: WaitObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.margin_s = margin_s
        self.observer = observer
        self._clock = clock
        self._budgets: dict[str, RateBudget] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Pacing(endpoints={sorted(self._budgets)})"

    def budget(self, endpoint: str) -> RateBudget:
        with self._lock:
            budget = self._budgets.get(endpoint)
            if budget is None:
                budget = self._budgets[endpoint] = RateBudget(
                    endpoint, margin_s=self.margin_s, observer=self.observer, clock=self._clock
                )
            return budget


def retry_after_seconds(value: str | None) -> float | None:
    """``retry-after`` as seconds (the delay form; an HTTP date is not used by the API)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
