"""Injected faults and payload quirks: the ways the embedded server can be told to answer badly.

``--fail-first-n`` and the ``--fault-*`` rates (:class:`Faults`, :func:`injected`) replace a whole
answer by an error, a timeout or a malformed body, or leave found users out of it; the payload
quirks (``--quirk NAME``, :data:`QUIRKS`, :func:`with_quirks`) reshape a good answer the way odd
real answers look. Which request gets which fault is drawn from streams seeded by the config's
``seed``, so a run can be repeated.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, Final, Protocol

from influx_etl.apisim.contract import (
    REASONS,
    RESOURCE_NOT_FOUND,
    Reply,
    problem,
    user_error,
)

INJECTABLE_STATUSES: Final = (500, 502, 503, 504)

QUIRKS: Final = {
    "error-without-value": "errors[] entries carry no 'value' (only 'resource_id')",
    "unknown-error-title": "the errors[] entry of a handle not found has a title and type the "
    "API documents nowhere ('Unexpected Lookup Error', about:blank)",
    "error-for-unasked-handle": "errors[] also names a handle nobody asked for",
    "empty-data": 'an answer with no user found still has "data": [] (beside its errors)',
    "empty-answer": 'every lookup is answered 200 {"data": []}: no user, no error',
    "absent-pinned-post": "users keep their pinned_tweet_id, but includes.tweets is left out",
    "unrequested-user": "data also holds a user no requested username matches (bulk endpoint)",
}
"""Payload quirks the server can be asked for (``ApiServerConfig.quirks``), with what they do."""
UNASKED_HANDLE: Final = "nobody_asked"
"""The handle of the ``error-for-unasked-handle`` entry."""
STRAY_USER: Final = {"id": "1999999999999999999", "username": "StrayUser", "name": "Stray"}
"""The user the ``unrequested-user`` quirk adds to every bulk answer."""


class FaultSettings(Protocol):
    """The fault knobs of :class:`~influx_etl.apisim.server_config.ApiServerConfig`."""

    @property
    def seed(self) -> int: ...
    @property
    def fail_first_n(self) -> int: ...
    @property
    def fail_status(self) -> int: ...
    @property
    def fault_429_rate(self) -> float: ...
    @property
    def fault_5xx_rate(self) -> float: ...
    @property
    def fault_timeout_rate(self) -> float: ...
    @property
    def fault_malformed_rate(self) -> float: ...
    @property
    def fault_partial_rate(self) -> float: ...
    @property
    def fault_hold_s(self) -> float: ...
    @property
    def fault_retry_after_s(self) -> int: ...


class Faults:
    """Which request gets which fault, and how many of each were injected (thread-safe)."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._failures_left = settings.fail_first_n
        # separate streams: which request gets which fault does not depend on how the
        # lookups of concurrent requests interleave
        self._random = random.Random(settings.seed)
        self._partial_random = random.Random(settings.seed + 1)

    def take_failure(self) -> bool:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                self._counts["fail_first_n"] += 1
                return True
            return False

    def draw_fault(self) -> tuple[str, int] | None:
        """The random fault this request gets, if any (``429``, ``5xx``, ``timeout``,
        ``malformed``), with a variant number (which 5xx, which malformed body)."""
        settings = self.settings
        with self._lock:
            draw = self._random.random()
            variant = self._random.randrange(1 << 16)
            for kind, rate in (
                ("429", settings.fault_429_rate),
                ("5xx", settings.fault_5xx_rate),
                ("timeout", settings.fault_timeout_rate),
                ("malformed", settings.fault_malformed_rate),
            ):
                if draw < rate:
                    self._counts[kind] += 1
                    return kind, variant
                draw -= rate
            return None

    def partial_fault(self) -> str | None:
        """Whether to leave one found user out: ``omit`` it, or answer it with an ``error``."""
        rate = self.settings.fault_partial_rate
        if not rate:
            return None
        with self._lock:
            if self._partial_random.random() >= rate:
                return None
            self._counts["partial"] += 1
            return "omit" if self._partial_random.random() < 0.5 else "error"

    def counts(self) -> dict[str, int]:
        """Injected faults by kind: ``fail_first_n``, ``429``, ``5xx``, ``timeout``,
        ``malformed``, ``partial`` (users left out)."""
        with self._lock:
            return dict(self._counts)


def injected(settings: FaultSettings, fault: str, variant: int) -> Reply:
    """The reply of an injected fault (step 1 of the order of checks in
    :mod:`influx_etl.apisim.server`)."""
    if fault == "fail_first_n":
        return problem(settings.fail_status, "Injected fault (fail_first_n)")
    if fault == "429":
        reply = problem(429, "Injected fault: too many requests")
        return Reply(429, reply.body, headers={"retry-after": str(settings.fault_retry_after_s)})
    if fault == "5xx":
        status = INJECTABLE_STATUSES[variant % len(INJECTABLE_STATUSES)]
        return problem(status, f"Injected fault: {REASONS[status]}")
    if fault == "timeout":
        reply = problem(504, "Injected fault: held past the client's timeout")
        return Reply(504, reply.body, hold_s=settings.fault_hold_s)
    bodies = (b'{"data":[{"id":"1","username":"trunc', b'{"meta":{"result_count":0}}')
    return Reply(200, {}, raw=bodies[variant % len(bodies)])


def unavailable_error(value: str, parameter: str) -> dict[str, Any]:
    """The ``errors`` entry of a found user a partial fault answers as unavailable."""
    return {
        "value": value,
        "detail": f"Injected partial error: [{value}] could not be looked up right now.",
        "title": "Service Unavailable",
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": value,
        "type": "about:blank",
    }


def with_quirks(body: dict[str, Any], quirks: frozenset[str], parameter: str) -> dict[str, Any]:
    """``body`` reshaped by the payload ``quirks`` (see :data:`QUIRKS`)."""
    if "empty-answer" in quirks:
        return {"data": []}
    errors = list(body.get("errors", []))
    if "unknown-error-title" in quirks:
        errors = [
            {**e, "title": "Unexpected Lookup Error", "type": "about:blank"}
            if e.get("type") == RESOURCE_NOT_FOUND and e.get("title") == "Not Found Error"
            else e
            for e in errors
        ]
    if "error-for-unasked-handle" in quirks:
        errors.append(user_error("not_found", UNASKED_HANDLE, parameter))
    if "error-without-value" in quirks:
        errors = [{k: v for k, v in e.items() if k != "value"} for e in errors]
    if errors:
        body["errors"] = errors
    if "absent-pinned-post" in quirks:
        body.pop("includes", None)
    if "unrequested-user" in quirks and parameter == "usernames":
        body["data"] = [*body.get("data", []), dict(STRAY_USER)]
    if "empty-data" in quirks and "data" not in body:
        body["data"] = []
    return body
