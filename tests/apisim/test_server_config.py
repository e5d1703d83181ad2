"""The embedded server's config: checked when made, and never showing its token."""

from __future__ import annotations

import pytest

from influx_etl.apisim import ENDPOINT_LIST, ENDPOINT_USERS_BY, ApiServerConfig
from influx_etl.errors import ConfigError


def test_token_never_shows_in_the_config_repr() -> None:
    config = ApiServerConfig(required_token="plain-secret-value")
    assert "plain-secret-value" not in repr(config)
    assert "plain-secret-value" not in "\n".join(config.describe())


def test_only_loopback_hosts_are_accepted() -> None:
    for host in ("0.0.0.0", "192.168.1.2", "example.org"):
        with pytest.raises(ConfigError, match="loopback"):
            ApiServerConfig(host=host)
    with pytest.raises(ConfigError, match="fail_status"):
        ApiServerConfig(fail_status=418)


def test_an_unknown_quirk_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown payload quirk no-such-quirk: expected one of"):
        ApiServerConfig(quirks=frozenset({"no-such-quirk"}))


def test_endpoint_rate_limits_and_list_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown endpoint /2/tweets: expected one of"):
        ApiServerConfig(endpoint_rate_limits={"/2/tweets": 5})
    with pytest.raises(ConfigError, match="endpoint rate limits must be >= 1"):
        ApiServerConfig(endpoint_rate_limits={ENDPOINT_LIST: 0})
    with pytest.raises(ConfigError, match="list_extra_handles holds 1 invalid handle"):
        ApiServerConfig(list_extra_handles=("fine", "not-a-handle"))
    with pytest.raises(ConfigError, match="list_universe and list_count must be >= 0"):
        ApiServerConfig(list_count=-1)
    config = ApiServerConfig(rate_limit=10, endpoint_rate_limits={ENDPOINT_LIST: 75})
    assert config.rate_limit_of(ENDPOINT_LIST) == 75
    assert config.rate_limit_of(ENDPOINT_USERS_BY) == 10
    assert ApiServerConfig().rate_limit_of(ENDPOINT_LIST) is None
    described = "\n".join(config.describe())
    assert "rate limit of /2/lists/:id: 75 requests per 900 s window (enforced)" in described
    assert "Lists: 300 synthetic Lists over 20000 synthetic accounts" in described
