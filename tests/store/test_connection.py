"""The dataset connection: failures name their first cause, a held file names its PID."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
import pytest

from influx_etl.errors import StoreError
from influx_etl.store import Store
from influx_etl.store.connection import NEW_ROWS
from tests.conftest import REPO_ROOT
from tests.store.rows import NO_IDS, NO_REJECTS, author, authors, outcomes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_constraint_failure_names_its_cause_and_leaves_the_file_byte_identical(
    tmp_path: Path,
) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live") as store:
        store.integrate(
            "r1", outcomes(("alice", "found", "kept", "1")), authors(author("1", "alice")),
            NO_IDS, NO_REJECTS,
        )  # fmt: skip
    before = _sha256(path)
    with Store.open(path, "live") as store, pytest.raises(StoreError) as caught:
        # the same id twice among the staged authors: the merge's INSERT breaks the key
        store.integrate(
            "r2", outcomes(("bob", "found", "kept", "2")),
            authors(author("2", "bob"), author("2", "bobby")), NO_IDS, NO_REJECTS,
        )  # fmt: skip
    message = str(caught.value)
    assert "integrating run r2" in message
    assert "Constraint Error" in message and "table authors" in message
    assert "Current transaction is aborted" not in message
    assert isinstance(caught.value.__cause__, duckdb.ConstraintException)
    assert _sha256(path) == before


_FILE_TOO_LARGE = """
import resource, signal, sys
from pathlib import Path
import polars as pl
from influx_etl.errors import StoreError
from influx_etl.store import Store
from influx_etl.store.connection import NEW_ROWS
from tests.store.rows import NO_IDS, NO_REJECTS, author, authors, outcomes

path = Path(sys.argv[1])
many = pl.DataFrame(
    [author(str(i), f"user{i}", description="x" * 200) for i in range(2, 20_000)],
    schema=authors().schema,
)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
with Store.open(path, "live") as store:
    # no file may grow past the dataset's size: the run's write-ahead log cannot be written
    size = path.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    try:
        store.integrate("r2", outcomes(), many, NO_IDS, NO_REJECTS)
    except StoreError as exc:
        print(exc)
        sys.exit(3)
"""


def test_a_write_that_finds_no_room_names_its_cause_and_leaves_the_file_byte_identical(
    tmp_path: Path,
) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live") as store:
        store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
    before = _sha256(path)
    result = subprocess.run(
        [sys.executable, "-c", _FILE_TOO_LARGE, str(path)],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "integrating run r2" in result.stdout and "File too large" in result.stdout
    assert _sha256(path) == before
    with Store.open(path, "live") as store:  # and the dataset opens as it was
        assert store.authors()["id"].to_list() == ["1"]


@contextmanager
def held_by_another_process(path: Path) -> Iterator[int]:
    """``path`` opened for writing by another process (a DuckDB file lock) while the block
    runs; yields that process's PID."""
    hold = "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold + "; sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.communicate("")


def test_a_dataset_another_process_holds_is_refused_naming_that_process(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    Store.open(path, "live").close()
    with held_by_another_process(path) as pid:
        for opening in (lambda: Store.open(path, "live"), lambda: Store.open_existing(path)):
            with pytest.raises(StoreError) as caught:
                opening()
            assert str(caught.value) == (
                f"another influx run (PID {pid}) holds {path}; wait for it, or use "
                "another --data-dir"
            )


def test_an_insert_reads_its_frame_by_its_name_and_leaves_no_name_behind(store: Store) -> None:
    store._con.execute("CREATE TEMP TABLE pairs (key VARCHAR, value BIGINT)")
    new_rows = pl.DataFrame({"key": ["decoy"], "value": [0]})  # a caller's local is not read
    frame = pl.DataFrame({"key": ["a", "b", "c"], "value": [1, 2, 3]})
    store._insert_frame(
        f"INSERT INTO pairs SELECT key, value * $times FROM {NEW_ROWS}", frame, {"times": 10}
    )
    assert store._frame("SELECT key, value FROM pairs ORDER BY key").rows() == [
        ("a", 10),
        ("b", 20),
        ("c", 30),
    ]
    del new_rows
    with pytest.raises(duckdb.CatalogException):
        store._con.raw.execute(f"SELECT * FROM {NEW_ROWS}")
