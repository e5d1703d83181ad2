"""Lookup source types and the engine that looks one batch up.

A :class:`LookupSource` turns one batch of handles into one :class:`RawBatch`: the API document
(``{"data": [...], "errors": [...], "includes": {...}}``) plus what the transport saw. The pipeline
never knows whether the batch went to api.x.com, to the embedded server, to the Rube MCP server or
to a prefetched file: all of them answer in the API's own response format, and
:mod:`influx_etl.lookup` normalises that one format.

The factory that picks a source from the settings is :func:`influx_etl.sources.open_source`.

How one batch is looked up (:class:`BatchFetcher`, shared by the HTTP and MCP sources):

* each request is retried on 5xx, timeouts, connection errors and malformed bodies with
  exponential backoff and jitter (tenacity), bounded in attempts and time; a 429 waits for the
  window (the shared :class:`~influx_etl.sources.pacing.RateBudget` holds every worker) and is
  retried
  without counting as an attempt; 401/403 stop the run;
* a 400 splits the batch in halves until the handles the API refuses are alone: they end as
  ``invalid``, the others are looked up;
* handles a 200 answered neither in ``data`` nor with a definitive error (not found, suspended,
  invalid) are asked again, up to ``max_attempts`` rounds;
* a batch answered by one ``/2/users/by`` response is stored byte for byte. One answered by
  several (a split, a second round, one request per handle on the per-user endpoint) or by a
  single-user document (``{"data": {...}}``) is stored as one document in the bulk format,
  merging the answers per handle, with every response body verbatim under
  ``_influx_responses``; a batch that still has unanswered handles carries the last error too,
  so those handles end as ``failed`` (and a resumed run asks again).

``LookupSettings.endpoint`` chooses the HTTP sources' endpoint: ``bulk`` (``/2/users/by``) or
``per-user`` (``/2/users/by/username/{u}``, one request per handle, paced on its own budget).

``LookupSettings.backend`` chooses where the HTTP sources' workers run: threads of this process
(``threading``), worker processes (``loky``) or a Dask cluster (``dask``); the last two are a
:class:`WorkerLookupSource` from :mod:`influx_etl.sources.workers`, paced by one budget for all
workers.
Prefetched files and the MCP route refuse the other backends (they have nothing to spread).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from influx_etl.config import LOOKUP_ENDPOINTS, LookupSettings
from influx_etl.errors import (
    BadRequestError,
    ConfigError,
    RateLimitError,
    SourceError,
    TransportError,
)
from influx_etl.sources.pacing import MAX_WAIT_S, EndpointBudgets
from influx_etl.sources.xclient import ApiResponse, XClient, utc_now_iso

log = logging.getLogger(__name__)

DatasetKind = Literal["live", "simulated"]
"""``simulated`` sources (the embedded server) write to the synthetic dataset, not the live one."""

SIM_SOURCES = ("sim", "embedded")
"""Names of the embedded server source (``embedded`` is the older name)."""

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
RESPONSES_FIELD = "_influx_responses"
"""Key of a merged batch document holding every response it was made from, verbatim."""

MAX_RATE_LIMIT_RETRIES = 20
"""429s one request may meet before its batch is recorded as failed (each waits its window)."""


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
        handle (ten million handles as Python strings took 17 s and 1 GB)."""
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
    """The outcome an API ``errors[]`` entry gives its handle (mirrored by
    :func:`influx_etl.lookup.profiles`): ``suspended``, ``not_found``, ``invalid``, or ``failed``
    for anything else (a transient problem: worth asking again)."""
    title = error.get("title")
    detail = str(error.get("detail") or "").lower()
    kind = error.get("type")
    if "suspended" in detail or title == "Forbidden":
        return "suspended"
    if kind == PROBLEM_INVALID or title == "Invalid Request":
        return "invalid"
    if kind == PROBLEM_NOT_FOUND or title == "Not Found Error":
        return "not_found"
    return "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one request (see :class:`BatchFetcher`)."""

    max_attempts: int = 4
    max_retry_time_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_rate_limit_retries: int = MAX_RATE_LIMIT_RETRIES

    @classmethod
    def from_settings(cls, settings: LookupSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            max_retry_time_s=settings.max_retry_time_s,
            backoff_base_s=settings.backoff_base_s,
        )


