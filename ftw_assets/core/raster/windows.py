"""Reading a chip's window out of a (remote) COG, with one set of GDAL settings and retries.

Every raster read in the project goes through :func:`gdal_env`, so the HTTP behaviour (no directory
listing on open, merged range requests, timeouts, GDAL's own retries on 429/5xx) is set once.
GDAL does not retry a reset connection or a truncated body, so :func:`read_window` adds a retry
with backoff around the whole read and reports the host, the URL and GDAL's own reason once the
budget is spent.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import from_bounds

from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import ChipGrid


# Retries made in this process, by kind ("search", "read"): ftwd reports them after its runs.
RETRIES: Counter = Counter()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: attempts in all, first backoff (doubling), per-request timeout."""

    attempts: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 30.0
    max_backoff_s: float = 8.0

    def delays(self) -> Iterator[float]:
        delay = self.backoff_s
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_backoff_s)
            delay *= 2


def gdal_options(policy: RetryPolicy = RetryPolicy()) -> dict[str, str | int]:
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # a COG is one file; never list its folder
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIRANGE": "SINGLE_GET",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",  # the header and tile index in one request
        "GDAL_HTTP_MAX_RETRY": str(max(policy.attempts - 1, 0)),  # 429 and 5xx, with Retry-After
        "GDAL_HTTP_RETRY_DELAY": str(policy.backoff_s),
        "GDAL_HTTP_TIMEOUT": str(int(max(policy.timeout_s, 1))),
        "GDAL_HTTP_CONNECTTIMEOUT": str(int(max(min(policy.timeout_s, 10), 1))),
        "GDAL_HTTP_LOW_SPEED_TIME": str(int(max(policy.timeout_s, 1))),
        "GDAL_HTTP_LOW_SPEED_LIMIT": "1",
        "GDAL_CACHEMAX": 256 * 1024 * 1024,  # bytes of decoded blocks: neighbouring chips of a batch share them
        "VSI_CACHE": "TRUE",
        "VSI_CACHE_SIZE": str(4 * 1024 * 1024),  # per open file: datasets stay open, so keep it small
        "AWS_NO_SIGN_REQUEST": "YES",
    }


@contextlib.contextmanager
def gdal_env(policy: RetryPolicy = RetryPolicy()) -> Iterator[None]:
    with rasterio.Env(**gdal_options(policy)):
        yield


class WindowReadError(FtwError):
    """A window could not be read within the retry budget."""


