"""The CPU path at scale, measured against the floor: ``python -m influx_etl.cpubench``.

``make bench-cpu`` runs ``python -m influx_etl.cpubench --profiles 1000000``:

1. **Input.** ``WORK/profiles-N.jsonl`` and ``WORK/handles-N.txt`` from the generator
   (:mod:`influx_etl.apisim.generate`, seed 0), made once and reused while their recorded SHA-256
   still matches (``WORK/profiles-N.json``).
2. **Floor.** The time it takes only to *read* the same file, best of ``--repeat``, each reader
   in a process of its own: DuckDB counting its lines as JSON records (``count(*)`` over
   ``read_ndjson``), DuckDB reading every value (``read_ndjson_auto`` into an Arrow table) and
   Polars reading every value (``pl.read_ndjson``).
3. **End to end.** ``influx-harvest bulk --handles-file HANDLES --source prefetched:PROFILES
   --data-dir WORK/data -vv`` as a real subprocess on a fresh data folder: parse, threshold, brand,
   risk, transform, score, validate, integrate, export. Its wall time, its peak resident memory
   (``os.wait4``'s ``ru_maxrss`` of that very process) and the per-stage times it logs
   (:mod:`influx_etl.timing`). This process stays small meanwhile (the floors read in their own
   processes): Linux counts the parent's memory at the fork in the child's peak.
4. **Report.** The ratio of the end-to-end time to each floor; printed as markdown and written to
   ``WORK/cpubench.json`` with the date, the machine and the library versions.

The harvest writes to the *live* dataset of ``WORK/data``: the profiles are synthetic, so that
folder is the benchmark's own, emptied before each run. Run from the repository root (the rule
files are read from ``lists/rules/``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from influx_etl.apisim.generate import write_profiles
from influx_etl.errors import InfluxError
from influx_etl.sources import RawFile

DEFAULT_WORK_DIR = Path("data/cpubench")
STAGE_LINE = re.compile(r"stage (\S+): ([0-9.]+) s \(peak RSS (\d+) MB\)")
FUNNEL_LINE = re.compile(r"^  (kept|exported \(whole dataset\))\s+(\d+)$", re.MULTILINE)
"""The funnel lines of the harvest's report that the benchmark repeats."""
"""A stage line of :mod:`influx_etl.timing` in the harvest's log."""


@dataclass(frozen=True)
class Floor:
    """One way of only reading the file, and its best time."""

    name: str
    seconds: float
    rows: int


@dataclass(frozen=True)
class Harvest:
    """The end-to-end run."""

    command: list[str]
    seconds: float
    peak_rss_mb: float
    exit_status: int
    stages: dict[str, float] = field(default_factory=dict)
    stage_peak_rss_mb: dict[str, int] = field(default_factory=dict)
    funnel: dict[str, int] = field(default_factory=dict)
    output: str = ""


@dataclass(frozen=True)
class Report:
    date: str
    profiles: int
    handles: int
    file_bytes: int
    machine: dict[str, Any]
    floors: list[Floor]
    harvest: Harvest
    load_after: float = 0.0

    def ratio(self, floor: Floor) -> float:
        return self.harvest.seconds / floor.seconds if floor.seconds > 0 else float("inf")


def input_files(work_dir: Path, count: int, seed: int) -> tuple[Path, Path, int, int]:
    """The profiles and handles files for ``count`` profiles, generated unless already there
    (and unchanged): ``(profiles, handles, profile count, handle count)``."""
    profiles = work_dir / f"profiles-{count}.jsonl"
    handles = work_dir / f"handles-{count}.txt"
    meta = work_dir / f"profiles-{count}.json"
    if profiles.is_file() and handles.is_file() and meta.is_file():
        recorded = json.loads(meta.read_text(encoding="utf-8"))
        if recorded.get("seed") == seed and RawFile.of(profiles).sha256 == recorded.get("sha256"):
            return profiles, handles, int(recorded["profiles"]), int(recorded["handles"])
    print(f"generating {count:,} profiles into {profiles} ...", flush=True)
    files = write_profiles(count, profiles, handles, seed=seed)
    meta.write_text(
        json.dumps(
            {
                "seed": seed,
                "profiles": files.profiles,
                "handles": files.handles,
                "sha256": files.sha256,
            }
        ),
        encoding="utf-8",
    )
    return profiles, handles, files.profiles, files.handles


def _best(repeat: int, read: Callable[[], int]) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = read()
        best = min(best, time.perf_counter() - started)
    return best, rows