Request = Callable[[Sequence[str], int], ApiResponse]
"""Sends one lookup of some handles for a batch id; raises the :mod:`influx_etl.errors` lookup
errors (:class:`TransportError`, :class:`RateLimitError`, :class:`BadRequestError`, AuthError)."""


class _BatchAnswers:
    """Everything the responses to one batch said, merged per handle."""

    def __init__(self, batch_id: int, handles: Sequence[str]) -> None:
        self.batch_id = batch_id
        self.handles = tuple(handles)
        self.keys = {handle.lower() for handle in handles}
        self.responses: list[tuple[tuple[str, ...], ApiResponse]] = []
        self.rejected: list[tuple[tuple[str, ...], BadRequestError]] = []
        self.users: dict[str, Any] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.invalid: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, Any] = {}
        self.unrequested: dict[str, Any] = {}
        """Users of the answers no handle of the batch matches: kept in a merged document, where
        :func:`influx_etl.lookup.profiles` counts and ignores them as in a verbatim one."""
        self.attempts = 0
        self.elapsed_s = 0.0
        self.error: str | None = None
        self.single_user_documents = False
        """Whether a response came from the per-user endpoint (``data`` one object): then the
        batch is stored merged in the bulk format that :func:`influx_etl.lookup.profiles` reads."""

    def add(self, requested: Sequence[str], response: ApiResponse) -> None:
        # One small parse per response (at most 100 users) decides which handles to ask again.
        self.responses.append((tuple(requested), response))
        self.elapsed_s += response.elapsed_s
        document = json.loads(response.body)
        wanted = {h.lower() for h in requested}
        data = document.get("data")
        self.single_user_documents |= isinstance(data, dict)
        for user in data if isinstance(data, list) else [data] if data else []:
            key = str(user.get("username", "")).lower() if isinstance(user, dict) else ""
            if key in wanted:
                self.users[key] = user
                self.errors.pop(key, None)
            elif key and key not in self.keys:
                self.unrequested.setdefault(key, user)
        errors = document.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            key = str(error.get("value") or error.get("resource_id") or "").lower()
            if key in wanted and key not in self.users:
                self.errors[key] = error
        tweets = (document.get("includes") or {}).get("tweets")
        for tweet in tweets if isinstance(tweets, list) else []:
            if isinstance(tweet, dict) and "id" in tweet:
                self.tweets.setdefault(str(tweet["id"]), tweet)

    def reject(self, handle: str, error: BadRequestError) -> None:
        self.rejected.append(((handle,), error))
        self.invalid[handle.lower()] = {
            "value": handle,
            "detail": f"The API refused a request holding only this username (HTTP 400): "
            f"{error.body[:300]}",
            "title": "Invalid Request",
            "resource_type": "user",
            "parameter": "usernames",
            "resource_id": handle,
            "type": PROBLEM_INVALID,
        }

    def unanswered(self) -> list[str]:
        """Handles with no definitive answer yet (not found, suspended, invalid or a user); a
        handle the batch holds twice (``Foo``, ``foo``) once."""
        return [
            handle
            for handle in _distinct(self.handles)
            if (key := handle.lower()) not in self.users
            and key not in self.invalid
            and (key not in self.errors or error_outcome(self.errors[key]) == "failed")
        ]

    def raw_batch(self, default_origin: str) -> RawBatch:
        last = self.responses[-1][1] if self.responses else None
        requested_at = self.responses[0][1].requested_at if self.responses else utc_now_iso()
        if not self.responses and not self.rejected:
            body: str | None = None
        elif len(self.responses) == 1 and not self.rejected and not self.single_user_documents:
            body = self.responses[0][1].body  # the common case: stored byte for byte
        else:
            body = self._merged()
        return RawBatch(
            batch_id=self.batch_id,
            handles=self.handles,
            requested_at=requested_at,
            status=last.status if last else (400 if self.rejected else None),
            body=body,
            error=self.error,
            attempts=self.attempts,
            elapsed_s=self.elapsed_s,
            rate_limit=dict(last.rate_limit) if last else {},
            default_origin=default_origin,
        )

    def _merged(self) -> str:
        keys = [h.lower() for h in self.handles]
        document: dict[str, Any] = {}
        users = [self.users[k] for k in dict.fromkeys(keys) if k in self.users]
        users += self.unrequested.values()
        if users:
            document["data"] = users
        pinned = {str(u.get("pinned_tweet_id")) for u in users if isinstance(u, dict)}
        tweets = [tweet for tweet_id, tweet in self.tweets.items() if tweet_id in pinned]
        if tweets:
            document["includes"] = {"tweets": tweets}
        errors = [
            self.invalid.get(k) or self.errors[k]
            for k in dict.fromkeys(keys)
            if k not in self.users and (k in self.invalid or k in self.errors)
        ]
        if errors:
            document["errors"] = errors
        document[RESPONSES_FIELD] = [
            {"usernames": list(requested), "status": response.status, "body": response.body}
            for requested, response in self.responses
        ] + [
            {"usernames": list(requested), "status": 400, "body": error.body}
            for requested, error in self.rejected
        ]
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _distinct(handles: Sequence[str]) -> list[str]:
    """``handles`` without the later spellings of one handle (they differ in case only)."""
    first: dict[str, str] = {}
    for handle in handles:
        first.setdefault(handle.lower(), handle)
    return list(first.values())


