"""Injected faults and payload quirks: seeded, counted, and shaped like odd real answers."""

from __future__ import annotations

from typing import Any

from influx_etl.apisim import UNASKED_HANDLE, ApiServerConfig, UserLookup, start_server
from influx_etl.sources.xclient import body_is_document
from tests.apisim.serving import RATE_HEADERS, SEED, lookup


def test_fail_first_n_injects_faults() -> None:
    with start_server(ApiServerConfig(fail_first_n=2, fail_status=502)) as running:
        statuses = [lookup(running, ["someone"]).status_code for _ in range(3)]
        assert running.status_counts == {502: 2, 200: 1}
    assert statuses == [502, 502, 200]


def test_random_faults_are_seeded_and_counted() -> None:
    config = ApiServerConfig(
        seed=SEED,
        fault_429_rate=0.2,
        fault_5xx_rate=0.2,
        fault_malformed_rate=0.2,
        fault_retry_after_s=2,
    )
    runs = []
    for _ in range(2):
        with start_server(config) as running:
            responses = [lookup(running, ["someone"]) for _ in range(30)]
            runs.append([r.status_code for r in responses])
            stats = running.stats()
        assert stats.faults["429"] + stats.faults["5xx"] + stats.faults["malformed"] == sum(
            1 for r in responses if r.status_code != 200 or not body_is_document(r.text)
        )
        limited = [r for r in responses if r.status_code == 429]
        assert limited and all(r.headers["retry-after"] == "2" for r in limited)
        assert all(set(RATE_HEADERS) <= set(r.headers) for r in responses)
    assert runs[0] == runs[1], "the same seed injects the same faults"


def test_quirks_reshape_the_answer_as_odd_real_answers_look() -> None:
    users = {"pin": {"id": "7", "username": "Pin", "name": "P", "pinned_tweet_id": "99"}}

    def document(*quirks: str) -> dict[str, Any]:
        config = ApiServerConfig(population=users, synthetic=False, quirks=frozenset(quirks))
        return UserLookup(config).document(["pin", "gone"])

    plain = document()
    assert plain["includes"]["tweets"][0]["id"] == "99"
    assert all("value" not in e for e in document("error-without-value")["errors"])
    assert document("unknown-error-title")["errors"][0]["title"] == "Unexpected Lookup Error"
    named = [e["value"] for e in document("error-for-unasked-handle")["errors"]]
    assert named == ["gone", UNASKED_HANDLE]
    assert "includes" not in document("absent-pinned-post")
    assert [u["username"] for u in document("unrequested-user")["data"]] == ["Pin", "StrayUser"]
    assert document("empty-answer") == {"data": []}
    nobody = UserLookup(ApiServerConfig(synthetic=False, quirks=frozenset({"empty-data"})))
    assert nobody.document(["gone"])["data"] == []
