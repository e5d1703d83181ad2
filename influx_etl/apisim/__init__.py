"""The embedded X API server (API v2 user lookup on 127.0.0.1) and its synthetic population."""

from influx_etl.apisim.accounting import ServerStats
from influx_etl.apisim.answers import UserLookup
from influx_etl.apisim.contract import (
    DEFAULT_TWEET_FIELDS,
    DEFAULT_USER_FIELDS,
    ENDPOINT_OTHER,
    ENDPOINT_USER_BY_USERNAME,
    ENDPOINT_USERS_BY,
    MAX_USERNAMES,
    USER_FIELDS,
)
from influx_etl.apisim.faults import QUIRKS, STRAY_USER, UNASKED_HANDLE
from influx_etl.apisim.population import Population, load_population, population_from_users
from influx_etl.apisim.server import RunningServer, start_server
from influx_etl.apisim.server_config import UNENFORCED_RATE_LIMIT, ApiServerConfig
from influx_etl.apisim.synthetic import (
    HANDLE_PATTERN,
    ORIGIN_FIELD,
    ORIGIN_RECORDED,
    ORIGIN_SYNTHETIC,
    HandleStatus,
    handle_status,
    iter_synthetic_handles,
    pinned_tweet,
    synthetic_handles,
    synthetic_profiles,
    synthetic_user,
)

__all__ = [
    "DEFAULT_TWEET_FIELDS",
    "DEFAULT_USER_FIELDS",
    "ENDPOINT_OTHER",
    "ENDPOINT_USERS_BY",
    "ENDPOINT_USER_BY_USERNAME",
    "HANDLE_PATTERN",
    "MAX_USERNAMES",
    "ORIGIN_FIELD",
    "ORIGIN_RECORDED",
    "ORIGIN_SYNTHETIC",
    "QUIRKS",
    "STRAY_USER",
    "UNASKED_HANDLE",
    "UNENFORCED_RATE_LIMIT",
    "USER_FIELDS",
    "ApiServerConfig",
    "HandleStatus",
    "Population",
    "RunningServer",
    "ServerStats",
    "UserLookup",
    "handle_status",
    "iter_synthetic_handles",
    "load_population",
    "pinned_tweet",
    "population_from_users",
    "start_server",
    "synthetic_handles",
    "synthetic_profiles",
    "synthetic_user",
]
