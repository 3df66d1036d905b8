"""Where Sentinel-2 scenes come from: a STAC API (EarthSearch, Planetary Computer, any URL) or a
stac-geoparquet archive searched in-process. :func:`open_source` turns a ``--stac-host`` value into
a :class:`~.base.SceneSource`; every source returns normalised :class:`~ftw_assets.core.scenes.Scene`s.

``local`` names the generated archive (:mod:`ftw_assets.demo.archive`) in one per-user folder
(:func:`local_archive_dir`); :func:`resolve_stac_host` turns the word into that archive's
stac-geoparquet path, so a dataset records where its scenes are, not a word whose meaning could move.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.sources.base import SceneQuery, SceneSource, SearchResult
from ftw_assets.core.scenes.sources.geoparquet import GeoparquetSource
from ftw_assets.core.scenes.sources.stac_api import StacApiSource

EARTHSEARCH_URL = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
DEFAULT_COLLECTION = {"earthsearch": "sentinel-2-c1-l2a", "planetary-computer": "sentinel-2-l2a"}
EARTHSEARCH_COLLECTIONS = ("sentinel-2-c1-l2a", "sentinel-2-l2a")
NAMED_HOSTS = ("earthsearch", "planetary-computer")
STAC_HOST_HELP = (
    "'earthsearch' (default), 'planetary-computer', 'local' (the generated archive in $FTW_ARCHIVE_DIR or "
    "~/.cache/ftw-tools/archive, made on first use; stored as its path), an http(s):// STAC API "
    "URL (with --collection), or a path or URL to a stac-geoparquet file"
)

__all__ = [
    "SceneQuery", "SceneSource", "SearchResult", "GeoparquetSource", "StacApiSource", "open_source",
    "local_archive_dir", "local_archive_parquet", "ensure_local_archive", "resolve_stac_host", "STAC_HOST_HELP",
]

log = logging.getLogger(__name__)
Announce = Callable[[str], None]


def local_archive_dir() -> Path:
    """Where the generated archive (``--stac-host local``) lives, the same from any working directory:
    ``$FTW_ARCHIVE_DIR``, else ``archive`` in the per-user cache folder the crop calendar also uses
    (``$FTW_CACHE_DIR``, else ``~/.cache/ftw-tools``)."""
    from ftw_assets.core.scenes.calendar import cache_root

    base = os.environ.get("FTW_ARCHIVE_DIR")
    return Path(base).expanduser().resolve() if base else cache_root() / "archive"


def local_archive_parquet() -> Path:
    """The stac-geoparquet file of the archive in :func:`local_archive_dir` (it may not exist yet)."""
    from ftw_assets.demo.archive import COLLECTION

    return local_archive_dir() / f"{COLLECTION}.parquet"


def ensure_local_archive(announce: Announce | None = None) -> Path:
    """The local archive's stac-geoparquet path, generating the archive first when it is missing or
    from another generator version. ``announce`` (default: a log warning) is told before a generation
    starts: where, about how many MB, and which area and dates it covers."""
    from ftw_assets.demo.archive import ensure_archive

    return ensure_archive(local_archive_dir(), announce=announce or log.warning)


def resolve_stac_host(value: str | None, announce: Announce | None = None) -> str:
    """A ``--stac-host`` value as a dataset stores it: ``local`` becomes the local archive's
    stac-geoparquet path (generated first when missing, see :func:`ensure_local_archive`), a file path
    becomes absolute; source names and URLs stay as given."""
    host = (value or "earthsearch").strip()
    if host == "local":
        return str(ensure_local_archive(announce))
    if "://" in host or host in NAMED_HOSTS:
        return host
    return str(Path(host).expanduser().resolve())


def open_source(stac_host: str = "earthsearch", collection: str | None = None,
                policy: RetryPolicy = RetryPolicy(), announce: Announce | None = None) -> SceneSource:
    """The source a ``--stac-host`` value names. ``local``, or the local archive's path when the
    archive is gone, generates the archive (telling ``announce``, default a log warning)."""
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
    if host == "local" or (not Path(host).exists() and _is_local_archive(host)):
        from ftw_assets.demo.archive import COLLECTION

        return GeoparquetSource(ensure_local_archive(announce), collection or COLLECTION, policy=policy)
    if host.split("?")[0].endswith(".parquet") or (not host.startswith(("http://", "https://")) and Path(host).exists()):
        return GeoparquetSource(_parquet_path(host), collection, policy=policy)
    if host.startswith(("http://", "https://")):
        if not collection:
            raise InputError(f"--stac-host {host} is a STAC API URL: also give --collection (e.g. sentinel-2-l2a)")
        return StacApiSource(host.rstrip("/"), collection, "stac-api", policy)
    raise InputError(f"--stac-host {host!r} is not a source this tool knows; use {STAC_HOST_HELP}")


def _is_local_archive(host: str) -> bool:
    """``host`` is the path ``local`` resolves to (a dataset recorded it; the cache was cleared since)."""
    return "://" not in host and Path(host).expanduser().resolve() == local_archive_parquet()


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