def redact(url: str) -> str:
    """A URL without its query string (signed tokens) for messages and saved hrefs."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.query:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return url


def gdal_path(href: str) -> str:
    """The path GDAL opens for an href (``s3://`` through ``/vsis3/``, http(s) through ``/vsicurl/``)."""
    if href.startswith("s3://"):
        return "/vsis3/" + href[5:]
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    return href


def read_window(
    href: str,
    grid: ChipGrid,
    resampling: Resampling = Resampling.nearest,
    policy: RetryPolicy = RetryPolicy(),
) -> np.ndarray:
    """The first band of ``href`` on ``grid``: a plain window read when the file's pixels are the
    grid's pixels (same CRS, resolution and alignment), else warped onto the grid with ``resampling``.
    Pixels outside the file are the file's nodata (0 when it has none)."""
    return read_windows(href, {0: grid}, resampling, policy)[0]


def read_windows(
    href: str,
    grids: dict,
    resampling: Resampling = Resampling.nearest,
    policy: RetryPolicy = RetryPolicy(),
) -> dict:
    """Many chips' windows of one file from one open (header read once, shared blocks fetched and
    decoded once through GDAL's block cache); on a failure the file is reopened and only the missing
    windows are read again. The open dataset is kept for later calls (:data:`HANDLES`), so a block a
    chip of the next run also needs is not fetched again."""
    out: dict = {}
    delays = list(policy.delays())
    last: Exception | None = None
    for attempt in range(len(delays) + 1):
        try:
            with gdal_env(policy):
                src = HANDLES.take(href) or rasterio.open(gdal_path(href))
                try:
                    for key, grid in grids.items():
                        if key not in out:
                            out[key] = _read(src, grid, resampling)
                except BaseException:
                    src.close()
                    raise
                HANDLES.give(href, src)
            return out
        except RasterioIOError as exc:
            last = exc
            forget(href)  # GDAL remembers a failed open or a bad range: make the next attempt fetch again
            if attempt < len(delays):
                RETRIES["read"] += 1
                time.sleep(delays[attempt])
    host = urlsplit(href).netloc
    check = f"that {host} is reachable and serves the whole file" if host else "that the file is complete"
    raise WindowReadError(
        f"reading {len(grids) - len(out)} chip window(s) of {redact(href)} from {host or 'local file'} failed after "
        f"{policy.attempts} attempts: {read_error_reason(last)}. Check {check}, then rerun: only the missing "
        "chips are done again."
    )


class OpenDatasets:
    """Recently used source datasets, kept open so their decoded blocks stay in GDAL's block cache
    (bounded by GDAL_CACHEMAX) from one batch of chips to the next. A caller takes a dataset out while
    it reads (a dataset is not shared between threads) and gives it back after."""

    def __init__(self, size: int = 64):
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[str, object] = OrderedDict()

    def take(self, href: str):
        with self.lock:
            return self.items.pop(href, None)

    def give(self, href: str, dataset) -> None:
        with self.lock:
            extra = self.items.pop(href, None)
            self.items[href] = dataset
            while len(self.items) > self.size:
                self.items.popitem(last=False)[1].close()
        if extra is not None:
            extra.close()

    def clear(self) -> None:
        with self.lock:
            for dataset in self.items.values():
                dataset.close()
            self.items.clear()


HANDLES = OpenDatasets()


@functools.lru_cache(maxsize=1)
def _gdal_library():
    """The GDAL library rasterio loaded (its wheel bundles one), for the cache call rasterio lacks."""
    import ctypes
    import glob
    import os

    libs = os.path.join(os.path.dirname(os.path.dirname(rasterio.__file__)), "rasterio.libs")
    candidates = sorted(glob.glob(os.path.join(libs, "libgdal*.so*"))) or ["libgdal.so"]
    try:
        lib = ctypes.CDLL(candidates[0])
        lib.VSICurlPartialClearCache.argtypes = [ctypes.c_char_p]
        return lib
    except (OSError, AttributeError):
        return None


def forget(href: str) -> None:
    """Drop what GDAL's /vsicurl/ cache holds for ``href`` (failed opens are otherwise re-reported)."""
    dataset = HANDLES.take(href)
    if dataset is not None:
        dataset.close()
    path = gdal_path(href)
    lib = _gdal_library()
    if lib is not None and path.startswith("/vsi"):
        lib.VSICurlPartialClearCache(path.encode())


def same_pixels(src, grid: ChipGrid) -> bool:
    t = src.transform
    if src.crs is None or src.crs.to_epsg() != grid.epsg or abs(t.a - grid.res) > 1e-9 or abs(t.e + grid.res) > 1e-9:
        return False
    col_off = (grid.x_min - t.c) / grid.res
    row_off = (t.f - grid.y_max) / grid.res
    return abs(col_off - round(col_off)) < 1e-6 and abs(row_off - round(row_off)) < 1e-6


def _read(src, grid: ChipGrid, resampling: Resampling) -> np.ndarray:
    nodata = src.nodata if src.nodata is not None else 0
    if same_pixels(src, grid):
        window = from_bounds(*grid.bounds, transform=src.transform).round_offsets().round_lengths()
        inside = (window.col_off >= 0 and window.row_off >= 0 and window.col_off + window.width <= src.width
                  and window.row_off + window.height <= src.height)
        if inside:  # the normal case: a plain read through this handle and its block cache
            return src.read(1, window=window)
        return src.read(1, window=window, boundless=True, fill_value=nodata)
    with WarpedVRT(
        src, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
        resampling=resampling, nodata=nodata, src_nodata=nodata,
    ) as vrt:
        return vrt.read(1)


def read_error_reason(exc: BaseException | None) -> str:
    """The cause of a failed read in GDAL's words, one line. rasterio raises "Read failed. See previous
    exception for details." from the GDAL errors it collected (each raised from the one before); the
    innermost says what happened, e.g. libtiff's "TIFFFillTile:Read error at row 0, col 0, tile 1; got
    1312953 bytes, expected 1314935" for a truncated file."""
    if exc is None:
        return "unknown error"
    seen = [exc]
    while seen[-1].__cause__ is not None and seen[-1].__cause__ not in seen:
        seen.append(seen[-1].__cause__)
    text = next((line.strip() for line in str(seen[-1]).splitlines() if line.strip()), type(seen[-1]).__name__)
    return _QUERY.sub(r"\1", text)[:300]  # GDAL quotes the URL it read: no signed tokens in reports


_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")
