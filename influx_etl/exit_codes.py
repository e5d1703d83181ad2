"""The exit statuses of every ``influx`` command: one table, so cron and CI can tell outcomes apart.

A command exits with the most serious status that applies (the highest below ``INTERRUPTED``
wins where several apply, except ``ERROR``, which stops the command at once).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Everything asked for was settled."""
    ERROR = 1
    """The command stopped on an error (bad rules file, unreadable dataset, failed write...)."""
    USAGE = 2
    """The command line itself was wrong (click's own status for usage errors)."""
    RETRY_LATER = 3
    """Some handles failed to look up (transport, rate limit); a later run retries them."""
    NOTHING_LOOKED_UP = 4
    """Nothing was looked up: no seed handles, empty seed files, every lookup failed."""
    INPUT_DAMAGED = 5
    """The input was damaged (broken JSON lines, undecodable seed files); the rest was processed."""
    CAPPED = 6
    """A request or cost cap stopped the run; the rest is pending and the same command continues."""
    INTERRUPTED = 130
    """Ctrl-C (SIGINT); the same command resumes the run."""


EXIT_CODES_HELP = (
    "Exit status: 0 all settled; 1 error; 2 usage; "
    "3 some handles failed, a later run retries them; 4 nothing was looked up; "
    "5 the input was damaged (the rest was processed); "
    "6 a cap stopped the run (the same command continues); "
    "130 interrupted (the same command resumes)."
)
"""The one-paragraph summary that each command's ``--help`` ends with."""