class BatchFetcher:
    """Looks one batch up through a :data:`Request`, with retries, 400 bisection and re-asks.

    ``handles_per_request`` bounds the handles of one request (1 for the per-user endpoint);
    by default a request asks for every handle still pending in the batch.
    """

    def __init__(
        self,
        request: Request,
        policy: RetryPolicy,
        *,
        default_origin: str = "x-api-v2",
        paced: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        handles_per_request: int | None = None,
    ) -> None:
        self.request = request
        self.policy = policy
        self.default_origin = default_origin
        self.paced = paced
        """Whether the request waits for the rate limit itself (a client with pacing)."""
        self._sleep = sleep
        self.handles_per_request = handles_per_request

    def fetch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        answers = _BatchAnswers(batch_id, handles)
        pending = _distinct(handles)
        for round_number in range(1, self.policy.max_attempts + 1):
            try:
                self._resolve(pending, answers)
            except (TransportError, RateLimitError) as exc:
                answers.error = str(exc)
                log.warning(
                    "batch %d failed after %d request(s): %s", batch_id, answers.attempts, exc
                )
                break
            pending = answers.unanswered()
            if not pending:
                break
            if round_number < self.policy.max_attempts:
                log.info(
                    "batch %d: %d handle(s) got no definitive answer; asking again",
                    batch_id,
                    len(pending),
                )
        else:
            answers.error = (
                f"batch {batch_id}: no definitive answer for {len(pending)} handle(s) after "
                f"{self.policy.max_attempts} round(s): {', '.join(pending[:10])}"
            )
        return answers.raw_batch(self.default_origin)

    def _resolve(self, handles: Sequence[str], answers: _BatchAnswers) -> None:
        size = self.handles_per_request
        if size is not None and len(handles) > size:
            for start in range(0, len(handles), size):
                self._resolve(handles[start : start + size], answers)
            return
        try:
            response = self._request(handles, answers)
        except BadRequestError as exc:
            if exc.parameters and not {"usernames", "username"} & set(exc.parameters):
                raise  # the request itself is wrong, not a handle: every batch would fail
            if len(handles) == 1:
                log.warning(
                    "batch %d: the API refuses @%s (HTTP 400)", answers.batch_id, handles[0]
                )
                answers.reject(handles[0], exc)
                return
            middle = len(handles) // 2
            self._resolve(handles[:middle], answers)
            self._resolve(handles[middle:], answers)
            return
        answers.add(handles, response)

    def _request(self, handles: Sequence[str], answers: _BatchAnswers) -> ApiResponse:
        policy = self.policy
        rate_limited = 0
        transient = 0
        first_failure: float | None = None

        def stop(state: RetryCallState) -> bool:
            nonlocal rate_limited, transient, first_failure
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimitError):
                rate_limited += 1
                return rate_limited > policy.max_rate_limit_retries
            transient += 1
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            return transient >= policy.max_attempts or now - first_failure >= (
                policy.max_retry_time_s
            )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimitError):
                if self.paced:
                    # the shared budget holds every worker until the window resets
                    return 0.0
                if exc.retry_after_s is not None:
                    return min(MAX_WAIT_S, exc.retry_after_s)
                if exc.reset_at is not None:
                    return min(MAX_WAIT_S, max(0.0, exc.reset_at - time.time()) + 0.5)
            backoff = policy.backoff_base_s * 2.0 ** max(0, transient - 1)
            return min(policy.backoff_max_s, backoff) * random.uniform(0.5, 1.0)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info("batch %d: retrying after: %s", answers.batch_id, exc)

        retrying = Retrying(
            retry=retry_if_exception_type((TransportError, RateLimitError)),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                answers.attempts += 1
                return self.request(handles, answers.batch_id)
        raise AssertionError("unreachable: tenacity either returns or reraises")


class HttpSource:
    """The X API (or any server speaking its contract) through :class:`XClient`.

    See the module doc for retries, 429s, 400 bisection and re-asks. A batch that still fails
    becomes a ``RawBatch`` with ``error`` set (its unanswered handles end as ``failed``), so one
    bad batch never stops the run. 401/403 (:class:`~influx_etl.errors.AuthError`) do stop it.
    """

    def __init__(
        self,
        client: XClient,
        *,
        name: str,
        kind: DatasetKind,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_time_s: float = 300.0,
        policy: RetryPolicy | None = None,
        endpoint: str = "bulk",
    ) -> None:
        if endpoint not in LOOKUP_ENDPOINTS:
            raise ConfigError(
                f"unknown lookup endpoint {endpoint!r}: expected one of "
                f"{', '.join(LOOKUP_ENDPOINTS)}"
            )
        self.client = client
        self.name = name
        self.kind = kind
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy(
            max_attempts=max_attempts,
            max_retry_time_s=max_retry_time_s,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
        self._fetcher = BatchFetcher(
            self._request,
            self.policy,
            paced=client.pacing is not None,
            handles_per_request=1 if endpoint == "per-user" else None,
        )

    def __repr__(self) -> str:
        return (
            f"HttpSource(name={self.name!r}, kind={self.kind!r}, endpoint={self.endpoint!r}, "
            f"client={self.client!r})"
        )

    def _request(self, handles: Sequence[str], batch_id: int) -> ApiResponse:
        if self.endpoint == "per-user":
            (handle,) = handles  # the fetcher sends one handle per request on this endpoint
            return self.client.user_by_username(handle, batch_id=batch_id)
        return self.client.users_by_usernames(handles, batch_id=batch_id)

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        return self._fetcher.fetch(batch_id, handles)


class PrefetchedSource:
    """User objects saved to a JSONL file earlier (the Rube MCP route's output, or an export).

    A line may hold the bare user object, wrap it as ``{"data": {...}}``, or be a whole API
    response (``{"data": [...], "errors": [...]}``, whose ``errors`` entries count too). Lines
    that hold none of these are reported with file and line and skipped. Handles in neither are
    ``not_found``, with a detail saying the file does not have them.

    It is a :class:`BulkLookupSource`: a run stores, per batch, a reference to the file
    (:class:`RawFile`: path, size, SHA-256), and :func:`influx_etl.lookup.profiles` reads the
    file once, vectorised, joining it to the requested handles. :meth:`fetch_batch` answers one
    batch as a document, like the API (the file is then read into dicts on first use).
    """

    kind: DatasetKind = "live"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"prefetched:{path}"
        self._answers: _FileAnswers | None = None
        self._answers_lock = threading.Lock()
        # The file's SHA-256 (0.35 s for 570 MB) is computed while the run does other work;
        # hashlib lets go of the GIL. A file changed afterwards is hashed again when read.
        self._hashing = threading.Thread(target=self._hash, name=f"sha256:{path.name}", daemon=True)
        self._hashing.start()

    def __repr__(self) -> str:
        return f"PrefetchedSource({str(self.path)!r})"

    def _hash(self) -> None:
        with contextlib.suppress(OSError):  # fetch_batches hashes again and reports it
            RawFile.of(self.path)

    def bulk_answer(self) -> RawBatch:
        self._hashing.join()
        try:
            reference = RawFile.of(self.path)
        except OSError as exc:
            raise SourceError(f"cannot read prefetched users file {self.path}: {exc}") from None
        return RawBatch(
            batch_id=-1,
            handles=(),
            requested_at=utc_now_iso(),
            status=200,
            body=None,
            default_origin="prefetched",
            raw_file=reference,
        )

    def fetch_batches(self, work: Sequence[tuple[int, Sequence[str]]]) -> list[RawBatch]:
        answer = self.bulk_answer()
        return [
            replace(answer, batch_id=batch_id, handles=tuple(handles)) for batch_id, handles in work
        ]

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        with self._answers_lock:
            if self._answers is None:
                self._answers = _prefetched_answers(self.path)
        answers = self._answers
        requested_at = utc_now_iso()
        found: list[str] = []
        errors: list[str] = []
        for handle in handles:
            key = handle.lower()
            if key in answers.users:
                found.append(answers.users[key])
            elif key in answers.errors:
                errors.append(answers.errors[key])
            elif key in answers.broken_named:
                errors.append(json.dumps(self._on_broken_line(handle), ensure_ascii=False))
            else:
                errors.append(json.dumps(self._not_in_file(handle), ensure_ascii=False))
        parts = []
        if found:
            parts.append('"data":[' + ",".join(found) + "]")
        if errors:
            parts.append('"errors":[' + ",".join(errors) + "]")
        if answers.broken_lines:
            damage = {"file": str(self.path.resolve()), "broken_lines": answers.broken_lines}
            parts.append(f'"{INPUT_DAMAGE_FIELD}":' + json.dumps(damage, ensure_ascii=False))
        return RawBatch(
            batch_id=batch_id,
            handles=tuple(handles),
            requested_at=requested_at,
            status=200,
            body="{" + ",".join(parts) + "}",
            default_origin="prefetched",
        )

    def _not_in_file(self, handle: str) -> dict[str, str]:
        detail = NOT_IN_FILE_DETAIL.format(handle=handle, file=self.path.name)
        unnamed = self._answers.broken_unnamed if self._answers else []
        if unnamed:
            detail += " " + broken_lines_detail(unnamed, self.path.name)
        return {
            "value": handle,
            "detail": detail,
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "usernames",
            "resource_id": handle,
            "type": PROBLEM_NOT_FOUND,
        }

    def _on_broken_line(self, handle: str) -> dict[str, str]:
        lines = self._answers.broken_named[handle.lower()] if self._answers else []
        detail = BROKEN_LINE_DETAIL.format(
            handle=handle, lines=", ".join(map(str, lines)), file=self.path.name
        )
        # a title the API does not use: the outcome is ``failed`` (see error_outcome)
        return {"value": handle, "detail": detail, "title": BROKEN_LINE_TITLE}


USERNAME_IN_TEXT = re.compile(rb'"username"\s*:\s*"([A-Za-z0-9_]{1,15})"')
"""A handle named in the text of a line that is not JSON (e.g. truncated)."""


@dataclass(frozen=True)
class _FileAnswers:
    users: dict[str, str]
    """Lower-case username -> user object JSON."""
    errors: dict[str, str]
    """Lower-case handle -> errors[] entry JSON."""
    broken_named: dict[str, list[int]]
    """Lower-case handle -> the broken lines naming it."""
    broken_unnamed: list[int]
    """Broken lines naming no handle."""
    broken_lines: list[int]
    """Every broken line, in file order."""


def _prefetched_answers(path: Path) -> _FileAnswers:
    """What a JSONL file answers: users and errors[] entries by lower-case handle, and which of
    its lines are broken JSON.

    A plain loop over lines: reading the file is I/O at the edge, and each line may hold one
    object or a whole response (a list of users): a shape Polars' JSON decoding has no type for.
    Lines are split at ``\\n`` only: a user's bio may hold U+2028 and other line separators.
    """
    users: dict[str, str] = {}
    errors: dict[str, str] = {}
    broken_named: dict[str, list[int]] = {}
    broken_unnamed: list[int] = []
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise SourceError(f"cannot read prefetched users file {path}: {exc}") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value: Any = json.loads(raw)
        except ValueError as exc:
            names = list(dict.fromkeys(m.decode().lower() for m in USERNAME_IN_TEXT.findall(raw)))
            for name in names:
                broken_named.setdefault(name, []).append(number)
            if not names:
                broken_unnamed.append(number)
            named = f"; it names @{', @'.join(names)}" if names else ""
            log.warning("%s:%d: skipped: broken JSON (%s)%s", path, number, exc, named)
            continue
        line = raw.decode("utf-8").rstrip("\r")
        if not isinstance(value, dict):
            log.warning("%s:%d: skipped: not a JSON object", path, number)
            continue
        if "username" in value:
            candidates: list[Any] = [value]
            verbatim = True
        else:
            data = value.get("data")
            candidates = data if isinstance(data, list) else [data] if data is not None else []
            verbatim = False
        line_errors = value.get("errors") if "username" not in value else None
        usable = 0
        for user in candidates:
            if not (isinstance(user, dict) and user.get("id") and user.get("username")):
                continue
            usable += 1
            users[str(user["username"]).lower()] = (
                line if verbatim else json.dumps(user, ensure_ascii=False, separators=(",", ":"))
            )
        for error in line_errors if isinstance(line_errors, list) else []:
            key = isinstance(error, dict) and (error.get("value") or error.get("resource_id"))
            if key:
                usable += 1
                errors[str(key).lower()] = json.dumps(error, ensure_ascii=False)
        if not usable:
            log.warning(
                "%s:%d: skipped: not a user object with 'id' and 'username' (bare, "
                'wrapped as {"data": {...}} or in a whole API response)',
                path,
                number,
            )
    broken = sorted({n for numbers in broken_named.values() for n in numbers} | {*broken_unnamed})
    if broken:
        log.error(
            "%s: broken JSON lines (truncated or not JSON): %d; the handles only they could "
            "have answered are reported as such",
            path,
            len(broken),
        )
    # a handle a readable line answers is not in doubt
    for key in [*users, *errors]:
        broken_named.pop(key, None)
    return _FileAnswers(users, errors, broken_named, broken_unnamed, broken)


def resolved_spec(settings: LookupSettings) -> str:
    """``--source`` with ``auto`` resolved (``x-api`` with a token, else ``sim``) and the
    ``embedded`` alias spelled ``sim``."""
    if settings.source == "auto":
        return "x-api" if settings.token is not None else "sim"
    return "sim" if settings.source in SIM_SOURCES else settings.source


def source_kind(settings: LookupSettings) -> DatasetKind:
    """Which dataset the configured source's profiles belong to, without opening the source.

    The embedded server and any ``http://`` server given by address (normally ``influx-api-sim``)
    may serve made-up profiles, so their data goes to the synthetic dataset.
    """
    spec = resolved_spec(settings)
    if spec == "sim" or spec.startswith(("http://", "https://")):
        return "simulated"
    return "live"


def new_http_source(
    settings: LookupSettings,
    base_url: str,
    name: str,
    kind: DatasetKind,
    pacing: EndpointBudgets | None,
) -> HttpSource:
    """An :class:`HttpSource` on ``base_url`` made from ``settings``, paced by ``pacing``; the
    caller closes its client. Workers in other processes make theirs the same way."""
    client = XClient(base_url, settings.token, timeout_s=settings.timeout_s, pacing=pacing)
    return HttpSource(
        client,
        name=name,
        kind=kind,
        policy=RetryPolicy.from_settings(settings),
        endpoint=settings.endpoint,
    )
