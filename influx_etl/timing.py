"""Wall-clock time of the pipeline's stages: logged, and collected for the CPU benchmark.

``with stage("validate"): ...`` logs ``stage validate: 0.123 s (peak RSS 812 MB)`` at DEBUG on
the ``influx_etl.timing`` logger (``influx-harvest -vv`` shows it) and, inside :func:`collected`,
adds the seconds to the collecting dict (a stage entered twice adds up). Nothing else changes:
the timings never decide anything.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

log = logging.getLogger(__name__)

LOG_FORMAT: Final = "stage %s: %.3f s (peak RSS %d MB)"
"""How a stage's time is logged, with the process's peak memory so far
(``influx_etl.tools.cpubench``
reads it back from the log)."""

_collecting: ContextVar[dict[str, float] | None] = ContextVar("influx_stage_seconds", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        log.debug(LOG_FORMAT, name, seconds, peak_rss_mb())
        sink = _collecting.get()
        if sink is not None:
            sink[name] = sink.get(name, 0.0) + seconds


def peak_rss_mb() -> int:
    """The process's peak resident memory so far, in MB (0 where the platform cannot say)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    # Linux reports kilobytes, macOS bytes
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10))


@contextmanager
def collected() -> Iterator[dict[str, float]]:
    """Seconds per stage of every :func:`stage` run inside the block (this thread/context)."""
    seconds: dict[str, float] = {}
    token = _collecting.set(seconds)
    try:
        yield seconds
    finally:
        _collecting.reset(token)
