"""The HTTP source: the X API (or any server speaking its contract) through :class:`XClient`.

``LookupSettings.endpoint`` chooses its endpoint: ``bulk`` (``/2/users/by``) or ``per-user``
(``/2/users/by/username/{u}``, one request per handle, paced on its own budget). Each batch goes
through the retry / split engine (:class:`~influx_etl.sources.fetch.BatchFetcher`).

``LookupSettings.backend`` chooses where its workers run: threads of this process
(``threading``), worker processes (``loky``) or a Dask cluster (``dask``); the last two are a
:class:`~influx_etl.sources.base.WorkerLookupSource` from :mod:`influx_etl.sources.workers`, which
makes an :class:`HttpSource` in each worker with :func:`new_http_source`, paced by one budget
for all workers.
"""

from __future__ import annotations

from collections.abc import Sequence

from influx_etl.config import LOOKUP_ENDPOINTS, LookupSettings
from influx_etl.errors import ConfigError
from influx_etl.sources.base import DatasetKind, RawBatch
from influx_etl.sources.fetch import BatchFetcher, RetryPolicy
from influx_etl.sources.pacing import EndpointBudgets
from influx_etl.sources.xclient import ApiResponse, XClient


class HttpSource:
    """The X API (or any server speaking its contract) through :class:`XClient`.

    See :mod:`influx_etl.sources.fetch` for retries, 429s, 400 bisection and re-asks. A batch
    that still fails becomes a ``RawBatch`` with ``error`` set (its unanswered handles end as
    ``failed``), so one bad batch never stops the run. 401/403
    (:class:`~influx_etl.errors.AuthError`) do stop it.
    """

    def __init__(
        self,
        client: XClient,
        *,
        name: str,
        kind: DatasetKind,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_time_s: float = 300.0,
        policy: RetryPolicy | None = None,
        endpoint: str = "bulk",
    ) -> None:
        if endpoint not in LOOKUP_ENDPOINTS:
            raise ConfigError(
                f"unknown lookup endpoint {endpoint!r}: expected one of "
                f"{', '.join(LOOKUP_ENDPOINTS)}"
            )
        self.client = client
        self.name = name
        self.kind = kind
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy(
            max_attempts=max_attempts,
            max_retry_time_s=max_retry_time_s,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
        self._fetcher = BatchFetcher(
            self._request,
            self.policy,
            paced=client.pacing is not None,
            handles_per_request=1 if endpoint == "per-user" else None,
        )

    def __repr__(self) -> str:
        return (
            f"HttpSource(name={self.name!r}, kind={self.kind!r}, endpoint={self.endpoint!r}, "
            f"client={self.client!r})"
        )

    def _request(self, handles: Sequence[str], batch_id: int) -> ApiResponse:
        if self.endpoint == "per-user":
            (handle,) = handles  # the fetcher sends one handle per request on this endpoint
            return self.client.user_by_username(handle, batch_id=batch_id)
        return self.client.users_by_usernames(handles, batch_id=batch_id)

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        return self._fetcher.fetch(batch_id, handles)


def new_http_source(
    settings: LookupSettings,
    base_url: str,
    name: str,
    kind: DatasetKind,
    pacing: EndpointBudgets | None,
) -> HttpSource:
    """An :class:`HttpSource` on ``base_url`` made from ``settings``, paced by ``pacing``; the
    caller closes its client. Workers in other processes make theirs the same way."""
    client = XClient(base_url, settings.token, timeout_s=settings.timeout_s, pacing=pacing)
    return HttpSource(
        client,
        name=name,
        kind=kind,
        policy=RetryPolicy.from_settings(settings),
        endpoint=settings.endpoint,
    )
