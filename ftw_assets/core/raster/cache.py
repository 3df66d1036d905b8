"""The size of GDAL's block cache per process (no raster imports: ``ftwd`` checks it before any command)."""

from __future__ import annotations

import os
import re

from ftw_assets.core.errors import InputError

# Bytes of decoded blocks GDAL keeps per process: a batch's chips, and the next batch's, share the blocks of
# a row of COG blocks (make bench: 256 MB fetches each block once, 192 MB 1.08x, 128 MB 1.62x the bytes).
# GDAL_CACHEMAX in the environment, as GDAL reads it ("512", "512MB", "10%"), sets another size.
BLOCK_CACHE_BYTES = 256 * 1024 * 1024


def block_cache_size() -> int:
    """The block cache in bytes: ``GDAL_CACHEMAX`` from the environment, read as GDAL reads it (a number
    below 100000 is megabytes, a larger one bytes; ``NMB``; ``N%`` of the physical memory), else
    :data:`BLOCK_CACHE_BYTES`. rasterio passes the setting to GDAL as a number of bytes only, so a
    value is turned into bytes here, and one GDAL would not read is refused with its reason."""
    value = os.environ.get("GDAL_CACHEMAX", "").strip()
    if not value:
        return BLOCK_CACHE_BYTES
    match = re.fullmatch(r"(\d+)\s*(MB|%)?", value, flags=re.IGNORECASE)
    if match is None or (match.group(2) == "%" and not 0 < int(match.group(1)) <= 100):
        raise InputError(f"GDAL_CACHEMAX={value!r} in the environment is not a cache size GDAL reads: give "
                         "megabytes (512), bytes (536870912), 512MB or a share of the memory (10%), or unset it "
                         f"for the default {BLOCK_CACHE_BYTES >> 20} MB")
    number, unit = int(match.group(1)), (match.group(2) or "").upper()
    if unit == "%":
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * number // 100
    return number * 1024 * 1024 if unit == "MB" or number < 100_000 else number
