"""Request accounting: each endpoint's rate-limit window and headers, and the served counts.

Every response is counted (:meth:`Accounting.record`) by endpoint and status; a request that
consumes budget is counted in its endpoint's window (each endpoint has its own budget, as on the
real API), which decides the ``x-rate-limit-*`` headers and, with a ``rate_limit`` or that
endpoint's own limit (``endpoint_rate_limits``), the 429s.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from influx_etl.apisim.server_config import UNENFORCED_RATE_LIMIT, ApiServerConfig


@dataclass(frozen=True)
class ServerStats:
    """Counters since the server started. ``usernames`` counts usernames in served lookups and
    users in served List member pages (both are user reads)."""

    requests: int
    by_endpoint: Mapping[str, int]
    by_status: Mapping[int, int]
    usernames: int
    windows: Mapping[str, int] = field(default_factory=dict)
    """Rate-limit windows opened per endpoint (by a request that consumed budget)."""
    faults: Mapping[str, int] = field(default_factory=dict)
    """Injected faults by kind: ``fail_first_n``, ``429``, ``5xx``, ``timeout``, ``malformed``,
    ``partial`` (users left out)."""


@dataclass
class _Window:
    started_at: float
    used: int = 0


class Accounting:
    """The counters and rate-limit windows request handlers share; the lock guards them all."""

    def __init__(self, config: ApiServerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._requests = 0
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._usernames = 0
        self._asked: Counter[str] = Counter()
        """Lookups served per username (lower-cased): a counting server for "asked twice"."""
        self._windows: dict[str, _Window] = {}
        self._windows_opened: Counter[str] = Counter()

    def _window(self, endpoint: str, now: float) -> _Window:
        window = self._windows.get(endpoint)
        # like the real API, a window opens at the first request after the previous one closed;
        # at a whole second (when a window lasts that long), so the reset header is exact
        if window is None or now >= window.started_at + self.config.window_s:
            start = math.floor(now) if self.config.window_s >= 1 else now
            window = self._windows[endpoint] = _Window(started_at=start)
        return window

    def rate_headers(self, endpoint: str, *, consume: bool) -> tuple[bool, dict[str, str]]:
        """Count a request when ``consume`` and say whether it is within the budget."""
        with self._lock:
            window = self._window(endpoint, time.time())
            enforced = self.config.rate_limit_of(endpoint)
            limit = UNENFORCED_RATE_LIMIT if enforced is None else enforced
            allowed = True
            if consume:
                allowed = enforced is None or window.used < limit
                if allowed:
                    if window.used == 0:
                        self._windows_opened[endpoint] += 1
                    window.used += 1
            headers = {
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": str(max(limit - window.used, 0)),
                "x-rate-limit-reset": str(math.ceil(window.started_at + self.config.window_s)),
            }
        return allowed, headers

    def record(self, endpoint: str, status: int, usernames: int) -> None:
        with self._lock:
            self._requests += 1
            self._by_endpoint[endpoint] += 1
            self._by_status[status] += 1
            self._usernames += usernames

    def count_asked(self, keys: Sequence[str]) -> None:
        with self._lock:
            self._asked.update(keys)

    def asked(self) -> dict[str, int]:
        with self._lock:
            return dict(self._asked)

    def stats(self, faults: Mapping[str, int]) -> ServerStats:
        """The counters now, with the injected ``faults`` counted elsewhere."""
        with self._lock:
            return ServerStats(
                requests=self._requests,
                by_endpoint=dict(self._by_endpoint),
                by_status=dict(self._by_status),
                usernames=self._usernames,
                windows=dict(self._windows_opened),
                faults=dict(faults),
            )
