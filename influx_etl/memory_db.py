"""One in-memory DuckDB database per process, for the set operations that borrow DuckDB on frames
(decoding JSON texts, hashing): :func:`cursor`.

Opening an in-memory database costs far more than a cursor on a database already open
(docs/performance.md), and the CPU path opened two per chunk of kept authors
(:func:`influx_etl.transform.provenance_hashes`,
:meth:`influx_etl.validate.compiled.CompiledSchemas.checked`) and one more per export. Each
cursor is a connection of its own: the frames it registers and its results are its own and go
when it is closed, so callers use it as ``with memory_db.cursor() as connection:`` exactly as
they used ``duckdb.connect()``.
"""

from __future__ import annotations

import os
import threading

import duckdb

_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None
_owner_pid = 0


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's in-memory database (opened on first use, and again in a
    forked child, which must not use its parent's)."""
    global _database, _owner_pid
    with _lock:
        if _database is None or _owner_pid != os.getpid():
            _database = duckdb.connect()
            _owner_pid = os.getpid()
        return _database.cursor()


__all__ = ["cursor"]
