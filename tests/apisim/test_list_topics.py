"""What the synthetic Lists are about: names within the API's length, interests from bios."""

from __future__ import annotations

import random

from influx_etl.apisim.list_topics import (
    MAX_NAME_LENGTH,
    TOPIC_KEYS,
    TOPICS,
    interests,
    list_description,
    list_name,
)


def test_names_fit_the_apis_limit_and_vary() -> None:
    rng = random.Random(1)
    names = {
        list_name(topic, kind, rng)
        for topic in TOPICS
        for kind in ("curated", "broad", "noisy", "organisations")
        for _ in range(30)
    }
    assert all(1 <= len(name) <= MAX_NAME_LENGTH for name in names)
    assert any(name.islower() for name in names) and any(name.isupper() for name in names)
    assert any(not name.isascii() for name in names), "some names carry emoji"
    empty = list_name("crypto", "curated", rng, empty=True)
    assert empty in ("new list", "To sort", "untitled", "later")
    assert list_description("media", "organisations", rng).startswith("Media: organisations")


def test_interests_follow_the_bio_and_a_draw() -> None:
    bio = "Research scientist at Quanta AI. Writing about climate tech."
    found = {TOPIC_KEYS[index] for index in interests(bio, draw=0)}
    assert {"ai_research", "machine_learning", "climate"} <= found
    drawn = {TOPIC_KEYS[index] for index in interests("", draw=5)}
    assert drawn and drawn <= set(TOPIC_KEYS)
    assert interests("", draw=5) == interests("", draw=5)
