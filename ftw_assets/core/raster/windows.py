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
import math
import os
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
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from ftw_assets.core.errors import FtwError
from ftw_assets.core.raster.cache import block_cache_size
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
        "GDAL_HTTP_MULTIRANGE": "SINGLE_GET",  # one exact GET per byte range; _prefetch uses PARALLEL for several
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",  # the header and tile index in one request
        "GDAL_HTTP_MAX_RETRY": str(max(policy.attempts - 1, 0)),  # 429 and 5xx, with Retry-After
        "GDAL_HTTP_RETRY_DELAY": str(policy.backoff_s),
        "GDAL_HTTP_TIMEOUT": str(int(max(policy.timeout_s, 1))),
        "GDAL_HTTP_CONNECTTIMEOUT": str(int(max(min(policy.timeout_s, 10), 1))),
        "GDAL_HTTP_LOW_SPEED_TIME": str(int(max(policy.timeout_s, 1))),
        "GDAL_HTTP_LOW_SPEED_LIMIT": "1",
        "GDAL_CACHEMAX": block_cache_size(),
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
    decoded once through GDAL's block cache); from a remote file, the blocks of each part of the
    windows (up to :data:`PREFETCH_BYTES` decoded) are fetched first, together, in concurrent range
    requests, so a far host costs a round trip per part, not per window. On a failure the file is
    reopened and only the missing windows are read again. The open dataset is kept for later calls
    (:data:`HANDLES`), so a block a chip of the next run also needs is not fetched again."""
    out: dict = {}
    delays = list(policy.delays())
    last: Exception | None = None
    for attempt in range(len(delays) + 1):
        try:
            with gdal_env(policy):
                src = HANDLES.take(href) or _open(href)
                try:
                    todo = {key: grid for key, grid in grids.items() if key not in out}
                    for part in _prefetched_parts(src, todo) if _is_remote(href) else [list(todo)]:
                        for key in part:
                            out[key] = _read(src, todo[key], resampling)
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


def _open(href: str):
    """A remote file is opened without its overviews: the subsampled reads of :func:`_prefetch` must
    land in the full-resolution blocks, and chips are only cut from full-resolution pixels (a window
    read, or a warp onto the chip grid at about the source resolution), so no read is changed."""
    if _is_remote(href):
        return rasterio.open(gdal_path(href), OVERVIEW_LEVEL="NONE")
    return rasterio.open(gdal_path(href))


def _is_remote(href: str) -> bool:
    return gdal_path(href).startswith("/vsi")


# Decoded bytes of the blocks one prefetch read takes in: their compressed bytes (no more) stay under
# GDAL_MAX_RAW_BLOCK_CACHE_SIZE (10 MB), the most GDAL fetches in one round of range requests (past
# it GDAL reads block by block with read-ahead, which fetches bytes no chip needs), and the decoded
# blocks are cut into chips before the next part can push them out of GDAL's block cache.
PREFETCH_BYTES = 8 * 1024 * 1024


def _prefetched_parts(src, grids: dict) -> Iterator[list]:
    """The keys of ``grids`` in order, in parts; the blocks a part's windows need and this dataset has
    not fetched yet are fetched before the part is yielded, in one read (:func:`_prefetch`). Chip by
    chip, each window's new blocks were a request of their own, made once the chip before was cut:
    on a host 50 ms away, one round trip after the other for every window that starts a block."""
    fetched = getattr(src, "_ftw_fetched_blocks", None)
    if fetched is None:  # blocks evicted from GDAL's cache since are read again by the chip that needs them
        fetched = src._ftw_fetched_blocks = set()
    block_bytes = src.block_shapes[0][0] * src.block_shapes[0][1] * np.dtype(src.dtypes[0]).itemsize
    part: list = []
    fresh: set = set()
    for key, grid in grids.items():
        need = _blocks(src, grid) - fetched
        if part and len(fresh | need) * block_bytes > PREFETCH_BYTES:
            _prefetch(src, fresh)
            yield part
            part, fresh = [], set()
        part.append(key)
        fresh |= need
        fetched |= need
    if part:
        _prefetch(src, fresh)
        yield part


def _blocks(src, grid: ChipGrid) -> set[tuple[int, int]]:
    """The (row, col) of the blocks holding the source pixels under ``grid``: the window's for a plain
    read; for a warped one, those of its bounds in the source CRS less a pixel on every side, so no
    block is fetched that the warper does not read (blocks of its margin it reads as it goes)."""
    if same_pixels(src, grid):
        window, margin = from_bounds(*grid.bounds, transform=src.transform).round_offsets().round_lengths(), 0.0
    elif src.crs is None:
        return set()
    else:
        try:
            bounds = grid.bounds if src.crs.to_epsg() == grid.epsg else \
                transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
        except Exception:  # noqa: BLE001 - bounds that do not transform: nothing prefetched, the warp reads as before
            return set()
        window, margin = from_bounds(*bounds, transform=src.transform), 1.0
    row0 = max(window.row_off + margin, 0.0)
    col0 = max(window.col_off + margin, 0.0)
    row1 = min(window.row_off + window.height - margin, src.height)
    col1 = min(window.col_off + window.width - margin, src.width)
    if row1 <= row0 or col1 <= col0:
        return set()
    bh, bw = src.block_shapes[0]
    rows = range(int(row0 // bh), int(math.ceil(row1 / bh)))
    cols = range(int(col0 // bw), int(math.ceil(col1 / bw)))
    return {(r, c) for r in rows for c in cols}


def _rectangles(blocks: set[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """``blocks`` as few (row0, col0, row1, col1) rectangles (last row and column included): the runs
    of neighbouring blocks in each row, a run stacked onto the same run in the row above."""
    growing: dict[tuple[int, int], list[int]] = {}
    out = []
    for row in sorted({r for r, _ in blocks}):
        cols = sorted(c for r, c in blocks if r == row)
        runs, start = [], cols[0]
        for prev, col in zip(cols, cols[1:] + [None]):
            if col != prev + 1:
                runs.append((start, prev))
                start = col
        still = {}
        for run in runs:
            rect = growing.pop(run, None)
            if rect is not None and rect[2] == row - 1:
                rect[2] = row
            else:
                rect = [row, run[0], row, run[1]]
            still[run] = rect
        out.extend(growing.values())
        growing = still
    out.extend(growing.values())
    return sorted(tuple(r) for r in out)


def _prefetch(src, blocks: set[tuple[int, int]]) -> None:
    """Fetch and decode ``blocks`` into GDAL's block cache, one read per rectangle of them. GDAL asks
    for all the blocks of one read at once, skipping those its cache holds; the read is subsampled
    (nearest neighbour, a pixel every eighth of a block), so it lands in every block and returns a
    few hundred pixels, not the blocks' pixels."""
    if not blocks:
        return
    bh, bw = src.block_shapes[0]
    step = max(min(bh, bw) // 8, 1)
    for row0, col0, row1, col1 in _rectangles(blocks):
        y0, x0 = row0 * bh, col0 * bw
        height, width = min((row1 + 1) * bh, src.height) - y0, min((col1 + 1) * bw, src.width) - x0
        # One byte range (a row of blocks, or whole rows): one GET of exactly that range. Several: a GET
        # each, all in flight at once. (SINGLE_GET would ask for them in one multipart request, which S3
        # and many servers do not answer as GDAL expects; GDAL then falls back to reading ahead, 3x the
        # bytes. PARALLEL reads a single range through its read-ahead, which can fetch too much.)
        several = _byte_ranges(src, row0, col0, row1, col1) > 1
        with rasterio.Env(GDAL_HTTP_MULTIRANGE="PARALLEL" if several else "SINGLE_GET"):
            src.read(1, window=Window(x0, y0, width, height), resampling=Resampling.nearest,
                     out_shape=(math.ceil(height / step), math.ceil(width / step)))


def _byte_ranges(src, row0: int, col0: int, row1: int, col1: int) -> int:
    """How many separate byte ranges hold these blocks (in a COG, blocks lie row after row with a few
    bytes of leader and trailer between them, which GDAL reads along)."""
    spans = []
    for row in range(row0, row1 + 1):
        for col in range(col0, col1 + 1):
            offset = int(src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1) or 0)
            if offset:
                spans.append((offset, offset + src.block_size(1, row, col)))
    spans.sort()
    return sum(1 for prev, span in zip([None] + spans, spans) if prev is None or span[0] - prev[1] > 16)


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
