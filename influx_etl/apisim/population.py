"""The recorded population: real API user objects the embedded server answers from.

A population file is JSONL, one API v2 user object per line, optionally wrapped as
``{"data": {...}}`` (or ``{"data": [...]}``, a whole saved response). Objects are kept exactly as
recorded (a legacy ``"verified": "blue"`` string stays a string); the server only trims them to the
requested fields. A line that is not JSON, or holds no object with an ``id`` and a valid
``username``, is reported (``file:line``, via logging) and skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from influx_etl.apisim.synthetic import HANDLE_PATTERN
from influx_etl.errors import SourceError

logger = logging.getLogger(__name__)

Population = Mapping[str, Mapping[str, Any]]
"""Recorded user objects keyed by lower-cased username."""


def _user_objects(value: Any) -> list[Any]:
    """The user objects in one parsed line: the object itself, or what its ``data`` wraps."""
    if isinstance(value, dict) and "username" not in value and "data" in value:
        wrapped = value["data"]
        return list(wrapped) if isinstance(wrapped, list) else [wrapped]
    return [value]


def _problem(user: Any) -> str | None:
    """Why ``user`` cannot be served, or None when it can."""
    if not isinstance(user, dict):
        return f"expected a JSON object, got {type(user).__name__}"
    user_id = user.get("id")
    if not (isinstance(user_id, str) and user_id.isdigit()) and not (
        isinstance(user_id, int) and not isinstance(user_id, bool) and user_id > 0
    ):
        return f'expected "id" as a decimal string, got {user_id!r}'
    username = user.get("username")
    if not isinstance(username, str) or not HANDLE_PATTERN.match(username):
        return f'expected "username" of 1-15 characters [A-Za-z0-9_], got {username!r}'
    return None


def _normalised(user: dict[str, Any]) -> dict[str, Any]:
    # ids are strings end to end; an integer id in a hand-made file is accepted and converted
    return {**user, "id": str(user["id"])} if isinstance(user["id"], int) else user


def load_population(path: Path | str) -> dict[str, dict[str, Any]]:
    """Read a population file; bad lines are logged as ``file:line: reason`` and skipped.

    Raises :class:`~influx_etl.errors.SourceError` when the file cannot be read at all.
    """
    source = Path(path)
    try:
        raw_lines = source.read_bytes().splitlines()
    except OSError as error:
        raise SourceError(
            f"cannot read population file {source}: {error.strerror or error}; "
            "expected a JSONL file of API user objects"
        ) from error

    population: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, int] = {}
    for line_number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            parsed = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            logger.warning(
                "%s:%d: skipped: not valid JSON (%s); expected one API user object per line",
                source,
                line_number,
                error,
            )
            continue
        for user in _user_objects(parsed):
            problem = _problem(user)
            if problem is not None:
                logger.warning("%s:%d: skipped: %s", source, line_number, problem)
                continue
            key = user["username"].lower()
            if key in population:
                logger.warning(
                    "%s:%d: skipped: duplicate of @%s first seen on line %d",
                    source,
                    line_number,
                    user["username"],
                    first_seen[key],
                )
                continue
            population[key] = _normalised(user)
            first_seen[key] = line_number
    logger.info("loaded %d recorded users from %s", len(population), source)
    return population


def population_from_users(users: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Key preloaded user objects by lower-cased username (the first of duplicates wins).

    Objects without an ``id`` or a valid ``username`` are logged and skipped, as in a file.
    """
    population: dict[str, dict[str, Any]] = {}
    for index, user in enumerate(users):
        plain = dict(user) if isinstance(user, Mapping) else user
        problem = _problem(plain)
        if problem is not None:
            logger.warning("population entry %d: skipped: %s", index, problem)
            continue
        population.setdefault(plain["username"].lower(), _normalised(plain))
    return population
