"""Where Sentinel-2 scenes come from: a STAC API (EarthSearch, Planetary Computer, any URL) or a
stac-geoparquet archive searched in-process. :func:`open_source` turns a ``--stac-host`` value into
a :class:`~.base.SceneSource`; every source returns normalised :class:`~ftw_assets.core.scenes.Scene`s.
"""

from __future__ import annotations

import os
from pathlib import Path

from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.sources.base import SceneQuery, SceneSource, SearchResult
from ftw_assets.core.scenes.sources.geoparquet import GeoparquetSource
from ftw_assets.core.scenes.sources.stac_api import StacApiSource

EARTHSEARCH_URL = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
DEFAULT_COLLECTION = {"earthsearch": "sentinel-2-c1-l2a", "planetary-computer": "sentinel-2-l2a"}
EARTHSEARCH_COLLECTIONS = ("sentinel-2-c1-l2a", "sentinel-2-l2a")
STAC_HOST_HELP = (
    "'earthsearch' (default), 'planetary-computer', 'local' (the generated archive), an http(s):// STAC API "
    "URL (with --collection), or a path or URL to a stac-geoparquet file"
)

__all__ = [
    "SceneQuery", "SceneSource", "SearchResult", "GeoparquetSource", "StacApiSource", "open_source",
    "local_archive_dir", "STAC_HOST_HELP",
]


def local_archive_dir() -> Path:
    """Where the generated archive lives: ``$FTW_ARCHIVE_DIR``, else ``data/archive`` under the cwd."""
    return Path(os.environ.get("FTW_ARCHIVE_DIR") or Path.cwd() / "data" / "archive")


def open_source(stac_host: str = "earthsearch", collection: str | None = None,
                policy: RetryPolicy = RetryPolicy()) -> SceneSource:
    host = (stac_host or "earthsearch").strip()
    if host == "earthsearch":
        coll = collection or DEFAULT_COLLECTION["earthsearch"]
        if coll not in EARTHSEARCH_COLLECTIONS:
            raise InputError(f"EarthSearch has no Sentinel-2 L2A collection {coll!r}; use one of {', '.join(EARTHSEARCH_COLLECTIONS)}")
        provider = "earthsearch" if coll == "sentinel-2-c1-l2a" else "earthsearch-legacy"
        return StacApiSource(EARTHSEARCH_URL, coll, provider, policy)
    if host == "planetary-computer":
        return StacApiSource(PLANETARY_COMPUTER_URL, collection or DEFAULT_COLLECTION["planetary-computer"],
                             "planetary-computer", policy, sign=_planetary_computer_signer())
    if host == "local":
        from ftw_assets.demo.archive import COLLECTION, build_archive

        return GeoparquetSource(build_archive(local_archive_dir()), collection or COLLECTION, policy=policy)
    if host.split("?")[0].endswith(".parquet") or (not host.startswith(("http://", "https://")) and Path(host).exists()):
        return GeoparquetSource(_parquet_path(host), collection, policy=policy)
    if host.startswith(("http://", "https://")):
        if not collection:
            raise InputError(f"--stac-host {host} is a STAC API URL: also give --collection (e.g. sentinel-2-l2a)")
        return StacApiSource(host.rstrip("/"), collection, "stac-api", policy)
    raise InputError(f"--stac-host {host!r} is not a source this tool knows; use {STAC_HOST_HELP}")


def _parquet_path(host: str) -> str:
    if host.startswith(("http://", "https://")):
        return host
    path = Path(host)
    if path.is_dir():
        found = sorted(path.glob("*.parquet"))
        if len(found) != 1:
            raise InputError(f"{path} holds {len(found)} .parquet files; point --stac-host at one stac-geoparquet file")
        return str(found[0])
    return str(path)


def _planetary_computer_signer():
    import planetary_computer

    return planetary_computer.sign
