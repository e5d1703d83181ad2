"""The CPU path at scale, measured against the floor: ``python -m influx_etl.tools.cpubench``.

``make bench-cpu`` runs ``python -m influx_etl.tools.cpubench --profiles 1000000``; ``make
bench-stream``
runs it on 10,000,000 profiles (5.7 GB of JSONL) without the floors (``--no-floors``: Polars' read
alone would not fit in memory, docs/performance.md), once per ``--chunk-rows`` value:

1. **Input.** ``WORK/profiles-N.jsonl`` and ``WORK/handles-N.txt`` from the generator
   (:mod:`influx_etl.apisim.generate`, seed 0), made once and reused while their recorded SHA-256
   still matches (``WORK/profiles-N.json``).
2. **Floor.** The time it takes only to *read* the same file, best of ``--repeat``, each reader
   in a process of its own: DuckDB counting its lines as JSON records (``count(*)`` over
   ``read_ndjson``), DuckDB reading every value (``read_ndjson_auto`` into an Arrow table) and
   Polars reading every value (``pl.read_ndjson``). Skipped with ``--no-floors``.
3. **End to end.** ``influx-harvest bulk --handles-file HANDLES --source prefetched:PROFILES
   --data-dir WORK/data -vv`` as a real subprocess on a fresh data folder: parse, threshold, brand,
   risk, transform, score, validate, integrate, export. Its wall time, its peak resident memory
   (``os.wait4``'s ``ru_maxrss`` of that very process) and the per-stage times it logs
   (:mod:`influx_etl.timing`). This process stays small meanwhile (the floors read in their own
   processes): Linux counts the parent's memory at the fork in the child's peak. One run per
   ``--chunk-rows N`` given (passed on to the harvest), or one with the harvest's default;
   ``--store-memory SIZE`` is passed on to every run.
4. **Report.** The ratio of the end-to-end time to each floor, the first run's stages and, with
   several runs, one row per run (chunk size, wall time, peak memory, kept, exported); printed as
   markdown and written to ``WORK/cpubench-N.md`` and ``WORK/cpubench-N.json`` (N the profile
   count, e.g. ``cpubench-1000000.md``) with the date, the machine and the library versions.

The profiles carry the embedded server's synthetic mark, so the harvest writes to the synthetic
dataset of ``WORK/data`` (``WORK/data/synthetic/``), never a live one; that folder is the
benchmark's own, emptied before each run. Run from the repository root (the rule
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
from influx_etl.errors import FloorError, InfluxError
from influx_etl.sources import RawFile

DEFAULT_WORK_DIR = Path("data/cpubench")
STAGE_LINE = re.compile(r"stage (\S+): ([0-9.]+) s \(peak RSS (\d+) MB\)")
"""A stage line of :mod:`influx_etl.timing` in the harvest's log."""
FUNNEL_LINE = re.compile(r"^  (kept|exported \(whole dataset\))\s+(\d+)$", re.MULTILINE)
"""The funnel lines of the harvest's report that the benchmark repeats."""


@dataclass(frozen=True)
class Floor:
    """One way of only reading the file, and its best time."""

    name: str
    seconds: float
    rows: int


