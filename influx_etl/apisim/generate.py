"""Synthetic profiles written as a prefetched users file, for the CPU path at scale.

``influx-generate-profiles --count N --out profiles.jsonl --handles-out handles.txt`` writes the
first ``N`` *active* handles of :func:`~influx_etl.apisim.synthetic.iter_synthetic_handles` as
bare API user objects, one per line (what ``--source prefetched:FILE`` reads), and every handle
met on the way to them — the not-found and suspended ones too, about 7 % more — one per line to
the handles file, which a harvest then takes as its seed list. The handles the API would not
return are answered in the users file as the embedded server answers them: a whole-response line
``{"errors": [...]}`` per chunk (``Not Found Error`` or ``Forbidden`` for a suspended account).

The user objects are the embedded server's synthetic ones (same seed, same profiles), with its
``_influx_origin: "synthetic"`` mark: a harvest of the file goes to the *synthetic* dataset of its
``--data-dir`` (:func:`~influx_etl.sources.prefetched.prefetched_kind`), never the live one.

Output is a pure function of ``count`` and ``seed``: the same bytes with any number of worker
processes (chunks are made in parallel and written in order).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from influx_etl.apisim.answers import UserLookup
from influx_etl.apisim.server_config import ApiServerConfig
from influx_etl.apisim.synthetic import handle_status, iter_synthetic_handles, synthetic_user
from influx_etl.errors import ConfigError, SourceError

CHUNK_HANDLES: Final = 5_000
"""Handles per unit of work of a worker process (and per ``errors`` line at most)."""


@dataclass(frozen=True)
class GeneratedFiles:
    """What :func:`write_profiles` wrote."""

    profiles_path: Path
    handles_path: Path | None
    profiles: int
    """User objects in the users file (the active handles)."""
    handles: int
    """Handles in the handles file: the active ones plus the not-found and suspended ones."""
    not_found: int
    suspended: int
    bytes: int
    """Size of the users file."""
    sha256: str
    """SHA-256 of the users file."""


def handle_chunks(count: int, seed: int) -> Iterator[list[str]]:
    """The handles up to the ``count``-th active one, in chunks of :data:`CHUNK_HANDLES`."""
    active = 0
    chunk: list[str] = []
    for handle in iter_synthetic_handles(seed):
        if active >= count:
            break
        chunk.append(handle)
        # the status is cheap (one digest); the profile is made in the worker
        active += handle_status(handle, seed) == "active"
        if len(chunk) == CHUNK_HANDLES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def chunk_lines(handles: Sequence[str], seed: int) -> tuple[str, int, int]:
    """The users-file text of one chunk of handles, and its not-found and suspended counts.

    A Python loop by necessity: the profiles come from the per-handle generator (about 30 us a
    profile, measured); the worker processes share it out.
    """
    lines: list[str] = []
    missing: list[str] = []
    suspended = 0
    for handle in handles:
        status = handle_status(handle, seed)
        if status != "active":
            missing.append(handle)
            suspended += status == "suspended"
            continue
        user = synthetic_user(handle, seed)
        lines.append(json.dumps(user, ensure_ascii=False, separators=(",", ":")))
    if missing:
        answer = UserLookup(ApiServerConfig(seed=seed)).document(missing)
        lines.append(json.dumps(answer, ensure_ascii=False, separators=(",", ":")))
    return "".join(line + "\n" for line in lines), len(missing) - suspended, suspended


def _chunk_lines(args: tuple[list[str], int]) -> tuple[str, int, int]:
    return chunk_lines(*args)


def write_profiles(
    count: int,
    profiles_path: Path,
    handles_path: Path | None = None,
    *,
    seed: int = 0,
    workers: int | None = None,
) -> GeneratedFiles:
    """Write ``count`` synthetic user objects to ``profiles_path`` (JSONL) and the handles met
    to ``handles_path`` (one a line); ``workers`` processes (default: one per CPU)."""
    if count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    workers = max(1, workers or os.cpu_count() or 1)
    digest = hashlib.sha256()
    size = handles = not_found = suspended = 0
    work = ((chunk, seed) for chunk in handle_chunks(count, seed))
    try:
        profiles_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            users_file = stack.enter_context(
                profiles_path.open("w", encoding="utf-8", newline="\n")
            )
            handles_file = (
                stack.enter_context(handles_path.open("w", encoding="utf-8", newline="\n"))
                if handles_path is not None
                else None
            )
            pool = stack.enter_context(ProcessPoolExecutor(workers)) if workers > 1 else None
            # a bounded window of chunks in flight keeps memory flat at any count
            while window := list(itertools.islice(work, workers * 2)):
                done = pool.map(_chunk_lines, window) if pool else map(_chunk_lines, window)
                for (chunk, _), (text, missing, gone) in zip(window, done, strict=True):
                    data = text.encode("utf-8")
                    users_file.write(text)
                    digest.update(data)
                    size += len(data)
                    handles += len(chunk)
                    not_found += missing
                    suspended += gone
                    if handles_file is not None:
                        handles_file.write("".join(handle + "\n" for handle in chunk))
    except OSError as error:
        raise SourceError(f"cannot write the generated profiles: {error}") from None
    return GeneratedFiles(
        profiles_path=profiles_path,
        handles_path=handles_path,
        profiles=handles - not_found - suspended,
        handles=handles,
        not_found=not_found,
        suspended=suspended,
        bytes=size,
        sha256=digest.hexdigest(),
    )
