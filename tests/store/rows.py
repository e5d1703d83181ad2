"""Author and outcome rows for the store's tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from influx_etl.frames import AUTHORS_SCHEMA, OUTCOMES_SCHEMA, SEED_REJECTS_SCHEMA


def author(user_id: str, handle: str, followers: int = 100_000, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(AUTHORS_SCHEMA)
    row.update(
        id=user_id,
        handle=handle,
        name=handle.title(),
        verified="blue",
        followers_count=followers,
        is_org=False,
        is_official=False,
        lang_primary="en",
        topic_tags=["ai_research"],
        sources=[{"method": "x-api-v2", "fetched_at": "2026-01-01T00:00:00Z", "evidence": "test"}],
        provenance_hash="a" * 64,
        last_refresh_at="2026-01-01T00:00:00Z",
        entry_threshold_passed=True,
        origin="x-api-v2",
        seed_files=["a.csv"],
        brand_matches=[],
        brand_confidence=0.0,
        risk_flags=[],
        score=50.0,
        quality_score=40.0,
    )
    row.update(changes)
    return row


def authors(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=AUTHORS_SCHEMA)


def outcomes(*rows: tuple[str, ...]) -> pl.DataFrame:
    """Outcome rows (handle, outcome, decision[, id]); the rule columns stay null."""
    return pl.DataFrame(
        [
            {
                **dict.fromkeys(OUTCOMES_SCHEMA),
                "handle_key": handle.lower(),
                "handle": handle,
                "outcome": outcome,
                "decision": decision,
                "id": user_id[0] if user_id else None,
            }
            for handle, outcome, decision, *user_id in rows
        ],
        schema=OUTCOMES_SCHEMA,
    )


NO_REJECTS = pl.DataFrame(schema=SEED_REJECTS_SCHEMA)


NO_IDS = pl.Series("id", [], dtype=pl.String)
