"""Record documents the validation tests start from."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from influx_etl import score, transform
from tests.factories import api_user, kept_frame


def documents_for(kept: pl.DataFrame) -> pl.DataFrame:
    authors = score.ranked(score.scored(transform.author_records(kept, "2025-11-20T09:00:00Z")))
    return transform.record_documents(authors)


def good_record() -> dict[str, Any]:
    kept = kept_frame(
        [api_user(pinned_tweet_id="7")], pinned_tweets={"7": "2025-11-01T14:33:22.000Z"}
    )
    return dict(json.loads(documents_for(kept)["json"].item()))


def documents_of(*records: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [str(record.get("id")) for record in records],
            "handle": [str(record.get("handle")) for record in records],
            "json": [json.dumps(record, ensure_ascii=False) for record in records],
        }
    )
