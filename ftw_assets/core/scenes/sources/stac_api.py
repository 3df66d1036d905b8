"""A STAC API through pystac-client, hardened: a timeout on every request, urllib3 retries with backoff
on 429/5xx/timeouts for GET and POST alike (``allowed_methods=None``) honouring ``Retry-After``, and
one more retry layer around the whole search for what urllib3 cannot retry (a body cut short, a
connection reset while reading). The cloud filter goes out as CQL2 ``filter`` where the server
conforms to it, else as the ``query`` extension.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import requests
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from ftw_assets.core.errors import FtwError
from ftw_assets.core.raster.windows import RETRIES, RetryPolicy, redact
from ftw_assets.core.scenes.sources.base import SceneQuery, SceneSource

RETRY_STATUSES = (429, 500, 502, 503, 504)


class StacApiError(FtwError):
    """A STAC API search failed within the retry budget."""


class StacApiSource(SceneSource):
    def __init__(self, url: str, collection: str, provider: str, policy: RetryPolicy = RetryPolicy(),
                 sign: Callable[[str], str] | None = None):
        super().__init__(url, collection, policy)
        self.url, self.provider, self._sign = url, provider, sign
        self._client: Client | None = None

    def item_href(self, scene) -> str:
        return f"{self.url}/collections/{self.collection}/items/{scene.id}"

    def href_for_read(self, href: str) -> str:
        return self._sign(href) if self._sign else href

    def _items(self, query: SceneQuery) -> Iterable[dict[str, Any]]:
        delays = list(self.policy.delays())
        for attempt in range(len(delays) + 1):
            try:
                return list(self._search_once(query))
            except (requests.RequestException, APIError, ValueError) as exc:
                if attempt == len(delays) or not _retryable(exc):
                    raise self._error(query, exc, attempt + 1) from exc
                self.retries += 1
                RETRIES["search"] += 1
                self._client = None
                time.sleep(delays[attempt])
        raise AssertionError("unreachable")

    def _search_once(self, query: SceneQuery) -> Iterable[dict[str, Any]]:
        client = self._open()
        params: dict[str, Any] = dict(
            collections=[self.collection], datetime=query.datetime_interval(), limit=query.page_size, method="POST",
        )
        if query.intersects is not None:
            params["intersects"] = query.intersects.__geo_interface__
        else:
            params["bbox"] = list(query.bbox)
        if query.max_cloud_cover is not None:
            if client.conforms_to(ConformanceClasses.FILTER):
                params["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, query.max_cloud_cover]}
                params["filter_lang"] = "cql2-json"
            else:
                params["query"] = {"eo:cloud_cover": {"lte": query.max_cloud_cover}}
        search = client.search(**params)
        for page in search.pages_as_dicts():
            self.requests += 1
            yield from page.get("features", [])

    def _open(self) -> Client:
        if self._client is None:
            stac_io = StacApiIO(timeout=self.policy.timeout_s, max_retries=self._retry())
            self.requests += 1
            # Client.open re-applies its own timeout to the StacApiIO, so it is given here too.
            self._client = Client.open(self.url, stac_io=stac_io, timeout=self.policy.timeout_s)
        return self._client

    def _retry(self) -> Retry:
        source = self

        class CountingRetry(Retry):
            def increment(self, *args, **kwargs):  # every retry urllib3 makes is counted for the report
                source.retries += 1
                RETRIES["search"] += 1
                return super().increment(*args, **kwargs)

        return CountingRetry(
            total=self.policy.attempts - 1, backoff_factor=self.policy.backoff_s, backoff_max=self.policy.max_backoff_s,
            status_forcelist=RETRY_STATUSES, allowed_methods=None, respect_retry_after_header=True,
            raise_on_status=False,
        )

    def _error(self, query: SceneQuery, exc: Exception, attempts: int) -> StacApiError:
        host = urlsplit(self.url).netloc
        where = f"bbox {query.bbox}" if query.intersects is None else "the chip area"
        return StacApiError(
            f"STAC search at {host} failed after {attempts} attempt(s) of POST {redact(self.url)}/search "
            f"(collection {self.collection}, {where}, {query.datetime_interval()}): {_short(exc)}. "
            f"Try again later, or check --stac-host / --collection; nothing was written for this search."
        )


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, APIError):
        status = getattr(exc, "status_code", None)
        return status is None or status in RETRY_STATUSES
    return True  # connection errors, timeouts, truncated or undecodable bodies


def _short(exc: Exception) -> str:
    return redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:300]
