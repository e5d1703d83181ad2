"""Progress of a run's lookup that a person can read.

On a terminal, a live bar (rich): batches done of all, handles, found so far, elapsed time and
ETA; while the rate limit holds the workers it shows the wait and counts it down, so a run never
looks frozen. When stderr is not a terminal (CI, a log file, cron) it stays quiet and writes a
log line at the start, at most every ``log_every_s`` seconds, on every rate-limit wait, and at
the end.

:class:`HarvestProgress` is the callback ``pipeline.run_harvest(progress=...)`` takes (it is a
:class:`~influx_etl.sources.LookupProgress`); the pipeline and the pacing layer only call its
methods and never know whether a terminal is on the other side.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from influx_etl.sources import RawBatch

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def found_in(batch: RawBatch) -> int:
    """Users a stored batch document holds (one parse per batch, not per user)."""
    if batch.body is None:
        return 0
    try:
        document: Any = json.loads(batch.body)
    except ValueError:
        return 0
    data = document.get("data") if isinstance(document, dict) else None
    return len(data) if isinstance(data, list) else 1 if isinstance(data, dict) else 0


class _WaitColumn(ProgressColumn):
    """The rate-limit wait with a countdown, re-rendered on every refresh."""

    def __init__(self, progress: HarvestProgress) -> None:
        super().__init__()
        self._owner = progress

    def render(self, task: Task) -> Text:
        left = self._owner.wait_left()
        if left <= 0:
            return Text("")
        # the reason goes to the log; the bar stays one line on an 80-column terminal
        return Text(f"⏸ rate limit {duration(left)}", style="yellow")


class _TimesColumn(ProgressColumn):
    """Elapsed time and ETA in the one format of the log lines (:func:`duration`)."""

    def __init__(self, progress: HarvestProgress) -> None:
        super().__init__()
        self._owner = progress

    def render(self, task: Task) -> Text:
        eta = self._owner.eta_s()
        elapsed = duration(self._owner.elapsed_s())
        return Text(f"{elapsed} ETA {duration(eta) if eta is not None else '?'}")


class HarvestProgress:
    """Progress of one run's lookup; use as a context manager around ``run_harvest``."""

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        log_every_s: float = 10.0,
        rate_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = Console(file=stream, stderr=stream is None)
        self.interactive = self.console.is_terminal if interactive is None else interactive
        self.log_every_s = log_every_s
        self.rate_limit = rate_limit
        """The plan's rate-limit model, ``(requests, window_s)``: the ETA is never less than the
        windows the batches left still need (``--rate-limit``)."""
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self.batches_total = 0
        self.handles_total = 0
        self.batches_done = 0
        self.handles_done = 0
        self.found = 0
        self.failed_batches = 0
        self.wait_until = 0.0
        self.wait_reason = ""
        self.waits = 0
        self._started = clock()
        self._last_line = float("-inf")
        self._progress: Progress | None = None
        self._task: Any = None
        self._swapped: list[tuple[logging.StreamHandler[Any], Any]] = []

    def __repr__(self) -> str:
        return (
            f"HarvestProgress(interactive={self.interactive}, "
            f"batches={self.batches_done}/{self.batches_total})"
        )

    # -- context -----------------------------------------------------------------------------

    def __enter__(self) -> HarvestProgress:
        if self.interactive:
            self._progress = Progress(
                TextColumn("[bold]lookup"),
                BarColumn(bar_width=12),
                MofNCompleteColumn(),
                TextColumn("batches · {task.fields[handles]} handles · {task.fields[found]} found"),
                _TimesColumn(self),
                _WaitColumn(self),
                console=self.console,
                refresh_per_second=4,
                transient=False,
            )
            self._task = self._progress.add_task("lookup", total=None, handles="0", found=0)
            self._progress.start()
            self._route_logging_through_console()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            for handler, stream in self._swapped:
                handler.setStream(stream)
            self._swapped.clear()
            self._progress.stop()
            self._progress = None

    def _route_logging_through_console(self) -> None:
        # rich prints what goes to sys.stderr above the bar while it is live; a logging handler
        # holds the stream it was given, so point stderr handlers at rich's proxy for the run
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                sys.__stderr__,
                getattr(sys.stderr, "rich_proxied_file", None),
            ):
                self._swapped.append((handler, handler.stream))
                handler.setStream(sys.stderr)

    # -- LookupProgress ----------------------------------------------------------------------

    def lookup_started(self, batches: int, handles: int) -> None:
        """A run's lookup begins: counts start from zero (one display serves several runs)."""
        with self._lock:
            self.batches_total, self.handles_total = batches, handles
            self.batches_done = self.handles_done = self.found = self.failed_batches = 0
            self._started = self._clock()
        if self._progress is not None:
            self._progress.update(
                self._task, total=batches, completed=0, handles=f"0/{handles}", found=0
            )
        elif batches:
            log.info("lookup: %d batches (%d handles) to fetch", batches, handles)
        else:
            log.info("lookup: nothing to fetch (every handle reused or answered by List members)")

    def __call__(self, batch: RawBatch, done: int, total: int) -> None:
        found = found_in(batch)
        with self._lock:
            self.batches_done = done
            self.batches_total = max(self.batches_total, total)
            self.handles_done += len(batch.handles)
            self.found += found
            self.failed_batches += batch.error is not None
            now = self._clock()
            due = now - self._last_line >= self.log_every_s or done >= self.batches_total
            if due:
                self._last_line = now
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=done,
                total=self.batches_total,
                handles=f"{self.handles_done}/{self.handles_total or '?'}",
                found=self.found,
            )
        elif due:
            log.info("lookup: %s", self.summary())

    def bulk_answered(self, batches: int, handles: int, found: int) -> None:
        """A bulk answer (a prefetched file), once decided: its batches carry no handles, so the
        pipeline gives the counts (see ``pipeline.BulkProgress``)."""
        with self._lock:
            self.batches_done = self.batches_total = batches
            self.handles_done, self.found = handles, found
            self._last_line = self._clock()
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=batches,
                total=batches,
                handles=f"{handles}/{self.handles_total or '?'}",
                found=found,
            )
        else:
            log.info("lookup: %s", self.summary())

    def waiting(self, until: float, reason: str) -> None:
        with self._lock:
            self.waits += 1
            self.wait_until = max(self.wait_until, until)
            self.wait_reason = reason
        if self._progress is None:
            at = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S")
            log.info(
                "lookup: %s: waiting %s (until %s UTC); %s",
                reason,
                duration(until - self._wall()),
                at,
                self.summary(),
            )

    # -- reading -----------------------------------------------------------------------------

    def wait_left(self) -> float:
        return self.wait_until - self._wall()

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def eta_s(self) -> float | None:
        """Batches left at the rate so far, and never less than a rate-limit wait still due nor
        than the rate-limit windows the batches left need under the plan's model (the i-th
        request of them no earlier than floor(i / R) windows from now)."""
        left_batches = self.batches_total - self.batches_done
        windows = 0.0
        if self.rate_limit is not None and left_batches > 0:
            requests, window_s = self.rate_limit
            windows = ((left_batches - 1) // requests) * window_s
        elapsed = self.elapsed_s()
        if self.batches_done == 0 or elapsed <= 0:
            return windows or None
        rate = self.batches_done / elapsed
        left = left_batches / rate
        return max(left, self.wait_left(), windows) if left_batches > 0 else left

    def summary(self) -> str:
        eta = self.eta_s()
        return (
            f"{self.batches_done}/{self.batches_total} batches, "
            f"{self.handles_done}/{self.handles_total} handles, {self.found} found"
            + (f", {self.failed_batches} batches failed" if self.failed_batches else "")
            + f", elapsed {duration(self.elapsed_s())}"
            + (f", ETA {duration(eta)}" if eta is not None else "")
        )
