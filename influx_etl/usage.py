"""What a run's requests read and cost: the usage ledger summed, and the endpoint it names."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from influx_etl.config import PipelineConfig
from influx_etl.store import Store


@dataclass(frozen=True)
class RunUsage:
    """A run's requests and users read (the usage ledger) and their estimated cost."""

    requests: int
    users_read: int
    billable: int
    cost: float


def run_usage(store: Store, run_id: str, price_per_user: float) -> RunUsage:
    """The run's lines of the usage ledger, summed."""
    usage = store.usage().filter(pl.col("run_id") == run_id)
    billable = int(usage["billable"].sum())
    return RunUsage(
        requests=int(usage["requests"].sum()),
        users_read=int(usage["users_read"].sum()),
        billable=billable,
        cost=billable * price_per_user,
    )


def usage_endpoint(config: PipelineConfig) -> str:
    """The endpoint a run's requests go to, as the usage ledger names it."""
    if config.lookup.source == "mcp":
        return f"mcp:{config.lookup.mcp_tool}"
    if config.lookup.endpoint == "per-user":
        return "GET /2/users/by/username/:username"
    return "GET /2/users/by"