@dataclass(frozen=True)
class Harvest:
    """One end-to-end run."""

    command: list[str]
    seconds: float
    peak_rss_mb: float
    exit_status: int
    chunk_rows: int | None = None
    """The ``--chunk-rows`` passed on to the harvest; ``None``: its default."""
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
    runs: list[Harvest]
    """The harvest runs, one per ``--chunk-rows`` value; the first is the one compared to the
    floors and broken down by stage."""
    load_after: float = 0.0

    @property
    def harvest(self) -> Harvest:
        """The first run."""
        return self.runs[0]

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
        # an input made before the generator kept the synthetic mark would go to a live dataset
        if (
            recorded.get("seed") == seed
            and recorded.get("origin") == "synthetic"
            and RawFile.of(profiles).sha256 == recorded.get("sha256")
        ):
            return profiles, handles, int(recorded["profiles"]), int(recorded["handles"])
    print(f"generating {count:,} profiles into {profiles} ...", flush=True)
    files = write_profiles(count, profiles, handles, seed=seed)
    meta.write_text(
        json.dumps(
            {
                "seed": seed,
                "origin": "synthetic",
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
        command = [sys.executable, "-m", "influx_etl.tools.cpubench", "--floor", name, "--file",
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


def harvest(
    profiles: Path,
    handles: Path,
    data_dir: Path,
    extra: Sequence[str] = (),
    chunk_rows: int | None = None,
) -> Harvest:
    """Run the harvest of ``profiles`` as a subprocess on an empty ``data_dir``, ``--chunk-rows
    chunk_rows`` unless ``None`` and then ``extra``."""
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
        *([] if chunk_rows is None else ["--chunk-rows", str(chunk_rows)]),
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
        chunk_rows=chunk_rows,
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
    ]
    # the options this run was given (--chunk-rows, --store-memory), after the common ones
    given = run.command[run.command.index("-vv") + 1 :] if "-vv" in run.command else []
    command = " ".join(["influx-harvest bulk", *given])
    end_to_end = (
        f"| **end to end: {command}** (peak RSS {run.peak_rss_mb:,.0f} MB) "
        f"| **{run.seconds:.2f}** |"
    )
    if report.floors:
        lines += ["| measured | seconds | end to end ÷ this |", "| --- | ---: | ---: |"]
        for floor in report.floors:
            lines.append(
                f"| floor: {floor.name} | {floor.seconds:.2f} | {report.ratio(floor):.1f}× |"
            )
        lines.append(f"{end_to_end} 1.0× |")
    else:
        lines += ["| measured | seconds |", "| --- | ---: |", end_to_end]
    lines += [
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
    if len(report.runs) > 1:
        lines += [
            "",
            "| --chunk-rows | wall time (s) | peak RSS (MB) | kept | exported |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for each in report.runs:
            chunk = "default" if each.chunk_rows is None else f"{each.chunk_rows:,}"
            lines.append(
                f"| {chunk} | {each.seconds:.2f} | {each.peak_rss_mb:,.0f} "
                f"| {each.funnel.get('kept', 0):,} | {each.funnel.get('exported', 0):,} |"
            )
    return "\n".join(lines)


def report_json(report: Report) -> dict[str, Any]:
    """Every figure of the report: its fields, ``harvest`` (the first run, as ``runs[0]``) and
    the ratio to each floor; without the runs' logs."""
    result = asdict(report)
    for run in result["runs"]:
        run.pop("output")
    result["harvest"] = result["runs"][0]
    result["ratios"] = {f.name: report.ratio(f) for f in report.floors}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m influx_etl.tools.cpubench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profiles to harvest")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="the input files, the harvest's data folder and the report, cpubench-N.md and "
        "cpubench-N.json with N the profile count (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--repeat", type=int, default=2, help="reads of each floor (best kept)")
    parser.add_argument(
        "--no-floors",
        action="store_true",
        help="skip the floors (at 10M profiles Polars' read alone needs more than 10 GB)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        action="append",
        metavar="N",
        help="one harvest run per value given, with --chunk-rows N (default: one run with the "
        "harvest's own default)",
    )
    parser.add_argument(
        "--store-memory", metavar="SIZE", help="passed on to every harvest run (e.g. 1GB, none)"
    )
    parser.add_argument("--floor", choices=sorted(FLOORS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.profiles < 1 or args.repeat < 1:
        parser.error("--profiles and --repeat must be >= 1")
    if any(rows < 1 for rows in args.chunk_rows or ()):
        parser.error("--chunk-rows must be >= 1")
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
        measured_floors = [] if args.no_floors else floors(profiles, args.repeat)
        extra = [] if args.store_memory is None else ["--store-memory", args.store_memory]
        runs = []
        for chunk_rows in args.chunk_rows or [None]:
            if args.chunk_rows:
                print(f"harvesting with --chunk-rows {chunk_rows} ...", flush=True)
            run = harvest(profiles, handles, args.work_dir / "data", extra, chunk_rows)
            if run.exit_status != 0:
                print(run.output, file=sys.stderr)
                print(f"error: the harvest exited with {run.exit_status}", file=sys.stderr)
                return 1
            runs.append(run)
    except (InfluxError, OSError, duckdb.Error, pl.exceptions.PolarsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        profiles=count,
        handles=handle_count,
        file_bytes=profiles.stat().st_size,
        machine=started_machine,
        floors=measured_floors,
        runs=runs,
        load_after=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0,
    )
    text = markdown(report)
    print(text)
    (args.work_dir / f"cpubench-{args.profiles}.json").write_text(
        json.dumps(report_json(report), indent=2) + "\n", encoding="utf-8"
    )
    (args.work_dir / f"cpubench-{args.profiles}.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "Floor",
    "Harvest",
    "Report",
    "floors",
    "harvest",
    "input_files",
    "main",
    "markdown",
    "report_json",
]