def floors(path: Path, repeat: int) -> list[Floor]:
    """The time each reader takes only to read ``path`` (best of ``repeat``), each in a process
    of its own."""
    found = []
    for name in FLOORS:
        command = [sys.executable, "-m", "influx_etl.cpubench", "--floor", name, "--file",
                   str(path), "--repeat", str(repeat)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise FloorError(f"the floor {name!r} failed: {done.stderr.strip()}")
        result = json.loads(done.stdout)
        found.append(Floor(name=FLOORS[name], seconds=result["seconds"], rows=result["rows"]))
    return found


FLOORS = {
    "duckdb-count": "DuckDB count(*) over read_ndjson",
    "duckdb-read": "DuckDB read_ndjson_auto, every value into Arrow",
    "polars-read": "Polars read_ndjson, every value",
}


def floor(name: str, path: Path, repeat: int) -> tuple[float, int]:
    """One reader's best time over ``repeat`` reads of ``path``, and the rows it read."""
    text = str(path).replace("'", "''")

    def duckdb_count() -> int:
        with duckdb.connect() as connection:
            rows = connection.sql(f"SELECT count(*) FROM read_ndjson('{text}')").fetchall()
        return int(rows[0][0])

    def duckdb_read() -> int:
        with duckdb.connect() as connection:
            table = connection.sql(f"SELECT * FROM read_ndjson_auto('{text}')").to_arrow_table()
        return int(table.num_rows)

    def polars_read() -> int:
        return pl.read_ndjson(path).height

    readers: dict[str, Callable[[], int]] = {
        "duckdb-count": duckdb_count,
        "duckdb-read": duckdb_read,
        "polars-read": polars_read,
    }
    return _best(repeat, readers[name])


class FloorError(InfluxError):
    """A floor's reader failed."""


def harvest(profiles: Path, handles: Path, data_dir: Path, extra: Sequence[str] = ()) -> Harvest:
    """Run the harvest of ``profiles`` as a subprocess on an empty ``data_dir``."""
    shutil.rmtree(data_dir, ignore_errors=True)
    script = Path(sys.executable).parent / "influx-harvest"
    command = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "from influx_etl.cli.harvest import main; main()"]
    )
    command += [
        "bulk",
        "--handles-file",
        str(handles),
        "--source",
        f"prefetched:{profiles}",
        "--data-dir",
        str(data_dir),
        "-vv",
        *extra,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    # wait4: the peak memory of this very process (RUSAGE_CHILDREN would be the largest of all)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stages: dict[str, float] = {}
    peaks: dict[str, int] = {}
    for name, value, peak in STAGE_LINE.findall(output):
        stages[name] = stages.get(name, 0.0) + float(value)
        peaks[name] = int(peak)
    funnel = {name.split(" ")[0]: int(count) for name, count in FUNNEL_LINE.findall(output)}
    # Linux reports kilobytes, macOS bytes
    peak_mb = usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
    return Harvest(
        command=command,
        seconds=seconds,
        peak_rss_mb=peak_mb,
        exit_status=process.returncode,
        stages=stages,
        stage_peak_rss_mb=peaks,
        funnel=funnel,
        output=output,
    )


def machine() -> dict[str, Any]:
    memory = 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            memory = int(meminfo.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_mb": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "polars": version("polars"),
        "duckdb": version("duckdb"),
        "load_average_1m": round(load[0], 2),
    }


def markdown(report: Report) -> str:
    """The report as the README shows it."""
    run = report.harvest
    lines = [
        f"CPU path, {report.profiles:,} profiles ({report.handles:,} handles, "
        f"{report.file_bytes / 1e6:,.0f} MB of JSONL; {run.funnel.get('kept', 0):,} kept, "
        f"{run.funnel.get('exported', 0):,} exported), {report.date}, "
        f"{report.machine['cpus']} CPUs, {report.machine['memory_mb'] / 1024:.0f} GB, "
        f"Python {report.machine['python']}, Polars {report.machine['polars']}, "
        f"DuckDB {report.machine['duckdb']}; load average {report.machine['load_average_1m']} "
        f"before, {report.load_after} after",
        "",
        "| measured | seconds | end to end ÷ this |",
        "| --- | ---: | ---: |",
    ]
    for floor in report.floors:
        lines.append(f"| floor: {floor.name} | {floor.seconds:.2f} | {report.ratio(floor):.1f}× |")
    lines += [
        f"| **end to end: influx-harvest bulk** (peak RSS {run.peak_rss_mb:,.0f} MB) "
        f"| **{run.seconds:.2f}** | 1.0× |",
        "",
        "| stage | seconds | peak RSS so far (MB) |",
        "| --- | ---: | ---: |",
    ]
    top = {name: seconds for name, seconds in run.stages.items() if "." not in name}
    for name, seconds in run.stages.items():
        shown = name if "." not in name else f"  ↳ {name}"
        lines.append(f"| {shown} | {seconds:.2f} | {run.stage_peak_rss_mb.get(name, 0):,} |")
    rest = run.seconds - sum(top.values())
    lines.append(f"| start-up, imports, command line (the rest) | {rest:.2f} | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m influx_etl.cpubench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profiles to harvest")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--repeat", type=int, default=2, help="reads of each floor (best kept)")
    parser.add_argument("--floor", choices=sorted(FLOORS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.profiles < 1 or args.repeat < 1:
        parser.error("--profiles and --repeat must be >= 1")
    if args.floor is not None:
        # one floor in this fresh process (see floors())
        seconds, rows = floor(args.floor, args.file, args.repeat)
        print(json.dumps({"seconds": seconds, "rows": rows}))
        return 0
    started_machine = machine()
    try:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        profiles, handles, count, handle_count = input_files(
            args.work_dir, args.profiles, args.seed
        )
        measured_floors = floors(profiles, args.repeat)
        run = harvest(profiles, handles, args.work_dir / "data")
    except (InfluxError, OSError, duckdb.Error, pl.exceptions.PolarsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if run.exit_status != 0:
        print(run.output, file=sys.stderr)
        print(f"error: the harvest exited with {run.exit_status}", file=sys.stderr)
        return 1
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        profiles=count,
        handles=handle_count,
        file_bytes=profiles.stat().st_size,
        machine=started_machine,
        floors=measured_floors,
        harvest=run,
        load_after=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0,
    )
    text = markdown(report)
    print(text)
    result = {**asdict(report), "ratios": {f.name: report.ratio(f) for f in report.floors}}
    result["harvest"].pop("output")
    (args.work_dir / "cpubench.json").write_text(
        json.dumps(result, indent=2) + "\n", encoding="utf-8"
    )
    (args.work_dir / "cpubench.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["Floor", "Harvest", "Report", "floors", "harvest", "input_files", "main", "markdown"]
