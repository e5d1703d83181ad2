"""The embedded server's config: checked when made, and never showing its token."""

from __future__ import annotations

import pytest

from influx_etl.apisim import ApiServerConfig
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
