"""Lookup source types: what a source is, what it answers, and what an answer's error entry means.

A :class:`LookupSource` turns one batch of handles into one :class:`RawBatch`: the API document
(``{"data": [...], "errors": [...], "includes": {...}}``) plus what the transport saw. The pipeline
never knows whether the batch went to api.x.com, to the embedded server, to the Rube MCP server or
to a prefetched file: all of them answer in the API's own response format, and
:mod:`influx_etl.lookup` normalises that one format. :func:`error_outcome` is the one
classification of the format's ``errors[]`` entries (:data:`ERROR_RULES`; the lookup stage applies
the same rules to columns, :func:`influx_etl.sources.response.error_outcome_expr`).

The sources: :mod:`~influx_etl.sources.http` (the X API, through the retry / split engine of
:mod:`~influx_etl.sources.fetch`), :mod:`~influx_etl.sources.prefetched` (a users file saved
earlier), :mod:`~influx_etl.sources.mcp` (the Rube MCP route) and
:mod:`~influx_etl.sources.workers` (HTTP lookups in worker processes or on a cluster). The factory
that picks one from the settings is :func:`influx_etl.sources.open_source`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

from influx_etl.errors import SourceError

DatasetKind = Literal["live", "simulated"]
"""``simulated`` sources (the embedded server) write to the synthetic dataset, not the live one."""

PROBLEM_NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
PROBLEM_INVALID = "https://api.twitter.com/2/problems/invalid-request"
NOT_IN_FILE_DETAIL = "@{handle} is not in the prefetched users file {file}."
"""The ``detail`` of a handle a prefetched users file does not answer (outcome ``not_found``)."""
BROKEN_LINE_DETAIL = (
    "@{handle} is only named by broken JSON on line {lines} of the prefetched users file {file} "
    "(truncated or not JSON), which may hold it: fix the line and run again with --no-resume."
)
"""The ``detail`` of a handle only a broken line of a prefetched users file names (``failed``)."""
BROKEN_LINE_TITLE = "Broken Line"
"""``title`` of the error entry of a handle only a broken line names (an outcome of ``failed``)."""


def broken_lines_detail(lines: Sequence[int], file: str) -> str:
    """What is added to :data:`NOT_IN_FILE_DETAIL` when ``file`` has broken ``lines`` that name
    no handle: any of them could have held it."""
    listed = ", ".join(str(n) for n in lines[:_BROKEN_SHOWN]) + (
        ", ..." if len(lines) > _BROKEN_SHOWN else ""
    )
    if len(lines) == 1:
        return f"1 broken line in {file} could have held it (line {listed})."
    return f"{len(lines)} broken lines in {file} could have held it (lines {listed})."


_BROKEN_SHOWN = 20
"""Broken lines listed by number in a detail (the rest are counted)."""

INPUT_DAMAGE_FIELD = "_influx_input_damage"
"""Key of a batch document answered from a prefetched file with broken lines: ``file`` and its
``broken_lines`` (line numbers), so the run counts them as a run answered by reference does."""


@dataclass(frozen=True)
class ErrorRule:
    """An ``errors[]`` entry gives its handle ``outcome`` when its ``title`` is ``title``, its
    ``type`` is ``problem``, or its ``detail`` holds ``word`` (in any case)."""

    outcome: str
    title: str
    problem: str | None = None
    word: str | None = None


ERROR_RULES: Final = (
    ErrorRule("suspended", title="Forbidden", word="suspended"),
    ErrorRule("invalid", title="Invalid Request", problem=PROBLEM_INVALID),
    ErrorRule("not_found", title="Not Found Error", problem=PROBLEM_NOT_FOUND),
)
"""The classification of API error entries, in order: the first rule an entry meets decides."""
UNCLASSIFIED_OUTCOME: Final = "failed"
"""The outcome of an entry no rule meets: a transient problem, worth asking again."""


@dataclass(frozen=True)
class RawFile:
    """A file of raw answers kept where it is and stored by reference (``raw_lookups.raw_file``):
    a prefetched users file is itself the raw data, so it is not copied into the dataset."""

    path: str
    """Absolute path."""
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> RawFile:
        """The reference to ``path`` as it is now (its size and SHA-256)."""
        resolved = path.resolve()
        size, digest = _file_digest(resolved)
        return cls(path=str(resolved), bytes=size, sha256=digest)

    def to_json(self) -> str:
        return json.dumps({"path": self.path, "bytes": self.bytes, "sha256": self.sha256})

    @classmethod
    def from_json(cls, text: str) -> RawFile:
        value = json.loads(text)
        return cls(path=str(value["path"]), bytes=int(value["bytes"]), sha256=str(value["sha256"]))

    def checked(self) -> Path:
        """The file, after checking it still holds what was looked up; raises SourceError when it
        is gone or its content changed (a replay would not recompute the same run)."""
        path = Path(self.path)
        try:
            size, digest = _file_digest(path)
        except OSError as exc:
            raise SourceError(
                f"the raw lookups of this run are the file {path}, which cannot be read "
                f"({exc.strerror or exc}); restore it (sha256 {self.sha256}) to replay or resume "
                "the run"
            ) from None
        if digest != self.sha256:
            raise SourceError(
                f"{path} changed since it was looked up (sha256 {digest}, {size} bytes; the run "
                f"read sha256 {self.sha256}, {self.bytes} bytes): refusing to replay or resume "
                "the run from a different file; restore the original, or look the new file up "
                "(--no-resume)"
            )
        return path


_DIGESTS: dict[tuple[str, int, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def _file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, remembered for this process while its size, modification time
    and inode stay the same (a run references its prefetched file, then reads it: one hash)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return stat.st_size, known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest.hexdigest()
    return stat.st_size, digest.hexdigest()


@dataclass(frozen=True)
class RawBatch:
    """What one batch lookup produced, kept verbatim for the raw-lookups table."""

    batch_id: int
    handles: tuple[str, ...]
    requested_at: str
    status: int | None
    body: str | None
    error: str | None = None
    attempts: int = 1
    elapsed_s: float = 0.0
    rate_limit: Mapping[str, str] = field(default_factory=dict)
    default_origin: str = "x-api-v2"
    """Origin of the users in ``body`` unless a user object says otherwise (``_influx_origin``)."""
    raw_file: RawFile | None = None
    """Instead of a ``body``: the file that answers the batch (a bulk source's raw data, read by
    :func:`influx_etl.lookup.profiles`)."""

    @property
    def ok(self) -> bool:
        return (self.body is not None or self.raw_file is not None) and self.error is None


class LookupSource(Protocol):
    """Anything that can look up one batch of handles. Must be safe to call from several threads."""

    name: str
    kind: DatasetKind

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch: ...


@runtime_checkable
class BulkLookupSource(Protocol):
    """A source that holds every answer already (a prefetched file): it answers all batches at
    once with references to its raw data (:attr:`RawBatch.raw_file`), which the pipeline stores
    in one transaction instead of one document per batch."""

    def fetch_batches(self, work: Sequence[tuple[int, Sequence[str]]]) -> list[RawBatch]: ...

    def bulk_answer(self) -> RawBatch:
        """What every batch's answer is, but its ``batch_id`` and ``handles`` (left empty): the
        pipeline stores it for each batch of a frame of handles, without Python objects per
        handle (their cost: docs/performance.md)."""
        ...


@runtime_checkable
class WorkerLookupSource(Protocol):
    """A source whose batches are looked up by joblib workers in other processes (``--backend
    loky``) or on a Dask cluster (``dask``): it brings its own joblib backend and the rate budget
    all its workers share (:mod:`influx_etl.sources.workers`). The batches come back to this
    process as
    they complete, so the store is still written here only."""

    def batches(
        self, work: Sequence[tuple[int, Sequence[str]]], parallel_batches: int
    ) -> Iterator[RawBatch]: ...


@runtime_checkable
class LookupProgress(Protocol):
    """A progress callback (called after each stored batch) that also wants the run's totals
    and the rate-limit waits (the command line's progress display)."""

    def __call__(self, batch: RawBatch, done: int, total: int) -> None: ...

    def lookup_started(self, batches: int, handles: int) -> None: ...

    def waiting(self, until: float, reason: str) -> None: ...


def error_outcome(error: Mapping[str, Any]) -> str:
    """The outcome an API ``errors[]`` entry gives its handle (:data:`ERROR_RULES`): ``suspended``,
    ``not_found``, ``invalid``, or ``failed`` for anything else (a transient problem: worth asking
    again)."""
    title = error.get("title")
    detail = str(error.get("detail") or "").lower()
    problem = error.get("type")
    for rule in ERROR_RULES:
        if (
            title == rule.title
            or (rule.problem is not None and problem == rule.problem)
            or (rule.word is not None and rule.word in detail)
        ):
            return rule.outcome
    return UNCLASSIFIED_OUTCOME
