"""Sequential vs bulk lookups against the embedded X API server: the lookup stage alone.

Each method of the comparison (:func:`influx_etl.tools.benchmark.comparison_methods`: per-user,
small-batch, bulk, parallel-bulk) looks the same ``--bench-handles`` synthetic handles up through
the pipeline's own lookup stage (:class:`~influx_etl.sources.HttpSource` over an
:class:`~influx_etl.sources.xclient.XClient` with pacing, :func:`influx_etl.batching.raw_batches`'
workers),
without the store or the rest of the pipeline (``influx-batch-benchmark run`` times those too).
The server sleeps :data:`MODEL`; ``extra_info`` records the requests sent and the ceiling of the
model for comparison. Nothing here asserts a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from influx_etl.apisim import RunningServer, start_server, synthetic_handles
from influx_etl.batching import raw_batches
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import HttpSource, RawBatch
from influx_etl.sources.pacing import Pacing
from influx_etl.sources.xclient import XClient
from influx_etl.tools.benchmark import LatencyModel, Method, ceiling, comparison_methods

MODEL = LatencyModel(latency_s=0.002, per_user_s=0.00002)
"""Small enough for ``make test``; large enough that per-request latency shows."""
METHODS = comparison_methods()


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start_server(MODEL.server_config()) as running:
        yield running


def look_up(base_url: str, method: Method, handles: list[str]) -> list[RawBatch]:
    size = method.batch_size
    work = [
        (i, handles[start : start + size]) for i, start in enumerate(range(0, len(handles), size))
    ]
    with XClient(base_url, None, pacing=Pacing()) as client:
        source = HttpSource(client, name="bench", kind="simulated", endpoint=method.endpoint)
        return list(raw_batches(source, work, method.workers))


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_lookup_methods(
    benchmark: BenchmarkFixture, server: RunningServer, method: Method, bench_handle_count: int
) -> None:
    handles = synthetic_handles(bench_handle_count)
    before = server.stats().requests
    rounds = 3
    batches = benchmark.pedantic(
        look_up, args=(server.base_url, method, handles), rounds=rounds, iterations=1
    )
    sent = server.stats().requests - before
    rows = profiles(raw_frame(batches))
    assert rows.height == len(handles)
    assert not (rows["outcome"] == "failed").any()
    per_round = len(handles) if method.endpoint == "per-user" else len(batches)
    assert sent % per_round == 0 and sent // per_round in (1, rounds)  # 1 with --benchmark-disable
    top = ceiling(method, len(handles), MODEL)
    benchmark.extra_info.update(
        handles=len(handles),
        requests_per_round=per_round,
        ceiling_handles_per_s=top.handles_per_s,
        latency_model=f"{MODEL.latency_s * 1000:g} ms per request + "
        f"{MODEL.per_user_s * 1000:g} ms per username",
    )
