"""Bans: a banned author leaves and never re-enters; a ban needs a reason."""

from __future__ import annotations

import pytest

from influx_etl.errors import StoreError
from influx_etl.store import Store
from tests.store.rows import NO_IDS, NO_REJECTS, author, authors, outcomes


def test_a_banned_author_leaves_and_never_reenters(store: Store) -> None:
    store.integrate(
        "r1", outcomes(), authors(author("1", "alice"), author("2", "bob")), NO_IDS, NO_REJECTS
    )
    assert store.ban("@Alice", "asked to be removed", "2026-01-02T00:00:00Z") is True
    assert store.authors()["id"].to_list() == ["2"]
    # found again later, even under a new handle: it stays out
    result = store.integrate(
        "r2", outcomes(), authors(author("1", "alice_renamed")), NO_IDS, NO_REJECTS
    )
    assert (result.new, result.banned) == (0, 1)
    assert store.authors()["id"].to_list() == ["2"]
    assert store.banned().row(0, named=True)["ban_reason"] == "asked to be removed"


def test_a_ban_needs_a_reason(store: Store) -> None:
    with pytest.raises(StoreError, match="reason"):
        store.ban("alice", "  ", "2026-01-02T00:00:00Z")
