"""One exception tree for the whole package.

Every error the pipeline raises derives from :class:`InfluxError` and is named after what went
wrong (a seed file, a rules file, a lookup, the store...). Foreign exceptions (httpx, duckdb, yaml,
jsonschema) are mapped to these at the module boundary that touches the foreign library, so callers
only ever catch ``InfluxError`` subclasses.

Errors carry their data as attributes (file, line, key, handle, batch id) and are picklable, because
joblib workers send them back across process boundaries: each class stores its constructor arguments
in ``self.args`` order via ``__reduce__``. Anything that may hold a secret goes through
:func:`mask_secrets` before it becomes part of a message.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

_BEARER = re.compile(r"(?i)(bearer\s+)([A-Za-z0-9%._~+/=-]+)")
_PROSE_WORD_MAX = 20
"""A bearer value of letters only and shorter than this is a word (``token``), not a secret."""
_TOKEN_PARAM = re.compile(r"(?i)((?:token|access_token|bearer_token|api_key)=)[^&\s]+")

_registered_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`mask_secrets` removes it from any text."""
    if value and len(value) >= 4:
        _registered_secrets.add(value)


def _masked_bearer(match: re.Match[str]) -> str:
    # "needs a bearer token": a short word after "bearer" is prose, never a credential
    value = match.group(2)
    if value.isalpha() and len(value) < _PROSE_WORD_MAX:
        return match.group(0)
    return f"{match.group(1)}***"


def mask_secrets(text: str) -> str:
    """Return ``text`` with bearer tokens and registered secret values replaced by ``***``.

    Only values are masked: the words around them (``bearer token``) stay readable."""
    masked = _BEARER.sub(_masked_bearer, text)
    masked = _TOKEN_PARAM.sub(r"\1***", masked)
    for secret in _registered_secrets:
        masked = masked.replace(secret, "***")
    return masked


class SecretMaskingFilter(logging.Filter):
    """A logging filter that masks secrets in every record it passes (defence in depth)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class InfluxError(Exception):
    """Base class of every error raised by influx_etl."""

    def __init__(self, message: str) -> None:
        self.message = mask_secrets(message)
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[InfluxError], state: dict[str, Any]) -> InfluxError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class ConfigError(InfluxError):
    """A setting is missing, out of range or contradicts another one; ``field`` names the
    config field and ``flag`` the command-line option that sets it, when one does."""

    def __init__(self, message: str, *, field: str | None = None, flag: str | None = None) -> None:
        self.field = field
        self.flag = flag
        super().__init__(message)


class FileError(InfluxError):
    """A file a person writes (a seed list, a rules or scoring file, a QA review file) cannot be
    used as it is. The message starts with where: ``file:line [key]``, as far as known."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | str,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = str(file)
        self.line = line
        self.key = key
        where = self.file + (f":{line}" if line is not None else "") + (f" [{key}]" if key else "")
        super().__init__(f"{where}: {message}")


class SeedError(FileError):
    """A seed file could not be read at all (a bad row is reported, not raised)."""


class RulesError(FileError):
    """A rules file is not valid YAML, has a key of the wrong type, or a bad pattern."""


class LookupError_(InfluxError):
    """Base of the lookup failures (trailing underscore: ``LookupError`` is a builtin)."""

    def __init__(self, message: str, *, batch_id: int | None = None) -> None:
        self.batch_id = batch_id
        prefix = f"batch {batch_id}: " if batch_id is not None else ""
        super().__init__(f"{prefix}{message}")


class AuthError(LookupError_):
    """401/403 from the API: retrying will not help; the token or the app's access must be fixed."""

    def __init__(self, message: str, *, status: int, batch_id: int | None = None) -> None:
        self.status = status
        super().__init__(message, batch_id=batch_id)


class TransportError(LookupError_):
    """The request did not produce a usable response (connection, timeout, 5xx, malformed body)."""


class RateLimitError(LookupError_):
    """429 from the API; ``reset_at`` is the epoch second at which the window resets, if known."""

    def __init__(
        self,
        message: str,
        *,
        reset_at: float | None = None,
        batch_id: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.reset_at = reset_at
        self.retry_after_s = retry_after_s
        super().__init__(message, batch_id=batch_id)


class BadRequestError(LookupError_):
    """400 from the API: some handle in the request (or the request itself) was rejected.

    ``body`` is the problem document as received; ``parameters`` are the query parameters it
    names (``usernames`` when handles were refused).
    """

    def __init__(
        self,
        message: str,
        *,
        batch_id: int | None = None,
        body: str = "",
        parameters: tuple[str, ...] = (),
    ) -> None:
        self.body = body
        self.parameters = parameters
        super().__init__(message, batch_id=batch_id)


class ClusterError(LookupError_):
    """The Dask cluster of ``--backend dask`` (or the worker processes of ``loky``) could not be
    reached, had no worker, or lost the work: the address and what happened are in the message.
    The batches stored so far are kept; the same command again resumes."""


class SourceError(InfluxError):
    """A lookup source could not be opened (prefetched file missing, unknown source spec...)."""


class ValidationError(InfluxError):
    """A record failed JSON Schema validation, or the schema itself is unusable."""

    def __init__(
        self, message: str, *, record_id: str | None = None, path: str | None = None
    ) -> None:
        self.record_id = record_id
        self.path = path
        super().__init__(message)


class StoreError(InfluxError):
    """The DuckDB dataset could not be opened, migrated or written."""


class ExportError(InfluxError):
    """The export files could not be written."""


class ScoringError(FileError):
    """The scoring file (composite weights) is not valid YAML or has a bad key or value."""


class ReviewFileError(FileError):
    """A QA review file (``influx qa-sample --record``) cannot be read at all: missing, not
    UTF-8, or without the columns a verdict needs (a bad row is reported, not raised)."""


class UnsupportedSchema(ValidationError):
    """A schema uses a keyword (or a form of one) the compiler does not turn into expressions."""


class BenchmarkMismatch(InfluxError):
    """Two methods of one scenario did not do the same work (outcomes or records differ, or
    handles failed)."""

    def __init__(self, message: str, *, scenario: int, methods: tuple[str, ...]) -> None:
        self.scenario = scenario
        self.methods = methods
        super().__init__(message)


class FloorError(InfluxError):
    """A benchmark floor's reader failed."""
