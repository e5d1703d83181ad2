"""How the embedded server behaves: :class:`ApiServerConfig`, checked when it is made.

Every knob is explicit (nothing comes from the environment): where users come from, latency,
the rate limits, the token, the faults, the payload quirks and the size of the synthetic List
graph; :meth:`ApiServerConfig.describe`
states them for a person. The server binds to loopback only (:func:`loopback`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from influx_etl.apisim.contract import API_ENDPOINTS
from influx_etl.apisim.faults import INJECTABLE_STATUSES, QUIRKS
from influx_etl.apisim.synthetic import HANDLE_PATTERN
from influx_etl.config import Secret
from influx_etl.errors import ConfigError, register_secret

UNENFORCED_RATE_LIMIT: Final = 1_000_000
"""Limit reported in the headers when no rate limit is configured (nothing is enforced then)."""

PopulationSource = Path | str | Mapping[str, Mapping[str, Any]]


def loopback(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address of ``host``, which must be a loopback one (``localhost`` is 127.0.0.1)."""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ConfigError(
            f"the API server binds to loopback only: host must be 127.0.0.1 (or another "
            f"127.x.x.x), ::1 or localhost, got {host!r}"
        )
    return address


@dataclass(frozen=True)
class ApiServerConfig:
    """How the embedded server behaves; every knob is explicit, nothing comes from the environment.

    ``population`` is a JSONL file of recorded API user objects, or such objects already loaded
    (a mapping whose values are user objects, e.g. from :func:`load_population`; each is filed
    under its own ``username``). ``synthetic`` answers handles outside the population with
    generated profiles (else they are not found). ``latency_s + per_user_latency_s * n`` is slept
    per request of ``n`` usernames (or List members). ``rate_limit`` requests per ``window_s`` per
    endpoint are allowed when set; ``endpoint_rate_limits`` sets an endpoint's own limit instead
    (keys from :data:`~influx_etl.apisim.contract.API_ENDPOINTS`). ``required_token`` demands
    ``Authorization: Bearer <token>``. The first ``fail_first_n`` requests are answered
    ``fail_status`` (one of 500, 502, 503, 504) to exercise retries. ``list_universe``,
    ``list_count`` and ``list_extra_handles`` shape the synthetic List graph
    (:mod:`~influx_etl.apisim.lists`).
    """

    population: PopulationSource | None = None
    synthetic: bool = True
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    latency_s: float = 0.0
    per_user_latency_s: float = 0.0
    rate_limit: int | None = None
    window_s: float = 900.0
    required_token: Secret | str | None = field(default=None, repr=False)
    fail_first_n: int = 0
    fail_status: int = 503
    fault_429_rate: float = 0.0
    fault_5xx_rate: float = 0.0
    fault_timeout_rate: float = 0.0
    fault_malformed_rate: float = 0.0
    fault_partial_rate: float = 0.0
    fault_hold_s: float = 35.0
    """How long a ``fault_timeout_rate`` response is held (the pipeline's client waits 30 s)."""
    fault_retry_after_s: int = 1
    """``retry-after`` of the injected 429s (whole seconds, as HTTP has it)."""
    invalid_handles: frozenset[str] = frozenset()
    """Handles (any case) whose presence in a request makes it a 400."""
    quirks: frozenset[str] = frozenset()
    """Payload quirks of every 200 lookup answer (names from :data:`QUIRKS`)."""
    endpoint_rate_limits: Mapping[str, int] = field(default_factory=dict)
    """Requests per window of one endpoint, instead of ``rate_limit`` (enforced for it alone)."""
    list_universe: int = 20_000
    """The List graph's members: the first this many active synthetic handles (with
    ``synthetic``), beside the population and ``list_extra_handles``."""
    list_count: int = 300
    """How many Lists the synthetic List graph has."""
    list_extra_handles: tuple[str, ...] = ()
    """More handles that belong to the List graph (those the server answers as active)."""

    def __post_init__(self) -> None:
        loopback(self.host)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 (any free port) and 65535, got {self.port}")
        if self.latency_s < 0 or self.per_user_latency_s < 0:
            raise ConfigError("latency_s and per_user_latency_s must be >= 0")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError(
                f"rate_limit must be >= 1 request per window (or None), got {self.rate_limit}"
            )
        if not self.window_s > 0:
            raise ConfigError(f"window_s must be > 0 seconds, got {self.window_s}")
        if self.fail_first_n < 0:
            raise ConfigError(f"fail_first_n must be >= 0, got {self.fail_first_n}")
        if self.fail_status not in INJECTABLE_STATUSES:
            raise ConfigError(
                f"fail_status must be one of {', '.join(map(str, INJECTABLE_STATUSES))}, "
                f"got {self.fail_status}"
            )
        rates = (
            self.fault_429_rate,
            self.fault_5xx_rate,
            self.fault_timeout_rate,
            self.fault_malformed_rate,
        )
        if not all(0.0 <= rate <= 1.0 for rate in (*rates, self.fault_partial_rate)):
            raise ConfigError("fault rates must be between 0 and 1")
        if sum(rates) > 1.0:
            raise ConfigError(
                f"the 429, 5xx, timeout and malformed fault rates add up to {sum(rates):g}; "
                "they must add up to at most 1"
            )
        if self.fault_hold_s < 0 or self.fault_retry_after_s < 0:
            raise ConfigError("fault_hold_s and fault_retry_after_s must be >= 0")
        object.__setattr__(
            self, "invalid_handles", frozenset(h.lower() for h in self.invalid_handles)
        )
        unknown = sorted(set(self.quirks) - set(QUIRKS))
        if unknown:
            raise ConfigError(
                f"unknown payload quirk {', '.join(unknown)}: expected one of {', '.join(QUIRKS)}"
            )
        object.__setattr__(self, "quirks", frozenset(self.quirks))
        self._check_lists()
        if isinstance(self.required_token, str):
            if not self.required_token:
                raise ConfigError("required_token must not be empty (use None for no token)")
            register_secret(self.required_token)

    def _check_lists(self) -> None:
        unknown = sorted(set(self.endpoint_rate_limits) - set(API_ENDPOINTS))
        if unknown:
            raise ConfigError(
                f"endpoint_rate_limits names an unknown endpoint {', '.join(unknown)}: "
                f"expected one of {', '.join(API_ENDPOINTS)}"
            )
        low = {path: limit for path, limit in self.endpoint_rate_limits.items() if limit < 1}
        if low:
            raise ConfigError(f"endpoint rate limits must be >= 1 request per window, got {low}")
        object.__setattr__(self, "endpoint_rate_limits", dict(self.endpoint_rate_limits))
        if self.list_universe < 0 or self.list_count < 0:
            raise ConfigError("list_universe and list_count must be >= 0")
        extras = tuple(self.list_extra_handles)
        bad = [handle for handle in extras if not HANDLE_PATTERN.match(handle)]
        if bad:
            raise ConfigError(
                f"list_extra_handles holds {len(bad)} invalid handle(s), e.g. {bad[0]!r}: "
                "expected 1-15 characters of [A-Za-z0-9_]"
            )
        object.__setattr__(self, "list_extra_handles", extras)

    def rate_limit_of(self, endpoint: str) -> int | None:
        """The requests per window enforced on ``endpoint``, or None when it is not enforced."""
        return self.endpoint_rate_limits.get(endpoint, self.rate_limit)

    @property
    def token(self) -> str | None:
        token = self.required_token
        return token.reveal() if isinstance(token, Secret) else token

    def describe(self, population_size: int | None = None) -> list[str]:
        """Human-readable lines stating the latency model, limits and data sources (no secrets)."""
        budget = (
            f"{self.rate_limit} requests per {self.window_s:g} s window per endpoint (enforced)"
            if self.rate_limit is not None
            else f"not enforced (headers report {UNENFORCED_RATE_LIMIT})"
        )
        if self.population is None:
            population = "none"
        elif isinstance(self.population, Path | str):
            loaded = "" if population_size is None else f"{population_size} recorded users from "
            population = f"{loaded}{self.population}"
        else:
            population = f"{len(self.population)} preloaded users"
        lines = [
            f"latency model: {self.latency_s * 1000:g} ms per request "
            f"+ {self.per_user_latency_s * 1000:g} ms per username",
            f"rate limit: {budget}",
            *(
                f"rate limit of {path}: {limit} requests per {self.window_s:g} s window (enforced)"
                for path, limit in sorted(self.endpoint_rate_limits.items())
            ),
            f"population: {population}; synthetic profiles: "
            + (f"on (seed {self.seed})" if self.synthetic else "off (unknown handles not found)"),
            "token: " + ("required" if self.required_token is not None else "not required"),
        ]
        if self.fail_first_n:
            lines.append(f"faults: first {self.fail_first_n} requests answer {self.fail_status}")
        random_faults = {
            "429": self.fault_429_rate,
            "5xx": self.fault_5xx_rate,
            f"timeout ({self.fault_hold_s:g} s)": self.fault_timeout_rate,
            "malformed body": self.fault_malformed_rate,
            "partial answer (per user)": self.fault_partial_rate,
        }
        if any(random_faults.values()):
            lines.append(
                "random faults (seed "
                f"{self.seed}): "
                + ", ".join(f"{name} {rate:.0%}" for name, rate in random_faults.items() if rate)
            )
        if self.invalid_handles:
            lines.append(f"handles refused with 400: {len(self.invalid_handles)}")
        if self.quirks:
            lines.append(f"payload quirks: {', '.join(sorted(self.quirks))}")
        members = [f"{self.list_universe} synthetic accounts"] if self.synthetic else []
        if self.population is not None:
            members.append("the population")
        if self.list_extra_handles:
            members.append(f"{len(self.list_extra_handles)} extra handles")
        lines.append(
            f"Lists: {self.list_count} synthetic Lists over {' + '.join(members) or 'nobody'} "
            "(built at the first Lists request)"
        )
        return lines
