from __future__ import annotations

import pickle

import pytest

from influx_etl.errors import (
    AuthError,
    BenchmarkMismatch,
    FileError,
    InfluxError,
    LookupError_,
    RateLimitError,
    ReviewFileError,
    RulesError,
    ScoringError,
    SeedError,
    StoreError,
    TransportError,
    ValidationError,
    mask_secrets,
    register_secret,
)


@pytest.mark.parametrize(
    "error",
    [
        SeedError("not UTF-8", file="lists/seeds/a.csv", line=3),
        RulesError("expected a number", file="rules.yml", key="confidence_weights.flag_threshold"),
        AuthError("HTTP 401", status=401, batch_id=4),
        RateLimitError("HTTP 429", reset_at=1700000000.0, batch_id=2),
        TransportError("HTTP 503", batch_id=7),
        ValidationError("bad", record_id="12", path="meta.score"),
        StoreError("disk full"),
        ScoringError("expected a number", file="scoring.yml", line=4, key="weights.activity"),
        BenchmarkMismatch("outcomes differ", scenario=100, methods=("bulk", "per-user")),
    ],
)
def test_errors_survive_pickling_with_their_data(error: InfluxError) -> None:
    # joblib workers send errors back through pickle; the attributes must come back too.
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert clone.__dict__ == error.__dict__
    assert isinstance(clone, InfluxError)


def test_error_messages_carry_their_location() -> None:
    assert str(SeedError("bad", file="a.csv", line=3)) == "a.csv:3: bad"
    assert "[confidence_weights.flag_threshold]" in str(
        RulesError("expected a number", file="r.yml", key="confidence_weights.flag_threshold")
    )
    assert str(TransportError("HTTP 503", batch_id=7)).startswith("batch 7: ")
    assert isinstance(AuthError("x", status=403), LookupError_)


@pytest.mark.parametrize("kind", [SeedError, RulesError, ScoringError, ReviewFileError])
def test_every_file_error_names_file_line_and_key_in_one_form(kind: type[FileError]) -> None:
    error = kind("expected a list", file="lists/x.yml", line=12, key="brands")
    assert isinstance(error, FileError)
    assert (error.file, error.line, error.key) == ("lists/x.yml", 12, "brands")
    assert str(error) == "lists/x.yml:12 [brands]: expected a list"
    assert str(kind("unreadable", file="f.csv")) == "f.csv: unreadable"


def test_bearer_tokens_are_masked_in_messages() -> None:
    token = "AAAAAAAAAAAAAAAAAAAAAJtoken-value-0123456789abcdef"
    error = TransportError(f"request failed with header Authorization: Bearer {token}")
    assert token not in str(error)
    assert "Bearer ***" in str(error)
    assert token not in mask_secrets(f"https://x/?access_token={token}&a=1")


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    register_secret("s3cr3t-value-xyz")
    assert "s3cr3t-value-xyz" not in str(InfluxError("echo: s3cr3t-value-xyz"))


def test_masking_keeps_the_words_around_a_secret() -> None:
    message = "--source x-api needs a bearer token: set X_BEARER_TOKEN"
    assert mask_secrets(message) == message
    assert str(InfluxError(message)) == message
    assert mask_secrets("Authorization: Bearer abc123def456") == "Authorization: Bearer ***"
